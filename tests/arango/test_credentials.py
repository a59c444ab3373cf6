"""Credentials written into --arango-url are used to log in and never printed."""

from __future__ import annotations

import socket
from pathlib import Path

from click.testing import CliRunner, Result

from snapstore.cli.main import cli
from tests.arango.conftest import ArangoDatabase
from tests.helpers import created_name

SECRET = "s3cr3t-Pa55"


def run(env: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def env_for(url: str, arango_db: ArangoDatabase, tmp_path: Path) -> dict[str, str]:
    return {
        "SNAPSTORE_REPO": str(tmp_path / "repo"),
        "SNAPSTORE_ARANGO_URL": url,
        "SNAPSTORE_ARANGO_DB": arango_db.db_name,
        "SNAPSTORE_PROJECT_DIR": str(tmp_path),
    }


def with_userinfo(url: str, user: str, password: str) -> str:
    scheme, rest = url.split("://", 1)
    return f"{scheme}://{user}:{password}@{rest}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_url_credentials_log_in_and_never_appear_in_output(
    arango_db: ArangoDatabase, tmp_path: Path
) -> None:
    arango_db.db().create_collection("c").insert({"_key": "a"})
    env = env_for(
        with_userinfo(arango_db.url, arango_db.user, arango_db.password), arango_db, tmp_path
    )
    created = run(env, "create", "url creds", "--no-bulk")
    assert created.exit_code == 0, created.output
    name = created_name(created.stdout)
    outputs = [created.output]
    for args in (
        ("show", name),
        ("list", "--verbose"),
        ("show", name, "--json"),
        ("list", "--json"),
    ):
        result = run(env, *args)
        assert result.exit_code == 0, result.output
        outputs.append(result.output)
    assert all(arango_db.password not in out for out in outputs)


def test_messages_about_a_url_with_credentials_redact_them(
    arango_db: ArangoDatabase, tmp_path: Path
) -> None:
    unreachable = with_userinfo(f"http://127.0.0.1:{free_port()}", "root", SECRET)
    failed = run(env_for(unreachable, arango_db, tmp_path), "create", "x", "--no-bulk")
    assert failed.exit_code != 0
    assert SECRET not in failed.output and "***@127.0.0.1" in failed.output

    wrong = with_userinfo(arango_db.url, arango_db.user, SECRET)
    refused = run(env_for(wrong, arango_db, tmp_path), "create", "x", "--no-bulk")
    assert refused.exit_code != 0
    assert SECRET not in refused.output and "refused user" in refused.output

    bad_scheme = run(env_for(f"ftp://root:{SECRET}@host", arango_db, tmp_path), "create", "x")
    assert bad_scheme.exit_code != 0 and SECRET not in bad_scheme.output
