"""The web view's routes: a thin layer over ``SnapshotManager``, like the CLI.

Pages are rendered on the server (Jinja2 templates in ``templates/``); the only script is
the timeline chart (uPlot, vendored in ``static/`` with its licence) and the job page's
polling. Reads go straight to the manager; actions that change data go through a
confirmation page that shows what will be replaced (a restore runs only the plan its page
showed: ``forms.py``), then run as jobs (``jobs.py``) whose progress the browser polls and
which can be cancelled (``/jobs`` lists them). Downloads stream through ``download.py``,
which releases the repository's lock when the response ends. What a page shows is computed
apart from the routes: the timeline and restore counts in ``views.py``, the file tree in
``tree.py``, a file's preview in ``viewer.py``, the diff's new bytes and line diffs in
``changes.py``. Every answer carries the headers of ``security.py``. Bad addresses get an
error page with a status and the CLI's one-line message, never a traceback.
"""

from __future__ import annotations

import glob
import json
import re
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from snapstore.base.errors import (
    InvalidInput,
    NotConfirmed,
    PathNotFound,
    SnapshotNotFound,
    SnapstoreError,
)
from snapstore.base.reporting import Reporter
from snapstore.inspection.tree_view import EntryInfo, display
from snapstore.manager import SnapshotManager
from snapstore.ops.records import RestorePlan
from snapstore.tree.bulk import parse_path
from snapstore.ui import changes, download, tree, viewer, views
from snapstore.ui.forms import RestoreForm, confirmation_problem, field_of, plan_digest
from snapstore.ui.jobs import JobReporter, JobRunner, writes_into
from snapstore.ui.security import Guard, check_form_token

HERE = Path(__file__).parent
PAGE_SIZE = 50  # documents per page of a collection
MakeManager = Callable[[Reporter], SnapshotManager]  # a manager reporting to this reporter


def query(request: Request) -> dict[str, str]:
    """The query string's values. Bytes that are not UTF-8 are kept as surrogate escapes
    (as ``os.fsdecode`` keeps them), so a file whose name is not UTF-8 can be linked to:
    the ``q`` filter writes such a name back as the same bytes."""
    raw = request.scope.get("query_string", b"").decode("latin-1")
    pairs = parse_qsl(raw, keep_blank_values=True, encoding="utf-8", errors="surrogateescape")
    return dict(pairs)


def quote_text(text: object) -> str:
    """``q``: text for a URL, surrogate escapes back to their original bytes."""
    return quote(str(text).encode("utf-8", "surrogateescape"), safe="")


def page_number(text: str, pages: int) -> int:
    """``?page=N`` of a collection: 0 to ``pages - 1``."""
    if not re.fullmatch(r"[0-9]+", text):
        raise InvalidInput(f"page must be a whole number from 0 to {pages - 1}, not {text!r}")
    number = int(text)
    if number >= pages:
        raise PathNotFound(
            f"there is no page {number}: the collection has {pages} page(s), 0 to {pages - 1}"
        )
    return number


class WebApp:
    """Routes bound to one repository (through ``make_manager``) and one token."""

    def __init__(self, make_manager: MakeManager, token: str) -> None:
        self.make_manager = make_manager
        self.token = token
        self.jobs = JobRunner()
        self.env = Environment(
            loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape()
        )
        self.env.filters["size"] = views.size
        self.env.filters["q"] = quote_text
        self.env.filters["breakable"] = views.breakable

    def manager(self, reporter: Reporter | None = None) -> SnapshotManager:
        return self.make_manager(reporter or Reporter())

    def page(self, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        html = self.env.get_template(template).render(token=self.token, **context)
        try:
            # A file name that is not UTF-8 goes out as its own bytes (a browser shows the
            # replacement character, as a terminal does for ``ls``).
            body = html.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:
            body = html.encode("utf-8", "replace")
        return HTMLResponse(body, status_code=status)

    def error(self, status: int, message: str) -> HTMLResponse:
        return self.page("error.html", status=status, status_code=status, message=message)

    # -- reading -------------------------------------------------------------------------------

    async def timeline(self, request: Request) -> Response:
        m = self.manager()
        snaps = await run_in_threadpool(m.list_snapshots)
        try:
            cleanup = await run_in_threadpool(m.apply_retention_policy, True)
        except SnapstoreError:
            cleanup = None  # e.g. an invalid [retention] section: show the snapshots anyway
        return self.page("timeline.html", tl=views.timeline(snaps, cleanup), job=self.jobs.busy())

    @staticmethod
    def _listing(
        m: SnapshotManager, name: str, path: str
    ) -> tuple[EntryInfo | None, list[EntryInfo]]:
        """``path`` of a snapshot: (the entry itself, []) for a file or a symlink, (None, its
        entries) for a folder. ``ls`` lists a folder's entries but a file itself."""
        entries = list(m.ls(name, path))
        itself = display(parse_path(path))
        if len(entries) == 1 and entries[0].type != "dir" and entries[0].path == itself:
            return entries[0], []
        return None, entries

    async def snapshot(self, request: Request) -> Response:
        name = request.path_params["name"]
        values = query(request)
        path = values.get("path", "")
        m = self.manager()
        info = await run_in_threadpool(m.get_snapshot, name)
        rows = None
        if info.includes_bulk:
            entry, entries = await run_in_threadpool(self._listing, m, info.snapshot_name, path)
            if entry is not None:  # a file: its own page
                return RedirectResponse(self._url(info.snapshot_name, "/file", path), 303)
            folder = display(parse_path(path)) if parse_path(path) else ""
            below = await run_in_threadpool(
                lambda: list(m.ls(info.snapshot_name, path, recursive=True))
            )
            pages = max(1, -(-len(entries) // tree.PAGE))
            page = page_number(values.get("page", "0"), pages)
            rows = tree.listing(folder, entries, tree.folder_sizes(folder, below), page)
        return self.page(
            "snapshot.html",
            s=info,
            path=path,
            crumbs=views.crumbs(path),
            listing=rows,
            meta=json.dumps(info.metadata, indent=2, ensure_ascii=False),
        )

    @staticmethod
    def _url(name: str, page: str, path: str) -> str:
        return f"/s/{quote_text(name)}{page}?path={quote_text(path)}"

    async def file(self, request: Request) -> Response:
        name, path = request.path_params["name"], query(request).get("path", "")
        m = self.manager()
        entry, _ = await run_in_threadpool(self._listing, m, name, path)
        if entry is None:  # a folder: its listing
            return RedirectResponse(self._url(name, "", path), 303)
        shown, target = None, None
        if entry.type == "file":
            head = await run_in_threadpool(self._head, m, name, path)
            shown = viewer.preview(head, entry.size)
        elif entry.type == "symlink" and entry.target is not None:
            target = await run_in_threadpool(self._link, m, name, entry)
        return self.page(
            "file.html",
            name=entry.snapshot,
            entry=entry,
            shown=shown,
            target=target,
            crumbs=views.crumbs(path),
        )

    @staticmethod
    def _head(m: SnapshotManager, name: str, path: str) -> bytes:
        pieces = m.cat(name, path)
        try:
            return viewer.read_head(pieces)
        finally:
            download.close(pieces)  # lets go of the repository's lock now

    @staticmethod
    def _link(m: SnapshotManager, name: str, entry: EntryInfo) -> str | None:
        """The snapshot path a symlink points to, when that path is in the snapshot."""
        assert entry.target is not None
        resolved = viewer.link_target(entry.path, entry.target)
        if resolved is None:
            return None
        try:
            next(iter(m.ls(name, resolved)), None)
        except (PathNotFound, InvalidInput):
            return None
        return resolved

    async def versions(self, request: Request) -> Response:
        name, path = request.path_params["name"], query(request).get("path", "")
        m = self.manager()
        entry, _ = await run_in_threadpool(self._listing, m, name, path)
        if entry is None:
            raise InvalidInput(f"{path!r} is a folder: versions are listed for files")
        found = await run_in_threadpool(lambda: list(m.find(glob.escape(entry.path))))
        return self.page(
            "versions.html",
            name=entry.snapshot,
            entry=entry,
            versions=tree.versions(entry.path, found),
        )

    async def raw(self, request: Request) -> Response:
        name, path = request.path_params["name"], query(request).get("path", "")
        m = self.manager()
        pieces = m.cat(name, path)
        try:  # errors (no such file, a folder) before the headers, as an error page
            first = await run_in_threadpool(lambda: next(pieces, b""))
        except BaseException:
            await run_in_threadpool(download.close, pieces)
            raise
        filename = path.rsplit("/", 1)[-1] or "file"
        headers = {"Content-Disposition": f"attachment; filename*=UTF-8''{quote_text(filename)}"}
        return download.Download(pieces, first, headers)

    async def collection(self, request: Request) -> Response:
        name, coll = request.path_params["name"], request.path_params["collection"]
        m = self.manager()
        info = await run_in_threadpool(m.get_snapshot, name)
        if coll not in info.collections:
            raise PathNotFound(f"snapshot {info.snapshot_name} has no collection {coll!r}")
        total = info.collections[coll]
        pages = max(1, -(-total // PAGE_SIZE))
        page = page_number(query(request).get("page", "0"), pages)
        lines, total = await run_in_threadpool(
            m.documents, info.snapshot_name, coll, page * PAGE_SIZE, PAGE_SIZE
        )
        docs = [json.dumps(json.loads(line), indent=1, ensure_ascii=False) for line in lines]
        return self.page(
            "collection.html", s=info, coll=coll, docs=docs, page=page, pages=pages, total=total
        )

    async def diff(self, request: Request) -> Response:
        m = self.manager()
        snaps = await run_in_threadpool(m.list_snapshots)
        a, b = request.query_params.get("a"), request.query_params.get("b")
        result = None
        if a and b:
            d = await run_in_threadpool(m.diff, a, b)
            fresh = await run_in_threadpool(changes.new_bytes, m, d.before, d.after)
            result = views.diff_view(d, fresh)
        return self.page("diff.html", snaps=snaps, a=a, b=b, d=result)

    async def diff_file(self, request: Request) -> Response:
        values = query(request)
        a, b, path = values.get("a", ""), values.get("b", ""), values.get("path", "")
        m = self.manager()
        sides = []
        for name in (a, b):
            entry, _ = await run_in_threadpool(self._listing, m, name, path)
            if entry is None or entry.type != "file":
                raise InvalidInput(f"{path!r} is not a file in {name}")
            if entry.size > changes.TEXT_LIMIT:
                raise InvalidInput(f"{path!r} is larger than 1 MiB in {name}: no line diff")
            sides.append(await run_in_threadpool(self._head, m, name, path))
        lines = changes.unified(sides[0], sides[1], a, b, path)
        return self.page("diff_file.html", a=a, b=b, path=path, lines=lines)

    # -- actions -------------------------------------------------------------------------------

    def _plan(self, name: str, form: RestoreForm) -> tuple[RestorePlan | None, str | None]:
        """The plan the fields give, or why they give none (bad input: said on the page,
        beside the fields, so that the user can change them)."""
        try:
            return self.manager().plan_restore(name, options=form.options()), None
        except SnapshotNotFound:
            raise
        except InvalidInput as e:
            return None, str(e)

    def _counts(self, name: str, form: RestoreForm) -> views.RestoreCounts | str:
        """What the restore of these fields writes (its dry run), or why the dry run could
        not be made: the page then shows the plan without counts, and the restore itself
        reports the problem if it has it too."""
        try:
            _, changes = self.manager().preview_restore(name, form.options())
        except SnapstoreError as e:
            return str(e)
        except Exception as e:  # a bug, or a damaged cache: the traceback for the terminal
            traceback.print_exception(e, file=sys.stderr)
            return f"internal error ({type(e).__name__}); see the server's output"
        return views.restore_counts(changes)

    async def _restore_page(
        self,
        name: str,
        form: RestoreForm,
        status: int = 200,
        refused: str | None = None,
        planned: tuple[RestorePlan | None, str | None] | None = None,
        unconfirmed: str | None = None,
    ) -> Response:
        """The page for these fields; ``planned``: their plan, when it was just made;
        ``unconfirmed``: why the confirmation field did not confirm (said beside it)."""
        if planned is None:
            planned = await run_in_threadpool(self._plan, name, form)
        plan, problem = planned
        counts = None
        if plan is not None:
            info = plan.snapshot
            counts = await run_in_threadpool(self._counts, name, form)
        else:
            info = await run_in_threadpool(self.manager().get_snapshot, name)
            status = max(status, 400)
        return self.page(
            "restore.html",
            status=status,
            s=info,
            form=form,
            plan=plan,
            counts=counts,
            digest=plan_digest(plan) if plan else "",
            untouched=views.untouched(plan) if plan else [],
            problem=problem,
            problem_field=field_of(problem, form) if problem else None,
            refused=refused,
            unconfirmed=unconfirmed,
            job=self.jobs.busy(),
        )

    async def restore_form(self, request: Request) -> Response:
        return await self._restore_page(
            request.path_params["name"], RestoreForm.read(query(request))
        )

    async def restore_post(self, request: Request) -> Response:
        """Both buttons of the restore page: "Show what this replaces" (``action=plan``) and
        "Restore", which runs only the plan the page showed (forms.py)."""
        values = await request.form()
        if not await check_form_token(request, self.token):
            return self.error(403, "the form did not carry this server's token")
        name, form = request.path_params["name"], RestoreForm.read(values)
        if values.get("action") != "restore":
            return await self._restore_page(name, form)
        planned = plan, problem = await run_in_threadpool(self._plan, name, form)
        if plan is None:
            return await self._restore_page(
                name, form, 400, f"nothing was changed: {problem}", planned
            )
        if values.get("plan") != plan_digest(plan):
            return await self._restore_page(
                name,
                form,
                409,
                "nothing was changed: the choices above give another plan than the one shown "
                "when you confirmed; check what this replaces now, and confirm again",
                planned,
            )
        unconfirmed = confirmation_problem(values)
        if unconfirmed is not None:
            return await self._restore_page(name, form, 400, None, planned, unconfirmed)
        options, snapshot, shown = form.options(), plan.snapshot.snapshot_name, plan_digest(plan)

        def work(reporter: JobReporter) -> str:
            # The job runs the plan it makes, and only when that is the plan confirmed.
            with self.manager(reporter).restore_session(snapshot, options) as planned:
                if plan_digest(planned.plan) != shown:
                    raise InvalidInput(
                        "nothing was changed: what this restore replaces changed after you "
                        "confirmed; check what it replaces now, and confirm again"
                    )
                r = planned.execute()
            done = f"restored {r.snapshot.snapshot_name}: {r.files} files"
            if r.safety_snapshot:
                done += f"; the state before is in safety snapshot {r.safety_snapshot}"
            return done

        commits = writes_into([str(t.target) for t in plan.targets])
        return self._start(f"Restore {snapshot}", work, commits=commits)

    async def delete_form(self, request: Request) -> Response:
        m = self.manager()
        info = await run_in_threadpool(m.get_snapshot, request.path_params["name"])
        return self.page("delete.html", s=info, job=self.jobs.busy(), force=False)

    async def delete_start(self, request: Request) -> Response:
        form = await request.form()
        if not await check_form_token(request, self.token):
            return self.error(403, "the form did not carry this server's token")
        name, force = request.path_params["name"], form.get("force") == "on"
        unconfirmed = confirmation_problem(form)
        if unconfirmed is not None:  # the same form again, the tick kept, the reason beside
            info = await run_in_threadpool(self.manager().get_snapshot, name)
            return self.page(
                "delete.html",
                400,
                s=info,
                job=self.jobs.busy(),
                force=force,
                unconfirmed=unconfirmed,
            )

        def work(reporter: JobReporter) -> str:
            gone = self.manager(reporter).delete_snapshot(name, force=force)
            return f"deleted {gone.snapshot_name}"

        return self._start(f"Delete {name}", work, cancellable=False)

    async def pin(self, request: Request) -> Response:
        if not await check_form_token(request, self.token):
            return self.error(403, "the form did not carry this server's token")
        action = request.path_params["action"]
        if action not in ("pin", "unpin"):
            return self.error(404, f"there is no action {action!r}")
        name, value = request.path_params["name"], action == "pin"
        m = self.manager()
        info = await run_in_threadpool(m.pin if value else m.unpin, name)
        return RedirectResponse(f"/s/{quote(info.snapshot_name)}", 303)

    def _start(self, title: str, work: Any, **how: Any) -> Response:
        try:
            job = self.jobs.start(title, work, **how)
        except RuntimeError as e:
            return self.error(409, str(e))
        return RedirectResponse(f"/jobs/{job.id}", 303)

    async def jobs_page(self, request: Request) -> Response:
        return self.page("jobs.html", jobs=[j.as_dict() for j in self.jobs.all()])

    async def job_page(self, request: Request) -> Response:
        job = self.jobs.get(request.path_params["id"])
        if job is None:
            return self.error(404, "no such operation since this server started")
        return self.page("job.html", job=job.as_dict())

    async def job_json(self, request: Request) -> Response:
        job = self.jobs.get(request.path_params["id"])
        if job is None:
            return JSONResponse({"error": "no such operation"}, status_code=404)
        return JSONResponse(job.as_dict())

    async def job_cancel(self, request: Request) -> Response:
        if not await check_form_token(request, self.token):
            return self.error(403, "the form did not carry this server's token")
        job = self.jobs.get(request.path_params["id"])
        if job is None:
            return self.error(404, "no such operation")
        refused = job.cancel()
        if refused is not None:  # said on the job's page, which keeps following the job
            return self.page("job.html", status=409, job=job.as_dict(), refused=refused)
        return RedirectResponse(f"/jobs/{job.id}", 303)


def build(make_manager: MakeManager, token: str, hosts: set[str], port: int) -> Any:
    """The ASGI application: routes, errors as pages, and the host/token guard around it."""
    web = WebApp(make_manager, token)

    async def on_error(request: Request, exc: Exception) -> Response:
        if isinstance(exc, SnapshotNotFound | PathNotFound):
            return web.error(404, str(exc))
        if isinstance(exc, InvalidInput | NotConfirmed):
            return web.error(400, str(exc))
        assert isinstance(exc, SnapstoreError)
        return web.error(500 if exc.exit_code == 1 else 409, str(exc))

    routes = [
        Route("/", web.timeline),
        Route("/diff", web.diff),
        Route("/diff/file", web.diff_file),
        Route("/s/{name}", web.snapshot),
        Route("/s/{name}/file", web.file),
        Route("/s/{name}/raw", web.raw),
        Route("/s/{name}/versions", web.versions),
        Route("/s/{name}/collection/{collection}", web.collection),
        Route("/s/{name}/restore", web.restore_form, methods=["GET"]),
        Route("/s/{name}/restore", web.restore_post, methods=["POST"]),
        Route("/s/{name}/delete", web.delete_form, methods=["GET"]),
        Route("/s/{name}/delete", web.delete_start, methods=["POST"]),
        Route("/s/{name}/{action:str}", web.pin, methods=["POST"]),
        Route("/jobs", web.jobs_page),
        Route("/jobs/{id}.json", web.job_json),
        Route("/jobs/{id}", web.job_page),
        Route("/jobs/{id}/cancel", web.job_cancel, methods=["POST"]),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]

    async def not_found(request: Request, exc: Exception) -> Response:
        return web.error(404, f"there is no page {request.url.path}")

    async def bug(request: Request, exc: Exception) -> Response:
        # Anything else is a bug: say so on the page, keep the traceback for the terminal.
        traceback.print_exception(exc, file=sys.stderr)
        return web.error(500, f"internal error ({type(exc).__name__}); see the server's output")

    app = Starlette(
        routes=routes,
        exception_handlers={SnapstoreError: on_error, 404: not_found, Exception: bug},
    )
    return Guard(app, token, hosts, port)
