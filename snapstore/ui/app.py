"""The web view's routes: a thin layer over ``SnapshotManager``, like the CLI.

Pages are rendered on the server (Jinja2 templates in ``templates/``); the only script is
the timeline chart (uPlot, vendored in ``static/`` with its licence) and the job page's
polling. Reads go straight to the manager; actions that change data go through a
confirmation page that shows what will be replaced, then run as jobs (``jobs.py``) whose
progress the browser polls and which can be cancelled.
"""

from __future__ import annotations

import itertools
import json
import sys
import traceback
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    JSONResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from snapstore.errors import (
    InvalidInput,
    NotConfirmed,
    PathNotFound,
    SnapshotNotFound,
    SnapstoreError,
)
from snapstore.manager import SnapshotManager
from snapstore.reporting import Reporter
from snapstore.ui import views
from snapstore.ui.jobs import JobReporter, JobRunner
from snapstore.ui.security import Guard, check_form_token

HERE = Path(__file__).parent
PAGE_SIZE = 50  # documents per page of a collection


class WebApp:
    """Routes bound to one repository (through ``make_manager``) and one token."""

    def __init__(self, make_manager: Any, token: str) -> None:
        self.make_manager = make_manager  # (reporter) -> SnapshotManager
        self.token = token
        self.jobs = JobRunner()
        self.env = Environment(
            loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape()
        )
        self.env.filters["size"] = views.size
        self.env.filters["q"] = lambda s: quote(str(s), safe="")

    def manager(self, reporter: Reporter | None = None) -> SnapshotManager:
        return self.make_manager(reporter or Reporter())

    def page(self, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        html = self.env.get_template(template).render(token=self.token, **context)
        return HTMLResponse(html, status_code=status)

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

    async def snapshot(self, request: Request) -> Response:
        name = request.path_params["name"]
        path = request.query_params.get("path", "")
        m = self.manager()
        info = await run_in_threadpool(m.get_snapshot, name)
        entries = []
        if info.includes_bulk:
            entries = await run_in_threadpool(lambda: list(m.ls(info.snapshot_name, path)))
        return self.page(
            "snapshot.html",
            s=info,
            path=path,
            crumbs=views.crumbs(path),
            entries=entries,
            meta=json.dumps(info.metadata, indent=2, ensure_ascii=False),
        )

    async def file(self, request: Request) -> Response:
        name, path = request.path_params["name"], request.query_params.get("path", "")
        m = self.manager()
        [entry] = await run_in_threadpool(lambda: list(m.ls(name, path)))
        if entry.type == "dir":
            return RedirectResponse(f"/s/{quote(name)}?path={quote(path)}", 303)
        text = None
        if entry.type == "file" and entry.size <= views.PREVIEW_LIMIT:
            data = b"".join(await run_in_threadpool(lambda: list(m.cat(name, path))))
            if views.looks_like_text(data[:8192]):
                text = data.decode("utf-8", "replace")
        return self.page(
            "file.html", name=entry.snapshot, entry=entry, text=text, crumbs=views.crumbs(path)
        )

    async def raw(self, request: Request) -> Response:
        name, path = request.path_params["name"], request.query_params.get("path", "")
        m = self.manager()
        pieces = await run_in_threadpool(lambda: m.cat(name, path))
        first = await run_in_threadpool(lambda: next(pieces, b""))  # errors before the headers
        filename = path.rsplit("/", 1)[-1] or "file"
        headers = {"Content-Disposition": f"attachment; filename*=UTF-8''{quote(filename)}"}
        return StreamingResponse(
            itertools.chain([first], pieces), media_type="application/octet-stream", headers=headers
        )

    async def collection(self, request: Request) -> Response:
        name, coll = request.path_params["name"], request.path_params["collection"]
        try:
            page = max(0, int(request.query_params.get("page", "0")))
        except ValueError:
            raise InvalidInput("page must be a number") from None
        m = self.manager()
        info = await run_in_threadpool(m.get_snapshot, name)
        lines, total = await run_in_threadpool(
            m.documents, info.snapshot_name, coll, page * PAGE_SIZE, PAGE_SIZE
        )
        docs = [json.dumps(json.loads(line), indent=1, ensure_ascii=False) for line in lines]
        pages = max(1, -(-total // PAGE_SIZE))
        return self.page(
            "collection.html", s=info, coll=coll, docs=docs, page=page, pages=pages, total=total
        )

    async def diff(self, request: Request) -> Response:
        m = self.manager()
        snaps = await run_in_threadpool(m.list_snapshots)
        a, b = request.query_params.get("a"), request.query_params.get("b")
        result = None
        if a and b:
            result = views.diff_view(await run_in_threadpool(m.diff, a, b))
        return self.page("diff.html", snaps=snaps, a=a, b=b, d=result)

    # -- actions -------------------------------------------------------------------------------

    def _restore_options(self, values: Any) -> dict[str, Any]:
        collection = (values.get("collection") or "").strip()
        target = (values.get("target") or "").strip()
        # restore --include: paths or globs of the bulk tree, comma-separated.
        include = [p.strip() for p in (values.get("include") or "").split(",") if p.strip()]
        chosen = "scope" in values  # the scope was chosen: an unticked box is simply absent
        return {
            "restore_bulk": values.get("bulk") == "on" if chosen else True,
            "restore_db": values.get("db") == "on" if chosen else True,
            "target": target or None,
            "collections": [collection] if collection else None,
            "include": include or None,
        }

    async def restore_form(self, request: Request) -> Response:
        name = request.path_params["name"]
        opts = self._restore_options(request.query_params)
        m = self.manager()
        plan = await run_in_threadpool(lambda: m.plan_restore(name, **opts))
        return self.page("restore.html", plan=plan, opts=opts, job=self.jobs.busy())

    async def restore_start(self, request: Request) -> Response:
        form = await request.form()
        if not await check_form_token(request, self.token):
            return self.error(403, "the form did not carry this server's token")
        if (form.get("confirm") or "").strip() != "yes":
            raise NotConfirmed("type yes to confirm: nothing was changed")
        name = request.path_params["name"]
        opts = self._restore_options(form)

        def work(reporter: JobReporter) -> str:
            r = self.manager(reporter).restore_snapshot(name, confirm=True, **opts)
            done = f"restored {r.snapshot.snapshot_name}: {r.files} files"
            if r.safety_snapshot:
                done += f"; the state before is in safety snapshot {r.safety_snapshot}"
            return done

        return self._start(f"Restore {name}", work)

    async def delete_form(self, request: Request) -> Response:
        m = self.manager()
        info = await run_in_threadpool(m.get_snapshot, request.path_params["name"])
        return self.page("delete.html", s=info, job=self.jobs.busy())

    async def delete_start(self, request: Request) -> Response:
        form = await request.form()
        if not await check_form_token(request, self.token):
            return self.error(403, "the form did not carry this server's token")
        if (form.get("confirm") or "").strip() != "yes":
            raise NotConfirmed("type yes to confirm: nothing was changed")
        name, force = request.path_params["name"], form.get("force") == "on"

        def work(reporter: JobReporter) -> str:
            gone = self.manager(reporter).delete_snapshot(name, force=force)
            return f"deleted {gone.snapshot_name}"

        return self._start(f"Delete {name}", work)

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

    def _start(self, title: str, work: Any) -> Response:
        try:
            job = self.jobs.start(title, work)
        except RuntimeError as e:
            return self.error(409, str(e))
        return RedirectResponse(f"/jobs/{job.id}", 303)

    async def job_page(self, request: Request) -> Response:
        job = self.jobs.get(request.path_params["id"])
        if job is None:
            return self.error(404, "no such operation (the server keeps the last 20)")
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
        job.cancel_requested.set()
        job.log("cancel requested: stopping at the next step")
        return RedirectResponse(f"/jobs/{job.id}", 303)


def build(make_manager: Any, token: str, hosts: set[str]) -> Any:
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
        Route("/s/{name}", web.snapshot),
        Route("/s/{name}/file", web.file),
        Route("/s/{name}/raw", web.raw),
        Route("/s/{name}/collection/{collection}", web.collection),
        Route("/s/{name}/restore", web.restore_form, methods=["GET"]),
        Route("/s/{name}/restore", web.restore_start, methods=["POST"]),
        Route("/s/{name}/delete", web.delete_form, methods=["GET"]),
        Route("/s/{name}/delete", web.delete_start, methods=["POST"]),
        Route("/s/{name}/{action:str}", web.pin, methods=["POST"]),
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
    return Guard(app, token, hosts)
