"""Prepares what the tab's first view asks for as soon as TensorBoard has new data.

Decoding a long run (1000 layers x 100 000 steps is 1.2 GB of float32) and judging it takes
seconds; done on the first request, the Overview would wait for it. The warmer does it in a
background thread right after TensorBoard's loader has read new data, so the first request finds
the decoded run, its report and the default views of the diagnostics marked ``prepare`` in the
registry (the gradients heatmap) in ``RunCache``.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from typing import Any

from tensorboard import context as context_lib

from tb_diag.plugin import run_data
from tb_diag.plugin.diagnostics import DIAGNOSTICS
from tb_diag.plugin.report import run_findings, run_report

_log = logging.getLogger(__name__)


class CacheWarmer:
    """Every ``interval_s``, decodes the runs whose data changed and computes their report and the
    default views (``max_points`` buckets) of the diagnostics marked ``prepare`` into ``runs``' cache.

    A run whose data did not change costs one listing of its tags. A run that keeps changing
    (live training) is prepared again at most every ``BUSY_FACTOR`` times as long as its last
    preparation took, so a long live run costs TensorBoard at most ~10% of a core in the
    background. Failures are logged once and never reach TensorBoard; the request path computes
    the same values itself.
    """

    BUSY_FACTOR = 10

    def __init__(self, provider: Any, runs: run_data.RunCache, max_points: int, interval_s: float = 5.0):
        self._provider = provider
        self._runs = runs
        self._max_points = max_points
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._failed = False
        self._last: dict[str, tuple[float, float]] = {}  # run -> (monotonic start, seconds it took)

    def start(self) -> "CacheWarmer":
        """Starts the background thread (a daemon: it never keeps TensorBoard from exiting)."""
        threading.Thread(target=self._loop, name="tb_diag-cache-warmer", daemon=True).start()
        return self

    def stop(self) -> None:
        """Ends the background thread after its current pass."""
        self._stop.set()

    def warm_once(self) -> list[str]:
        """One pass over every run; returns the runs that have tb_diag data."""
        ctx = context_lib.RequestContext()
        warmed = []
        for run in run_data.list_runs(self._provider, ctx, ""):
            started, took = self._last.get(run, (-math.inf, 0.0))
            if time.monotonic() - started < self.BUSY_FACTOR * took:
                continue
            started = time.monotonic()
            data = self._runs.get(ctx, "", run)
            if data is None:
                continue
            run_report(data)
            run_findings(data)
            for diagnostic in DIAGNOSTICS:
                if diagnostic.prepare:
                    diagnostic.panel(data, self._max_points)
            self._last[run] = (started, time.monotonic() - started)
            warmed.append(run)
        return warmed

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.warm_once()
            except Exception:  # noqa: BLE001 - a warm-up failure must never take TensorBoard down
                if not self._failed:
                    _log.warning("tb_diag: preparing runs in the background failed; requests will compute them", exc_info=True)
                    self._failed = True
            self._stop.wait(self._interval_s)
