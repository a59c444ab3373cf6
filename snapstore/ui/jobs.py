"""Long operations started from the web view: run on a thread, watched, cancellable.

A job runs one manager call (a restore, a delete) on a thread of its own with a ``JobReporter``
that records what the operation reports (the same ``Reporter`` calls the CLI turns into
progress bars) for the page to poll. Cancelling sets a flag; the next progress report raises
``Cancelled``, a ``KeyboardInterrupt``, so the operation takes exactly the path it takes on
Ctrl-C in a terminal (a restore rolls back, and says so). However the operation ends, the job
ends with it: done, cancelled, or failed with a one-line reason (an unexpected exception too,
its traceback printed on the server's stderr). One job runs at a time: the repository's own
locks would refuse a second destructive one anyway.
"""

from __future__ import annotations

import secrets
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from snapstore.errors import SnapstoreError
from snapstore.reporting import Reporter


def one_line(text: str) -> str:
    """A result on one line: line breaks in a message become spaces."""
    return " ".join(part.strip() for part in text.splitlines() if part.strip())


class Cancelled(KeyboardInterrupt):
    """Raised inside a job's thread at its next progress report after a cancel."""


class JobReporter(Reporter):
    """Collects progress and messages of one job; raises ``Cancelled`` once cancelled."""

    def __init__(self, job: Job) -> None:
        super().__init__()
        self.job = job

    def _check(self) -> None:
        if self.job.cancel_requested.is_set() and not self.job.cancel_delivered:
            self.job.cancel_delivered = True
            raise Cancelled()

    def start(self, label: str, total: int | None = None) -> None:
        self._check()
        with self.job.lock:
            self.job.step, self.job.done, self.job.total = label, 0, total

    def advance(self, amount: int) -> None:
        self._check()
        with self.job.lock:
            self.job.done += amount

    def finish(self) -> None:
        with self.job.lock:
            if self.job.total:
                self.job.done = self.job.total

    def warn(self, message: str) -> None:
        super().warn(message)
        self.job.log("warning: " + message)

    def info(self, message: str) -> None:
        self.job.log(message)


@dataclass
class Job:
    """One operation's state, as the job page shows it."""

    id: str
    title: str
    started: float = field(default_factory=time.time)
    step: str = "starting"
    done: int = 0
    total: int | None = None
    state: str = "running"  # running / done / failed / cancelled
    messages: list[str] = field(default_factory=list)
    result: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    cancel_requested: threading.Event = field(default_factory=threading.Event, repr=False)
    cancel_delivered: bool = False

    def log(self, message: str) -> None:
        with self.lock:
            self.messages.append(message)

    def as_dict(self) -> dict[str, Any]:
        with self.lock:
            return {
                "id": self.id,
                "title": self.title,
                "state": self.state,
                "step": self.step,
                "done": self.done,
                "total": self.total,
                "messages": list(self.messages),
                "result": self.result,
                "elapsed": round(time.time() - self.started, 1),
            }


class JobRunner:
    """Starts jobs and keeps them for their pages (the last few only)."""

    def __init__(self, keep: int = 20) -> None:
        self.jobs: dict[str, Job] = {}
        self.keep = keep
        self._lock = threading.Lock()

    def busy(self) -> Job | None:
        with self._lock:
            return next((j for j in self.jobs.values() if j.state == "running"), None)

    def start(self, title: str, work: Callable[[JobReporter], str]) -> Job:
        """Run ``work(reporter)`` on a thread; its return value is the job's result line."""
        job = Job(secrets.token_hex(6), title)
        with self._lock:
            if any(j.state == "running" for j in self.jobs.values()):
                raise RuntimeError("another operation is still running")
            self.jobs[job.id] = job
            while len(self.jobs) > self.keep:
                self.jobs.pop(next(iter(self.jobs)))
        threading.Thread(target=self._run, args=(job, work), daemon=True).start()
        return job

    @staticmethod
    def _run(job: Job, work: Callable[[JobReporter], str]) -> None:
        reporter = JobReporter(job)
        # Whatever happens below, the job ends: one left "running" would also refuse every
        # later operation ("another operation is still running") until the server restarts.
        result, state = "error: the operation stopped without saying why", "failed"
        try:
            result, state = work(reporter), "done"
        except KeyboardInterrupt as e:
            # The operation's own interrupt handling has reported what it undid (messages);
            # say no more than where it stopped.
            result = str(e) if str(e) else f"cancelled during: {job.step}"
            state = "cancelled"
        except SnapstoreError as e:
            result = f"error: {e}"
        except OSError as e:
            where = f": {e.filename}" if e.filename else ""
            result = f"error: {e.strerror or e}{where}"
        except Exception as e:
            # A bug (or a library error nothing turned into a SnapstoreError): the page says
            # what it was in one line, the server's terminal keeps the traceback.
            traceback.print_exception(e, file=sys.stderr)
            result = (
                f"error: internal error ({type(e).__name__}: {e}); "
                "the traceback is in the server's output"
            )
        finally:
            with job.lock:
                job.result, job.state = one_line(result), state

    def get(self, job_id: str) -> Job | None:
        return self.jobs.get(job_id)
