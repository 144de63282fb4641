"""The viewer at scale: a synthetic 1000-layer x 100 000-step log dir served by the real tensorboard.

Measures, against ``python -m tensorboard.main`` (the tb_diag plugin loaded as usual):

* how long TensorBoard takes to load the log dir (and tb_diag's background warmer to decode and
  judge it): until tensorboard and its data server have been idle for 5 s with the run listed
  (longer than the warmer's 2 s poll, so a pass it was about to make has started and finished);
* the first ``report`` response after that (what the Overview waits for), then the median of
  ``--repeats`` more; the same for ``runs`` and the gradients view (``gradients``, default
  ``max_points``), with its size;
* the memory of tensorboard's Python process (where tb_diag runs) and of its data server
  (``VmRSS`` now, ``VmHWM`` peak, from /proc);
* with ``--browser``: headless Chromium opening the tab (``frontend/e2e/heatmap_scale.mjs``):
  milliseconds from the gradients response to the heatmap drawn, and from page load to drawn;
* in this process, for comparison: decoding and judging the run from scratch (no cache), which is
  what the first request would cost without the warmer.

Usage::

    python benchmarks/scale.py --layers 1000 --steps 100000 --browser   # ~1.2 GB log dir, a few minutes
    python benchmarks/scale.py --layers 50 --steps 2000                  # quick look
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from synthetic_logdir import write_synthetic_run  # noqa: E402
from tensorboard_server import free_port  # noqa: E402

RUN = "synthetic/train"
REPO = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


def ensure_logdir(layers: int, steps: int, logdir: str | None) -> str:
    """The synthetic log dir for this size, written once and reused (under the temp dir)."""
    logdir = logdir or os.path.join(tempfile.gettempdir(), f"tb_diag_scale_{layers}x{steps}")
    marker = os.path.join(logdir, "complete")
    if not os.path.exists(marker):
        started = time.perf_counter()
        planted = write_synthetic_run(os.path.join(logdir, "synthetic", "train"), layers, steps)
        with open(marker, "w") as f:
            json.dump(planted, f)
        print(f"wrote the log dir ({planted['bytes'] / 1e6:.0f} MB) in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return logdir


def _stat(pid: int) -> list[str]:
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants: tensorboard and its data server (``tensorboard-data-server``
    reads the event files in its own process)."""
    parents = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                parents[int(name)] = int(_stat(int(name))[1])
            except OSError:
                continue
    tree, frontier = [pid], [pid]
    while frontier:
        frontier = [child for child, parent in parents.items() if parent in frontier]
        tree += frontier
    return tree


def cpu_seconds(pid: int) -> float:
    """CPU time of ``pid`` and its descendants."""
    total = 0.0
    for member in process_tree(pid):
        try:
            fields = _stat(member)
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def memory_mb(pid: int) -> dict[str, dict[str, float]]:
    """``{process name: {"VmRSS", "VmHWM"}}`` in MB for tensorboard and its data server."""
    result = {}
    for member in process_tree(pid):
        values, name = {}, str(member)
        try:
            with open(f"/proc/{member}/status") as f:
                for line in f:
                    key, _, rest = line.partition(":")
                    if key == "Name":
                        name = rest.strip()
                    if key in ("VmRSS", "VmHWM"):
                        values[key] = int(rest.split()[0]) / 1024
        except OSError:
            continue
        result[name] = values
    return result


def wait_until_idle(pid: int, base: str, idle_s: float = 5.0, timeout_s: float = 1800) -> float:
    """Seconds until tensorboard lists the run and has used < 5% CPU for ``idle_s``."""
    started = time.monotonic()
    quiet_since = None
    previous = cpu_seconds(pid)
    while time.monotonic() - started < timeout_s:
        time.sleep(0.5)
        now = cpu_seconds(pid)
        busy = (now - previous) / 0.5 > 0.05
        previous = now
        try:
            with urllib.request.urlopen(f"{base}/data/runs", timeout=5) as response:
                listed = RUN in json.loads(response.read())
        except OSError:
            listed = False
        if not listed or busy:
            quiet_since = None
            continue
        quiet_since = quiet_since or time.monotonic()
        if time.monotonic() - quiet_since >= idle_s:
            return quiet_since - started
    raise TimeoutError("tensorboard never went idle")


def timed_get(url: str) -> tuple[float, int]:
    started = time.perf_counter()
    with urllib.request.urlopen(url, timeout=600) as response:
        body = response.read()
        assert response.status == 200, body[:300]
    return (time.perf_counter() - started) * 1000, len(body)


def measure_routes(base: str, repeats: int) -> dict:
    prefix = f"{base}/data/plugin/tb_diag"
    routes = {"report": f"{prefix}/report?run={RUN}", "runs": f"{prefix}/runs", "gradients": f"{prefix}/gradients?run={RUN}"}
    results = {}
    for name, url in routes.items():
        first, size = timed_get(url)
        again = [timed_get(url)[0] for _ in range(repeats)]
        results[name] = {"first_ms": first, "median_ms": statistics.median(again), "bytes": size}
    return results


def measure_browser(base: str, repeats: int) -> dict | None:
    script = os.path.join(REPO, "frontend", "e2e", "heatmap_scale.mjs")
    output = subprocess.run(["node", script, base, RUN, str(repeats)], cwd=os.path.join(REPO, "frontend"), capture_output=True, text=True, timeout=900)
    for line in output.stdout.splitlines():
        if line.startswith("HEATMAP_RESULT "):
            return json.loads(line[len("HEATMAP_RESULT ") :])
    raise RuntimeError(f"heatmap_scale.mjs gave no result:\n{output.stdout[-2000:]}\n{output.stderr[-2000:]}")


def measure_cold(logdir: str) -> dict:
    """Decode and judge the run in this process from scratch: the first request without the warmer."""
    from tb_diag.plugin import report
    from tb_diag.plugin.diagnostics import gradients
    from tb_diag.plugin.run_data import load_run, open_logdir
    from tensorboard import context as context_lib

    provider = open_logdir(logdir)
    ctx = context_lib.RequestContext()
    started = time.perf_counter()
    data = load_run(provider, ctx, "", RUN)
    decoded = time.perf_counter()
    report.run_report(data)
    judged = time.perf_counter()
    gradients.panel_payload(data, 2000)
    viewed = time.perf_counter()
    return {"decode_s": decoded - started, "report_s": judged - decoded, "gradients_view_s": viewed - judged}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--layers", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument("--logdir", help="reuse/write the synthetic log dir here")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--browser", action="store_true", help="also time the heatmap in headless Chromium")
    parser.add_argument("--cold", action="store_true", help="also decode and judge from scratch in this process")
    args = parser.parse_args()

    logdir = ensure_logdir(args.layers, args.steps, args.logdir)
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "tensorboard.main", "--logdir", logdir, "--host", "127.0.0.1", "--port", str(port), "--reload_interval", "5"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        loaded_s = wait_until_idle(server.pid, base)
        after_load = memory_mb(server.pid)
        routes = measure_routes(base, args.repeats)
        browser = measure_browser(base, args.repeats) if args.browser else None
        after_requests = memory_mb(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=30)
    cold = measure_cold(logdir) if args.cold else None
    result = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}",
        "layers": args.layers,
        "steps": args.steps,
        "logdir_mb": sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(logdir) for f in fs) / 1e6,
        "load_and_warm_s": loaded_s,
        "memory_after_load_mb": after_load,
        "memory_after_requests_mb": after_requests,
        "routes": routes,
        "browser": browser,
        "cold": cold,
    }
    print("SCALE_RESULT " + json.dumps(result))


if __name__ == "__main__":
    main()
