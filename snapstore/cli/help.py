"""The examples and exit codes ``snapstore --help`` and every command's ``--help`` end with
(spec/cli.md)."""

from __future__ import annotations

EXIT_CODES = """\b
Exit codes: 0 ok; 1 failed (or not confirmed); 2 bad input or usage; 3 snapshot created
but partial; 75 repository locked; 130 interrupted."""

EXAMPLES: dict[str, str] = {
    "init": "snapstore --repo /bulk-store/metis/snapshots init",
    "create": 'snapstore create "Before CF validation phase 4"\n'
    'snapstore create "Production baseline" --permanent\n'
    'snapstore create "Schema migration" --no-bulk',
    "list": "snapstore list\nsnapstore list --verbose\nsnapstore list --json | jq '.[0]'",
    "show": "snapstore show metis_20251007_143022",
    "restore": "snapstore restore metis_20251007_143022\n"
    "snapstore restore metis_20251007_143022 --no-bulk --collection papers\n"
    "snapstore restore metis_20251007_143022 --include runs/3 --yes\n"
    "snapstore restore metis_20251007_143022 --target /tmp/look-at-it  # files only\n"
    "snapstore restore metis_20251007_143022 --dry-run",
    "delete": "snapstore delete metis_20251007_143022\nsnapstore delete NAME --force --yes",
    "check": "snapstore check\nsnapstore check --read-data",
    "unlock": "snapstore unlock\nsnapstore unlock --all --yes",
    "rebuild-index": "snapstore rebuild-index",
    "cleanup": "snapstore cleanup --dry-run\nsnapstore cleanup --dry-run --now 2026-01-01\n"
    "snapstore cleanup --yes",
    "gc": "snapstore gc --dry-run\nsnapstore gc --max-unused 10",
    "archive": "snapstore archive\nsnapstore archive metis_20250601_090000",
    "pin": "snapstore pin metis_20251007_143022",
    "unpin": "snapstore unpin metis_20251007_143022",
    "diff": "snapstore diff metis_20251001_090000 metis_20251007_143022",
    "ls": "snapstore ls NAME runs/ --long",
    "cat": "snapstore cat NAME runs/3/results.csv > results.csv",
    "find": "snapstore find results.csv\nsnapstore find 'runs/*/metrics.json' --json",
    "export": "snapstore export NAME ./out\nsnapstore export NAME --tar snapshot.tar",
    "mount": "snapstore mount /mnt/snapshots",
    "ui": "snapstore ui --port 8765",
}


_TOP = (
    ("snapstore init", "a repository where --repo says"),
    ('snapstore create "Before CF validation phase 4"', "snapshot files and database"),
    ("snapstore list", "snapshots, newest first"),
    ("snapstore restore metis_20251007_143022", "roll back (asks first)"),
    ("snapstore restore NAME --target /tmp/look", "look at the files elsewhere"),
    ("snapstore cleanup --dry-run", "what the retention policy would do"),
    ("snapstore --no-lock ls NAME", "read without taking the lock"),
    ("snapstore COMMAND --help", "a command's options and examples"),
)
_WIDTH = max(len(c) for c, _ in _TOP) + 2
TOP_EXAMPLES = "\b\nExamples:\n" + "\n".join(f"  {c:<{_WIDTH}}{w}" for c, w in _TOP)


GROUP_EPILOG = f"{TOP_EXAMPLES}\n\n{EXIT_CODES}"
"""What ``snapstore --help`` ends with."""


def command_epilog(name: str) -> str:
    """What command ``name``'s ``--help`` ends with: its examples, then the exit codes."""
    examples = EXAMPLES.get(name)
    lines = f"\b\nExamples:\n{examples}\n\n" if examples else ""
    return lines + EXIT_CODES
