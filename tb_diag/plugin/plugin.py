"""The Diagnostics tab's TensorBoard plugin: routes only (data, report, static frontend)."""

from __future__ import annotations

import logging
import mimetypes
import os
from typing import Any, Callable

import werkzeug
from tensorboard import plugin_util
from tensorboard.backend import http_util
from tensorboard.plugins import base_plugin

from tb_diag import schema
from tb_diag.plugin import run_data
from tb_diag.plugin.diagnostics import DIAGNOSTICS, Diagnostic
from tb_diag.plugin.report import run_findings, run_report
from tb_diag.plugin.warmer import CacheWarmer

STATIC_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")
STATIC_TYPES = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml", ".png": "image/png", ".woff2": "font/woff2"}
DEFAULT_MAX_POINTS = 2000
# How often the background warmer looks for runs with new data (one tag listing per run).
WARM_INTERVAL_S = 2.0
MAX_POINTS_RANGE = (10, 100_000)
_ROUTE_PREFIX = f"/data/plugin/{schema.PLUGIN_NAME}/"
_log = logging.getLogger(__name__)


class BadRequest(Exception):
    """A request the user can fix; answered with ``status`` and ``message``."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.message = message
        self.status = status


def _json_route(handler: Callable[["DiagnosticsPlugin", Any], Any]) -> Callable[["DiagnosticsPlugin", Any], Any]:
    """Wraps a handler returning JSON-able data; ``BadRequest`` becomes a 4xx ``{"error": ...}``."""

    @werkzeug.wrappers.Request.application
    def route(self: "DiagnosticsPlugin", request: Any) -> Any:
        try:
            body = handler(self, request)
        except BadRequest as error:
            return http_util.Respond(request, {"error": error.message}, "application/json", code=error.status)
        except Exception as error:  # noqa: BLE001 - the client gets a message, the server log the traceback
            _log.exception("tb_diag: %s failed", request.path)
            message = f"tb_diag could not answer this request ({type(error).__name__}); the TensorBoard server log has the details"
            return http_util.Respond(request, {"error": message}, "application/json", code=503)
        return http_util.Respond(request, body, "application/json")

    return route


class DiagnosticsPlugin(base_plugin.TBPlugin):
    """Serves tb_diag data and the bundled frontend to TensorBoard."""

    plugin_name = schema.PLUGIN_NAME

    def __init__(self, context: base_plugin.TBContext):
        self._provider = context.data_provider
        self._runs = run_data.RunCache(context.data_provider)
        # In the real tensorboard program (which passes its flags), runs are decoded and judged in
        # the background as data arrives, so the first view does not wait for a long run.
        self._warmer = CacheWarmer(self._provider, self._runs, DEFAULT_MAX_POINTS, interval_s=WARM_INTERVAL_S).start() if context.flags is not None else None

    def get_plugin_apps(self) -> dict[str, Callable]:
        apps = {"/runs": self._serve_runs, "/report": self._serve_report, "/static/*": self._serve_static}
        for diagnostic in DIAGNOSTICS:
            apps[f"/{diagnostic.name}"] = self._panel_route(diagnostic)
        return apps

    def is_active(self) -> bool:
        # TensorBoard decides activity from data_plugin_names() and the data provider.
        return False

    def data_plugin_names(self) -> tuple[str, ...]:
        return (schema.PLUGIN_NAME,)

    def frontend_metadata(self) -> base_plugin.FrontendMetadata:
        return base_plugin.FrontendMetadata(es_module_path="/static/index.js", tab_name="Diagnostics")

    @_json_route
    def _serve_runs(self, request: Any) -> dict:
        ctx, experiment = plugin_util.context(request.environ), plugin_util.experiment_id(request.environ)
        runs = []
        for run, families in run_data.list_runs(self._provider, ctx, experiment).items():
            data = self._runs.get(ctx, experiment, run)
            # Root causes only: a NaN that ends an explosion is one problem, not two.
            findings = [finding for finding in run_findings(data) if finding.caused_by is None] if data else []
            runs.append(
                {
                    "run": run,
                    "last_step": data.last_step if data else 0,
                    "families": families,
                    "error_count": sum(f.severity == "error" for f in findings),
                    "warning_count": sum(f.severity == "warning" for f in findings),
                }
            )
        return {"runs": runs}

    @_json_route
    def _serve_report(self, request: Any) -> dict:
        return run_report(self._load_requested_run(request))

    def _panel_route(self, diagnostic: Diagnostic) -> Callable:
        """``GET <diagnostic>?run=&max_points=``: the data of that diagnostic's panel."""

        def serve(self: "DiagnosticsPlugin", request: Any) -> dict:
            max_points = _int_arg(request, "max_points", DEFAULT_MAX_POINTS, MAX_POINTS_RANGE)
            data = self._load_requested_run(request)
            payload = diagnostic.panel(data, max_points)
            if payload is None:
                raise BadRequest(f"run {data.run[:200]!r} has no {diagnostic.name} data", 404)
            return payload

        return _json_route(serve).__get__(self)

    @werkzeug.wrappers.Request.application
    def _serve_static(self, request: Any) -> werkzeug.Response:
        relative = request.path[len(_ROUTE_PREFIX + "static/") :] if request.path.startswith(_ROUTE_PREFIX + "static/") else ""
        path = _static_file(relative)
        if path is None:
            return http_util.Respond(request, {"error": f"no such file: {relative[:200]!r}"}, "application/json", code=404)
        content_type = STATIC_TYPES.get(os.path.splitext(path)[1]) or mimetypes.guess_type(path)[0] or "application/octet-stream"
        with open(path, "rb") as file:
            return http_util.Respond(request, file.read(), content_type)

    def _load_requested_run(self, request: Any) -> run_data.RunData:
        run = request.args.get("run")
        if not run:
            raise BadRequest("missing query parameter 'run' (a run name from the 'runs' route)")
        ctx, experiment = plugin_util.context(request.environ), plugin_util.experiment_id(request.environ)
        data = self._runs.get(ctx, experiment, run)
        if data is None:
            raise BadRequest(f"unknown run {run[:200]!r}: it has no tb_diag data", 404)
        return data


def _int_arg(request: Any, name: str, default: int, allowed: tuple[int, int]) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"query parameter {name!r} must be an integer, got {raw[:50]!r}") from None
    if not allowed[0] <= value <= allowed[1]:
        raise BadRequest(f"query parameter {name!r} must be between {allowed[0]} and {allowed[1]}, got {value}")
    return value


def _static_file(relative: str) -> str | None:
    """The bundled file at ``relative``, or ``None`` if it is not a file inside the bundle."""
    if not relative or "\\" in relative or "\0" in relative:
        return None
    root = os.path.realpath(STATIC_DIR)
    path = os.path.realpath(os.path.join(root, relative))
    if os.path.commonpath([root, path]) != root or not os.path.isfile(path):
        return None
    return path
