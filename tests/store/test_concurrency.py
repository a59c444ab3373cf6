"""The one bounded in-flight queue (store/concurrency.py) and the map built on it: results in
order, never more than the limit in flight, the first error stops the rest, and Ctrl-C ends a
real process promptly with every pool thread joined."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator

import pytest

from snapstore.store.concurrency import InFlight, bounded_map, new_pool, shutdown_fully
from tests.helpers import REPO_ROOT


def test_results_come_in_input_order_whatever_order_jobs_finish_in() -> None:
    rng = random.Random(3)
    delays = [rng.random() * 0.02 for _ in range(40)]
    pool = new_pool(6, "test")
    try:
        got = list(
            bounded_map(pool, lambda i: (time.sleep(delays[i]), i * i)[1], range(40), max_items=5)
        )
    finally:
        shutdown_fully(pool)
    assert got == [i * i for i in range(40)]


def test_at_most_n_jobs_are_in_flight_and_input_is_read_only_that_far_ahead() -> None:
    limit = 3
    lock = threading.Lock()
    running = 0
    most = 0
    pulled = 0
    begun = 0

    def job(i: int) -> int:
        nonlocal running, most, begun
        with lock:
            begun += 1
            running += 1
            most = max(most, running)
        time.sleep(0.03)
        with lock:
            running -= 1
        return i

    def items() -> Iterator[int]:
        nonlocal pulled
        for i in range(20):
            pulled += 1
            yield i

    pool = new_pool(8, "test")  # more threads than the limit: the bound is the map's
    got: list[int] = []
    try:
        for result in bounded_map(pool, job, items(), max_items=limit):
            assert begun - len(got) <= limit  # jobs begun and not yet handed to us
            assert pulled - len(got) <= limit + 1  # plus the one waiting for room
            got.append(result)
    finally:
        shutdown_fully(pool)
    assert got == list(range(20))
    assert most == limit  # bounded, and still parallel


def test_cost_bounds_what_is_in_flight_but_lets_one_oversized_job_through() -> None:
    lock = threading.Lock()
    held = 0
    most = 0

    def job(size: int) -> int:
        nonlocal held, most
        with lock:
            held += size
            most = max(most, held)
        time.sleep(0.01)
        with lock:
            held -= size
        return size

    sizes = [4, 4, 4, 25, 4, 4, 9, 1, 1, 1]
    pool = new_pool(8, "test")
    try:
        got = list(bounded_map(pool, job, sizes, max_items=8, cost=lambda n: n, max_cost=10))
    finally:
        shutdown_fully(pool)
    assert got == sizes
    assert most == 25  # the big one ran alone; nothing else ever pushed the sum past 10


def test_an_error_in_one_job_is_raised_in_its_turn_and_stops_the_rest() -> None:
    started: list[int] = []

    def job(i: int) -> int:
        started.append(i)
        time.sleep(0.03)
        if i == 5:
            raise ValueError("job 5 failed")
        return i

    pool = new_pool(1, "test")  # one thread: jobs 7 and 8 are still queued when 5 fails
    got: list[int] = []
    results = bounded_map(pool, job, range(10_000), max_items=4)
    try:
        with pytest.raises(ValueError, match="job 5 failed"):
            for result in results:
                got.append(result)
    finally:
        shutdown_fully(pool, cancel=False)  # cancelled by the map, not by the shutdown
    assert got == [0, 1, 2, 3, 4]
    # 6 may have begun before the map saw 5 fail; 7 and 8 were queued and never ran.
    assert started in ([0, 1, 2, 3, 4, 5], [0, 1, 2, 3, 4, 5, 6])
    assert next(results, None) is None  # the map is over


def test_in_flight_counts_items_cost_and_units_and_a_growing_entry() -> None:
    q: InFlight[str] = InFlight(max_items=3, max_cost=100, max_units=5)
    assert q.fits(10**9) and not q.due()  # empty: anything fits, nothing to take
    batch = q.push("batch")
    for _ in range(5):
        q.grow(batch, 10, 1)
    assert (q.cost, q.units) == (50, 5) and not q.over()
    q.grow(batch, 0, 1)
    assert q.over()  # six files in flight
    q.push("chunk", 60)
    assert not q.fits()  # 110 bytes held: not even a free item fits
    assert q.due() and q.pop() == "batch"
    assert (q.cost, q.units, len(q)) == (60, 0, 1) and not q.over()
    assert q.fits(40) and not q.fits(41)
    assert not q.due(lambda item: False) and q.due(lambda item: item == "chunk")
    q.push("a")
    q.push("b")
    q.push("c")
    assert q.over() and q.clear() == ["chunk", "a", "b", "c"]
    assert (q.cost, q.units, len(q)) == (0, 0, 0)


def test_shutdown_fully_leaves_no_thread_of_the_pool_running() -> None:
    pool = new_pool(3, "test")
    for _ in range(6):
        pool.submit(time.sleep, 0.02)
    shutdown_fully(pool, cancel=False)
    assert not [t for t in threading.enumerate() if t.name.startswith(pool.thread_prefix)]


CTRL_C_SCRIPT = textwrap.dedent(
    """
    import sys, time
    from snapstore.store.concurrency import bounded_map, new_pool, shutdown_fully

    started = []
    def job(i):
        started.append(i)
        time.sleep(0.05)
        return i

    pool = new_pool(4, "work")
    try:
        for result in bounded_map(pool, job, range(100_000), max_items=4):
            print(result, flush=True)
    finally:
        shutdown_fully(pool)
        print("started", len(started), file=sys.stderr, flush=True)
    """
)


def test_ctrl_c_ends_the_map_promptly_and_the_pool_is_joined() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", CTRL_C_SCRIPT],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        bufsize=0,  # unbuffered: readline takes one line, communicate gets all the rest
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()  # the map is running
        assert first.strip() == b"0"
        proc.send_signal(signal.SIGINT)
        out_b, err_b = proc.communicate(timeout=20)
        out, err = out_b.decode(), err_b.decode()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    printed = 1 + len(out.split())
    assert proc.returncode != 0
    assert "KeyboardInterrupt" in err
    started = int(err.split("started")[-1].split()[0])
    assert started <= printed + 4 + 1  # nothing but the jobs in flight ran after Ctrl-C
