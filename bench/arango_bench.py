"""ArangoDB source benchmark: dedup of scattered edits, dump and restore throughput.

    .venv/bin/python -m bench.arango_bench --docs 120000            # test server (subprocess)
    .venv/bin/python -m bench.arango_bench --url http://host:8529    # a real ArangoDB
                                                                      # (SNAPSTORE_ARANGO_PASSWORD)

Loads N arXiv-like documents (title, authors, abstract, categories...; about 1.3 KB each)
into one collection, then:

0. reads them all with a plain python-arango streaming cursor (`FOR d IN @@c RETURN d`,
   batches of 1000): the raw read rate the dump is measured against;
1. snapshot A (the first dump, `create --no-bulk`);
2. updates 1% of the documents, chosen at random across the key space, and takes snapshot B;
3. updates 0.01% more and takes snapshot C; takes D with nothing changed;
4. writes the same documents with plain `insert_many` (batches of 5000) into a fresh
   collection: the raw write rate the restore is measured against;
5. restores A into a fresh database.

It reports the share of A's stored bytes that B, C and D newly stored (pack + index bytes
written, as `create` reports them), the dump's wall time over the raw read's and the
restore's over the raw write's (`ratios`), and dump and restore throughput in documents per second
with the time split between the product and the server: "server" is the wall time spent in
HTTP round trips (what the client waits for), and, for the test server run as a subprocess,
that process's CPU time. `--doc-kind small` uses ~100-byte documents instead, `--doc-kind
large` ~4 KB ones.

The `incremental` phases (``incremental_phases``; spec/database.md, *Incremental dump*) time,
after snapshot A, the raw sorted ``(_key, _rev)`` listing and cursor read, `create --reread`,
a snapshot with nothing changed, and, after 1% scattered updates, 0.1% inserts and 0.1%
removals, an incremental snapshot and a `--reread` one: ratios to `--reread`, the new bytes'
share of A's, whether both trees have the same root, and the peak RSS after each phase
(``--repeat N``: the fastest of N runs of the phases before the changes).

The `merge` phases (``restore_phases``) measure restore by difference (spec/database.md): the
live database is brought back to A, then 1% of its documents are updated at random, 0.1%
inserted and 0.1% removed, and A is restored onto it (only the difference is written), against
a full restore of A into an empty database; both run as the real CLI in a child process
(``restore A --no-bulk --yes --no-safety-snapshot [--target-db]``, bytecode cached as in an
installed snapstore), verification included, each ``--restore-runs`` times (default 3; the
machine is shared, so medians), reporting wall time, the child's and the test server's CPU
time and the child's peak RSS. Beside them: the raw sorted and unsorted ``(_key, _rev)``
listings of the changed collection through python-arango: the merge lists sorted, its
verification unsorted, and together they bound what the merge can cost.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from arango import ArangoClient

from snapstore.base.reporting import Reporter
from snapstore.config.settings import ArangoSettings, Settings
from snapstore.manager import SnapshotManager

REPO_ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "bench-password"
CATEGORIES = ["cs.LG", "cs.AI", "cs.CL", "math.PR", "math.ST", "hep-th", "astro-ph.GA", "q-bio.NC"]


class Documents:
    """Deterministic arXiv-like documents with a Zipf-ish vocabulary (compresses like text)."""

    def __init__(self, kind: str, seed: int = 1) -> None:
        self.kind = kind
        self.rng = random.Random(seed)
        letters = "abcdefghijklmnopqrstuvwxyz"
        self.words = [
            "".join(self.rng.choice(letters) for _ in range(self.rng.randint(2, 11)))
            for _ in range(4000)
        ]
        self.cum_weights = list(
            itertools.accumulate(1.0 / (rank + 10) for rank in range(len(self.words)))
        )

    def text(self, n: int) -> str:
        return " ".join(self.rng.choices(self.words, cum_weights=self.cum_weights, k=n))

    def key(self, i: int) -> str:
        if self.kind == "small":
            return f"p{i:07d}"
        return f"{7 + i // 40000:02d}{1 + (i // 3400) % 12:02d}.{i % 100000:05d}"

    def make(self, i: int) -> dict[str, Any]:
        if self.kind == "large":  # ~4 KB: a long abstract and a body excerpt
            doc = self._arxiv(i)
            doc["abstract"] = self.text(self.rng.randint(420, 640))
            return doc
        return self._arxiv(i)

    def _arxiv(self, i: int) -> dict[str, Any]:
        if self.kind == "small":
            return {
                "_key": self.key(i),
                "title": f"paper {i}",
                "score": self.rng.random(),
                "tags": self.rng.sample("abcde", 2),
            }
        words = (280, 700) if self.kind == "large" else (90, 220)
        return {
            "_key": self.key(i),
            "title": self.text(self.rng.randint(6, 14)).capitalize(),
            "authors": [self.text(2).title() for _ in range(self.rng.randint(1, 8))],
            "abstract": self.text(self.rng.randint(*words)),
            "categories": self.rng.sample(CATEGORIES, self.rng.randint(1, 3)),
            "submitted": f"20{7 + i // 40000:02d}-{1 + i % 12:02d}-{1 + i % 28:02d}",
            "citations": self.rng.randint(0, 900),
            "score": round(self.rng.random(), 6),
        }


@dataclass
class Server:
    url: str
    password: str
    process: subprocess.Popen[bytes] | None = None

    def cpu_seconds(self) -> float | None:
        """CPU time of the test server process (Linux /proc), None for a remote server."""
        if self.process is None:
            return None
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        return (int(fields[11]) + int(fields[12])) / ticks

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=30)


def start_test_server() -> Server:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.arango_server", "--port", str(port), "--password", PASSWORD],
        cwd=REPO_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return Server(url, PASSWORD, process)
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("the test server did not start")


@dataclass
class Phase:
    name: str
    docs: int
    wall: float
    client_cpu: float
    round_trips: float
    server_cpu: float | None
    added_bytes: int | None = None
    peak_rss_mb: float | None = None  # this process's peak so far, read at the phase's end

    def to_map(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "phase": self.name,
            "documents": self.docs,
            "seconds": round(self.wall, 2),
            "docs_per_second": round(self.docs / self.wall) if self.wall else None,
            "client_cpu_seconds": round(self.client_cpu, 2),
            "http_wait_seconds": round(self.round_trips, 2),
            "product_share": round(1 - self.round_trips / self.wall, 3) if self.wall else None,
            "server_share": round(self.round_trips / self.wall, 3) if self.wall else None,
        }
        if self.server_cpu is not None:
            d["server_cpu_seconds"] = round(self.server_cpu, 2)
        if self.added_bytes is not None:
            d["added_bytes"] = self.added_bytes
        if self.peak_rss_mb is not None:
            d["peak_rss_mb_so_far"] = self.peak_rss_mb
        return d


def measure(server: Server, name: str, docs: int, run: Any) -> tuple[Phase, Any]:
    cpu0, wall0, srv0 = time.process_time(), time.perf_counter(), server.cpu_seconds()
    result, round_trips = run()
    wall = time.perf_counter() - wall0
    srv1 = server.cpu_seconds()
    server_cpu = None if srv0 is None or srv1 is None else srv1 - srv0
    phase = Phase(name, docs, wall, time.process_time() - cpu0, round_trips, server_cpu)
    phase.peak_rss_mb = peak_rss_mb()
    return phase, result


def raw_read(db: Any, name: str) -> tuple[list[dict[str, Any]], float]:
    """Every document through a plain python-arango streaming cursor, as a baseline."""
    docs: list[dict[str, Any]] = []
    with db.aql.execute(
        "FOR d IN @@c RETURN d", bind_vars={"@c": name}, batch_size=1000, stream=True, ttl=600
    ) as cursor:
        docs.extend(cursor)
    return docs, 0.0


def raw_write(db: Any, docs: list[dict[str, Any]]) -> tuple[int, float]:
    """The same documents through plain insert_many into a fresh collection, as a baseline."""
    coll = db.create_collection("raw_copy")
    try:
        for start in range(0, len(docs), 5000):
            coll.insert_many(docs[start : start + 5000], silent=True, overwrite=True)
    finally:
        db.delete_collection("raw_copy")
    return len(docs), 0.0


# -- incremental snapshots (spec/database.md, *Incremental dump*) -------------------------------


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far (Linux reports KiB)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def raw_listing(db: Any, name: str) -> tuple[int, float]:
    """The ``(_key, _rev)`` listing the incremental dump reads, through plain python-arango."""
    count = 0
    with db.aql.execute(
        "FOR d IN @@c SORT d._key RETURN [d._key, d._rev]",
        bind_vars={"@c": name},
        batch_size=10_000,
        stream=True,
        ttl=600,
    ) as cursor:
        for _ in cursor:
            count += 1
    return count, 0.0


def raw_scan(db: Any, name: str) -> tuple[int, float]:
    """Every document through a plain streaming cursor, counted and dropped (bounded memory)."""
    count = 0
    with db.aql.execute(
        "FOR d IN @@c RETURN d", bind_vars={"@c": name}, batch_size=1000, stream=True, ttl=600
    ) as cursor:
        for _ in cursor:
            count += 1
    return count, 0.0


def scatter_changes(coll: Any, gen: Documents, n: int, seed: int = 11) -> dict[str, int]:
    """1% scattered updates, 0.1% inserts (new keys among the old ones) and 0.1% removals."""
    rng = random.Random(seed)
    picked = rng.sample(range(n), int(n * 0.012))
    updated, removed = picked[: int(n * 0.01)], picked[int(n * 0.01) :]
    for start in range(0, len(updated), 1000):
        coll.update_many(
            [{"_key": gen.key(i), "citations": -2} for i in updated[start : start + 1000]],
            silent=True,
        )
    coll.delete_many([{"_key": gen.key(i)} for i in removed], silent=True)
    # New keys right after old ones, scattered like the updates.
    inserted = [dict(gen.make(i), _key=f"{gen.key(i)}x") for i in updated[: int(n * 0.001)]]
    coll.insert_many(inserted, silent=True)
    return {"updated": len(updated), "removed": len(removed), "inserted": len(inserted)}


def incremental_phases(
    server: Server,
    manager: SnapshotManager,
    db: Any,
    coll: Any,
    gen: Documents,
    n: int,
    first: Any,
    phases: list[Phase],
    repeat: int = 1,
) -> dict[str, Any]:
    """``--reread``, unchanged and after-changes snapshots beside the raw listing and read.
    The phases before the changes run ``repeat`` times each and report the fastest."""

    def snapshot(label: str, reread: bool = False) -> tuple[Any, float]:
        r = manager.create(label, include_bulk=False, reread=reread)
        return r, float(r.snapshot.database["dump_stats"]["server_seconds"])

    def timed(name: str, run: Any, times: int = 1) -> tuple[Phase, Any]:
        """The fastest of ``times`` runs (a shared machine's load only ever adds time)."""
        best: tuple[Phase, Any] | None = None
        for _ in range(times):
            got = measure(server, name, n, run)
            if best is None or got[0].wall < best[0].wall:
                best = got
        assert best is not None
        phases.append(best[0])
        return best

    out: dict[str, Any] = {"first_snapshot_rss_mb": peak_rss_mb()}
    k = repeat
    listing, _ = timed("raw (_key, _rev) listing, sorted", lambda: raw_listing(db, "papers"), k)
    scan, _ = timed("raw cursor read (streamed, not kept)", lambda: raw_scan(db, "papers"), k)
    reread, _ = timed("snapshot --reread (full dump)", lambda: snapshot("R", reread=True), k)
    unchanged, res_u = timed("snapshot, nothing changed", lambda: snapshot("U"), k)
    res_u_stats = res_u.snapshot.database["dump_stats"]["incremental"]
    changes = scatter_changes(coll, gen, n)
    listing2, _ = timed("raw listing after changes", lambda: raw_listing(db, "papers"))
    scan2, _ = timed("raw cursor read after changes", lambda: raw_scan(db, "papers"))
    changed, res_c = timed("snapshot after 1% + 0.1% + 0.1% changes", lambda: snapshot("C"))
    reread2, res_r2 = timed("snapshot --reread after changes", lambda: snapshot("R2", reread=True))
    same_tree = (
        res_c.snapshot.database["collections"]["papers"]["root"]
        == res_r2.snapshot.database["collections"]["papers"]["root"]
    )
    out.update(
        {
            "changes": changes,
            "seconds": {
                "raw_listing": round(listing.wall, 2),
                "raw_read": round(scan.wall, 2),
                "reread": round(reread.wall, 2),
                "unchanged": round(unchanged.wall, 2),
                "raw_listing_after_changes": round(listing2.wall, 2),
                "raw_read_after_changes": round(scan2.wall, 2),
                "after_changes": round(changed.wall, 2),
                "reread_after_changes": round(reread2.wall, 2),
            },
            "ratios": {
                "unchanged_over_reread": round(unchanged.wall / reread.wall, 3),
                "after_changes_over_reread": round(changed.wall / reread2.wall, 3),
                "reread_over_raw_read": round(reread.wall / scan.wall, 3),
                "raw_listing_over_raw_read": round(listing.wall / scan.wall, 3),
            },
            "after_changes_new_bytes_share": round(res_c.added_bytes / first.added_bytes, 4),
            "unchanged_fetched": res_u_stats["fetched"],
            "after_changes_fetched": res_c.snapshot.database["dump_stats"]["incremental"][
                "fetched"
            ],
            "incremental_tree_equals_full_tree": same_tree,
            "peak_rss_mb": peak_rss_mb(),
        }
    )
    return out


# -- restore by difference ------------------------------------------------------------------------


# Runs the CLI in the child and, at its exit, reports the child's own peak RSS (VmHWM of its
# address space: ru_maxrss would start from the parent's, which exec leaves behind on Linux).
_CHILD = """
import atexit, sys
def hwm():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            sys.stderr.write("peak-rss-kb " + line.split()[1] + "\\n")
atexit.register(hwm)
from snapstore.cli.main import main
sys.argv = ["snapstore", *sys.argv[1:]]
main()
"""


@dataclass
class CliRun:
    """One ``restore`` through the CLI: its report and what it cost."""

    report: dict[str, Any]
    wall: float
    cpu: float  # the child's user + system seconds
    server_cpu: float  # the test server's, over the same run
    rss: int  # the child's peak RSS in bytes

    @property
    def total_cpu(self) -> float:
        return self.cpu + self.server_cpu


def child_env(env: dict[str, str], tmp: Path) -> dict[str, str]:
    """The child's environment: compiled bytecode allowed (kept under ``tmp``), as an installed
    snapstore has it; without it every run compiles each module again (~0.3 s here)."""
    out = dict(env)
    out.pop("PYTHONDONTWRITEBYTECODE", None)
    out["PYTHONPYCACHEPREFIX"] = str(tmp / "pycache")
    return out


def cli_restore(server: Server, env: dict[str, str], snapshot: str, *extra: str) -> CliRun:
    """``restore SNAPSHOT`` through the CLI in a child process."""
    cmd = [sys.executable, "-c", _CHILD, "restore", snapshot, "--no-bulk", "--yes"]
    cmd += ["--no-safety-snapshot", "--json", *extra]
    srv0, wall0 = server.cpu_seconds(), time.perf_counter()
    cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run(cmd, cwd=REPO_ROOT, env=env, capture_output=True, check=False)
    wall = time.perf_counter() - wall0
    cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"restore failed ({proc.returncode}): {proc.stderr.decode()[-2000:]}")
    srv1 = server.cpu_seconds()
    server_cpu = 0.0 if srv0 is None or srv1 is None else srv1 - srv0
    cpu = cpu1.ru_utime - cpu0.ru_utime + cpu1.ru_stime - cpu0.ru_stime
    peak = [ln for ln in proc.stderr.decode().splitlines() if ln.startswith("peak-rss-kb ")]
    rss = int(peak[-1].split()[1]) * 1024 if peak else 0
    return CliRun(json.loads(proc.stdout)["database"], wall, cpu, server_cpu, rss)


def timed_listing(db: Any, name: str, sort: bool) -> float:
    """Wall seconds of the raw ``(_key, _rev)`` listing through plain python-arango, as the
    restore lists (batches of 10,000)."""
    query = "FOR d IN @@c " + ("SORT d._key " if sort else "") + "RETURN [d._key, d._rev]"
    wall0 = time.perf_counter()
    with db.aql.execute(
        query, bind_vars={"@c": name}, batch_size=10_000, stream=True, ttl=600
    ) as cursor:
        for _ in cursor:
            pass
    return time.perf_counter() - wall0


def _summary(runs: list[CliRun]) -> dict[str, Any]:
    walls = sorted(r.wall for r in runs)
    return {
        "seconds_median": round(statistics.median(walls), 2),
        "seconds_min": round(walls[0], 2),
        "seconds_each": [round(r.wall, 2) for r in runs],
        "in_process_seconds_median": round(
            statistics.median(float(r.report["seconds"]) for r in runs), 2
        ),
        "client_cpu_seconds_median": round(statistics.median(r.cpu for r in runs), 2),
        "server_cpu_seconds_median": round(statistics.median(r.server_cpu for r in runs), 2),
        "peak_rss_mb": round(max(r.rss for r in runs) / 2**20, 1),
    }


def restore_phases(
    server: Server,
    db: Any,
    sys_db: Any,
    coll: Any,
    gen: Documents,
    n: int,
    snapshot: str,
    env: dict[str, str],
    empty_db: str,
    runs: int,
) -> dict[str, Any]:
    """Restore by difference against a full restore (module doc), ``runs`` times each."""
    cli_restore(server, env, snapshot)  # the live database back to A (setup, not measured)
    merges: list[CliRun] = []
    listings: list[tuple[float, float]] = []
    made: dict[str, int] = {}
    for _ in range(runs):
        made = scatter_changes(coll, gen, n)
        listings.append((timed_listing(db, "papers", True), timed_listing(db, "papers", False)))
        # Deleted each time: with node revision digests the merge needs no cache (it only
        # serves trees written before digests), so every run is the first after a snapshot.
        for cache in Path(env["SNAPSTORE_CACHE_DIR"]).glob("*/leaf-pairs.sqlite"):
            cache.unlink()
        merges.append(cli_restore(server, env, snapshot))
        merged = merges[-1].report
        assert merged["merged"]["papers"]["replaced"] == made["updated"], merged["merged"]
    fulls: list[CliRun] = []
    for _ in range(runs):
        sys_db.delete_database(empty_db, ignore_missing=True)
        fulls.append(cli_restore(server, env, snapshot, "--target-db", empty_db))
    merge_s, full_s = _summary(merges), _summary(fulls)
    return {
        "runs": runs,
        "changes": made,
        "written": merges[-1].report["merged"]["papers"],
        "verification": merges[-1].report["collections"]["papers"].get("compared_with"),
        "raw_sorted_listing_seconds": round(statistics.median(a for a, _ in listings), 2),
        "raw_unsorted_listing_seconds": round(statistics.median(b for _, b in listings), 2),
        "merge_restore": merge_s,
        "full_restore_into_empty_database": full_s,
        "merge_over_full": round(merge_s["seconds_median"] / full_s["seconds_median"], 3),
        "merge_over_full_best": round(merge_s["seconds_min"] / full_s["seconds_min"], 3),
        "merge_over_full_cpu": round(
            statistics.median(r.total_cpu for r in merges)
            / statistics.median(r.total_cpu for r in fulls),
            3,
        ),
        "merge_over_full_in_process": round(
            merge_s["in_process_seconds_median"] / full_s["in_process_seconds_median"], 3
        ),
        "bench_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10, 1),
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--docs", type=int, default=120_000)
    ap.add_argument(
        "--phases",
        default="read,dump,changes,write,restore,merge",
        help="comma-separated subset of read,dump,changes,write,restore,merge,incremental",
    )
    ap.add_argument(
        "--restore-runs",
        type=int,
        default=3,
        help="times each restore of the merge phases runs (the median is reported)",
    )
    ap.add_argument("--doc-kind", choices=["arxiv", "small", "large"], default="arxiv")
    ap.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="incremental: run the raw reads, --reread and unchanged snapshots this many "
        "times each and keep the fastest (a shared machine)",
    )
    ap.add_argument("--url", help="a real ArangoDB (password in SNAPSTORE_ARANGO_PASSWORD)")
    ap.add_argument("--user", default="root")
    ap.add_argument("--repo", help="repository directory (default: a temporary one)")
    ap.add_argument("--json", dest="json_out", help="also write the results to this file")
    args = ap.parse_args(argv)

    server = (
        Server(args.url, os.environ.get("SNAPSTORE_ARANGO_PASSWORD", ""))
        if args.url
        else start_test_server()
    )
    os.environ["SNAPSTORE_ARANGO_PASSWORD"] = server.password
    tmp = Path(tempfile.mkdtemp(prefix="arango-bench-"))
    repo = Path(args.repo) if args.repo else tmp / "repo"
    os.environ.setdefault("SNAPSTORE_CACHE_DIR", str(tmp / "cache"))
    db_name, restored_db = f"bench_{os.getpid()}", f"bench_{os.getpid()}_restored"
    client = ArangoClient(hosts=server.url, request_timeout=600)
    sys_db = client.db("_system", args.user, server.password)
    try:
        sys_db.create_database(db_name)
        db = client.db(db_name, args.user, server.password)
        coll = db.create_collection("papers")
        gen = Documents(args.doc_kind)
        n = args.docs
        started = time.perf_counter()
        for start in range(0, n, 5000):
            coll.insert_many([gen.make(i) for i in range(start, min(n, start + 5000))], silent=True)
        print(f"loaded {n} documents in {time.perf_counter() - started:.1f} s", file=sys.stderr)

        settings = Settings(
            repository=str(repo),
            bulk=(),
            project_dir=str(tmp),
            auto_cleanup=False,
            arangodb=ArangoSettings(url=server.url, database=db_name, user=args.user, timeout=600),
        )
        manager = SnapshotManager(settings, reporter=Reporter())

        def snapshot(label: str) -> tuple[Any, float]:
            r = manager.create(label, include_bulk=False)
            return r, float(r.snapshot.database["dump_stats"]["server_seconds"])

        wanted = set(args.phases.split(","))
        phases: list[Phase] = []
        raw_docs: list[dict[str, Any]] = []
        raw_read_phase = raw_write_phase = None
        if "read" in wanted or "write" in wanted:
            raw_read_phase, raw_docs = measure(
                server, "raw cursor read (python-arango)", n, lambda: raw_read(db, "papers")
            )
            phases.append(raw_read_phase)
        phase, first = measure(server, "dump (snapshot A)", n, lambda: snapshot("A"))
        dump_phase = phase
        phase.added_bytes = first.added_bytes
        phases.append(phase)
        rng = random.Random(7)
        shares: dict[str, float] = {}
        changes = (("B", 0.01), ("C", 0.0001), ("D", 0.0)) if "changes" in wanted else ()
        for label, fraction in changes:
            chosen = rng.sample(range(n), int(n * fraction))
            for start in range(0, len(chosen), 1000):
                coll.update_many(
                    [
                        {"_key": gen.key(i), "citations": -1, "score": -1.0}
                        for i in chosen[start : start + 1000]
                    ],
                    silent=True,
                )
            phase, result = measure(
                server,
                f"dump (snapshot {label}, {fraction:.2%} updated)",
                n,
                lambda label=label: snapshot(label),
            )
            phase.added_bytes = result.added_bytes
            phases.append(phase)
            shares[f"{fraction:.2%} updated"] = result.added_bytes / first.added_bytes

        incremental = None
        if "incremental" in wanted:
            incremental = incremental_phases(
                server, manager, db, coll, gen, n, first, phases, args.repeat
            )

        def restore() -> tuple[Any, float]:
            r = manager.restore_snapshot(
                first.snapshot.snapshot_name,
                confirm=True,
                restore_bulk=False,
                safety_snapshot=False,
                target_db=restored_db,
            )
            return r, float(r.database["server_seconds"])

        if "write" in wanted:
            raw_write_phase, _ = measure(
                server, "raw insert_many (python-arango)", n, lambda: raw_write(db, raw_docs)
            )
            phases.append(raw_write_phase)
        raw_docs = []
        restore_phase = None
        merge_report = None
        if "merge" in wanted:
            env = dict(os.environ)
            env.update(
                SNAPSTORE_REPO=str(repo),
                SNAPSTORE_PROJECT_DIR=str(tmp),
                SNAPSTORE_ARANGO_URL=server.url,
                SNAPSTORE_ARANGO_DB=db_name,
                SNAPSTORE_ARANGO_USER=args.user,
            )
            merge_report = restore_phases(
                server,
                db,
                sys_db,
                coll,
                gen,
                n,
                first.snapshot.snapshot_name,
                child_env(env, tmp),
                f"bench_{os.getpid()}_empty",
                args.restore_runs,
            )
        if "restore" in wanted:
            restore_phase, restored = measure(server, "restore A (incl. verification)", n, restore)
            phases.append(restore_phase)
            assert all(c["checksum_ok"] for c in restored.database["collections"].values())
    finally:
        for name in (db_name, restored_db, f"bench_{os.getpid()}_empty"):
            try:
                sys_db.delete_database(name, ignore_missing=True)
            except Exception as e:  # the report matters more than the cleanup
                print(f"cleanup of {name} failed: {e}", file=sys.stderr)
        server.stop()

    section = first.snapshot.database["collections"]["papers"]
    report = {
        "documents": n,
        "doc_kind": args.doc_kind,
        "server": "real ArangoDB" if args.url else "test server (Python, subprocess)",
        "dump_bytes": section["bytes"],
        "first_snapshot_stored_bytes": first.added_bytes,
        "leaves": section["leaves"],
        "nodes": section["nodes"],
        "newly_stored_share": {k: round(v, 5) for k, v in shares.items()},
        "ratios": {
            "dump_over_raw_read": round(dump_phase.wall / raw_read_phase.wall, 3)
            if raw_read_phase
            else None,
            "restore_over_raw_write": round(restore_phase.wall / raw_write_phase.wall, 3)
            if restore_phase and raw_write_phase
            else None,
        },
        "phases": [p.to_map() for p in phases],
        "restore_by_difference": merge_report,
    }
    if incremental is not None:
        report["incremental"] = incremental
    print(json.dumps(report, indent=2))
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
