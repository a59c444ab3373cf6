"""Long operations started from the web view: run on a thread, watched, cancellable.

A job runs one manager call (a restore, a delete) on a thread of its own with a ``JobReporter``
that records what the operation reports (the same ``Reporter`` calls the CLI turns into
progress bars) for the page to poll. Cancelling sets a flag; the next progress report raises
``Cancelled``, a ``KeyboardInterrupt``, so the operation takes exactly the path it takes on
Ctrl-C in a terminal (a restore rolls back, and says so). However the operation ends, the job
ends with it: done, cancelled, or failed with a one-line reason (an unexpected exception too,
its traceback printed on the server's stderr). One job runs at a time: the repository's own
locks would refuse a second destructive one anyway.

A cancel is accepted only when it will be acted on: a pending cancel is delivered at the
next ``start``, ``advance`` or ``finish`` report. When a phase that ``commits`` finishes (a
restore's last bulk files are written: it then syncs them to disk and swaps them in, which
cannot be undone halfway), the job says so in its phase ("... - can no longer be
cancelled") and ``refusal`` refuses a cancel until a later phase starts (the database part
of a restore rolls back on its own). A job whose work cannot be stopped at all (a delete)
refuses every cancel. The runner keeps every job since the server started, for ``/jobs``.
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

from snapstore.base.errors import SnapstoreError
from snapstore.base.reporting import Reporter


def one_line(text: str) -> str:
    """A result on one line: line breaks in a message become spaces."""
    return " ".join(part.strip() for part in text.splitlines() if part.strip())


class Cancelled(KeyboardInterrupt):
    """Raised inside a job's thread at its next progress report after a cancel."""


SAFETY_LINE = "Safety snapshot taken: "  # restore's info line naming its safety snapshot
NO_RETURN = "syncing to disk and swapping in - can no longer be cancelled"


def never(label: str) -> bool:
    return False


def writes_into(targets: list[str]) -> Callable[[str], bool]:
    """``commits`` for a restore into these folders: its phases that write bulk files are
    labelled "Restoring PATH", PATH a target or a path inside one (a database collection's
    phase names the collection, never a path)."""
    prefix = "Restoring "

    def commits(label: str) -> bool:
        if not label.startswith(prefix):
            return False
        path = label[len(prefix) :]
        return any(path == t or path.startswith(t.rstrip("/") + "/") for t in targets)

    return commits


class JobReporter(Reporter):
    """Collects progress and messages of one job; raises ``Cancelled`` once cancelled.
    ``commits(label)``: whether the end of that phase is the point of no return."""

    def __init__(self, job: Job, commits: Callable[[str], bool] = never) -> None:
        super().__init__()
        self.job = job
        self.commits = commits

    def _check(self) -> None:
        if self.job.cancel_requested.is_set() and not self.job.cancel_delivered:
            self.job.cancel_delivered = True
            raise Cancelled()

    def start(self, label: str, total: int | None = None) -> None:
        self._check()
        with self.job.lock:
            self.job.step, self.job.done, self.job.total = label, 0, total
            self.job.no_return = False

    def advance(self, amount: int) -> None:
        self._check()
        with self.job.lock:
            self.job.done += amount

    def finish(self) -> None:
        self._check()  # a cancel that came after the phase's last advance: still in time
        with self.job.lock:
            if self.job.total:
                self.job.done = self.job.total
            if self.commits(self.job.step):
                self.job.step = f"{self.job.step}: written; {NO_RETURN}"
                self.job.no_return = True

    def warn(self, message: str) -> None:
        super().warn(message)
        self.job.log("warning: " + message)

    def info(self, message: str) -> None:
        if message.startswith(SAFETY_LINE):
            self.job.safety = message[len(SAFETY_LINE) :].strip()
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
    cancellable: bool = True  # False: the work cannot be stopped once started
    no_return: bool = False  # past the point of no return of the current phase
    safety: str | None = None  # the safety snapshot the operation took
    ended: float | None = None
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    cancel_requested: threading.Event = field(default_factory=threading.Event, repr=False)
    cancel_delivered: bool = False

    def log(self, message: str) -> None:
        with self.lock:
            self.messages.append(message)

    def refusal(self) -> str | None:
        """Why a cancel now would not be acted on; None when it will be."""
        with self.lock:
            if not self.cancellable:
                return "this operation cannot be cancelled once started"
            if self.state != "running":
                return f"the operation has already ended ({self.state})"
            if self.no_return:
                return f"too late to cancel: {self.step}"
        return None

    def cancel(self) -> str | None:
        """Ask the work to stop; the refusal (nothing asked) when it would not be acted on."""
        refused = self.refusal()
        if refused is None:
            self.cancel_requested.set()
            self.log("cancel requested: stopping at the next step")
        else:
            self.log(f"cancel refused: {refused}")
        return refused

    def as_dict(self) -> dict[str, Any]:
        with self.lock:
            end = self.ended if self.ended is not None else time.time()
            return {
                "id": self.id,
                "title": self.title,
                "state": self.state,
                "step": self.step,
                "done": self.done,
                "total": self.total,
                "messages": list(self.messages),
                "result": self.result,
                "started": self.started,
                "elapsed": round(end - self.started, 1),
                "no_return": self.no_return,
                "can_cancel": self.state == "running" and self.cancellable and not self.no_return,
                "safety": self.safety,
            }


class JobRunner:
    """Starts jobs and keeps every one of them for their pages and ``/jobs``."""

    def __init__(self) -> None:
        self.jobs: dict[str, Job] = {}
        self._lock = threading.Lock()

    def busy(self) -> Job | None:
        with self._lock:
            return next((j for j in self.jobs.values() if j.state == "running"), None)

    def start(
        self,
        title: str,
        work: Callable[[JobReporter], str],
        *,
        cancellable: bool = True,
        commits: Callable[[str], bool] = never,
    ) -> Job:
        """Run ``work(reporter)`` on a thread; its return value is the job's result line."""
        job = Job(secrets.token_hex(6), title, cancellable=cancellable)
        with self._lock:
            if any(j.state == "running" for j in self.jobs.values()):
                raise RuntimeError("another operation is still running")
            self.jobs[job.id] = job
        reporter = JobReporter(job, commits)
        threading.Thread(target=self._run, args=(job, work, reporter), daemon=True).start()
        return job

    def all(self) -> list[Job]:
        """Every job since the server started, newest first."""
        with self._lock:
            return list(reversed(self.jobs.values()))

    @staticmethod
    def _run(job: Job, work: Callable[[JobReporter], str], reporter: JobReporter) -> None:
        # Whatever happens below, the job ends: one left "running" would also refuse every
        # later operation ("another operation is still running") until the server restarts.
        result, state = "error: the operation stopped without saying why", "failed"
        try:
            result, state = work(reporter), "done"
            if job.cancel_requested.is_set() and not job.cancel_delivered:
                result += " (the cancel came after the last step that could stop it)"
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
                job.result, job.state, job.ended = one_line(result), state, time.time()
                # No phase is under way any more (not even "can no longer be cancelled").
                job.step = "finished" if state == "done" else f"stopped during: {job.step}"
                job.no_return = False

    def get(self, job_id: str) -> Job | None:
        return self.jobs.get(job_id)
