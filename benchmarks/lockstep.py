"""The steady-step cost of tb_diag on standard architectures, resolved to about ±1%: fits in lockstep.

``benchmarks/real_models.py`` times rounds of short fits, config after config; on this 2-core VM
the machine's speed drifts by ±20% between rounds a few seconds apart, so its steady ratios cannot
resolve the ±3% budget of issue 14. Here the configs' fits run **at the same time, one step each
in turn**: one thread per config, each running a real ``model.fit`` of its own copy of the model
(same seed, same data) with its own callbacks, and a baton passed at every step. Two callbacks
frame each step: the first in the list waits for the baton and starts the clock at
``on_train_batch_begin``; the last stops it at ``on_train_batch_end`` and passes the baton on. So
a step's time includes the train function (batch fetch, tb_diag's timed loop and probes) and every
other callback's batch hooks (tb_diag's flushes included); Keras' own loop between two steps is
the same code for every config and is left out. Consecutive steps of two configs are less than a
second apart, so the drift cancels in their ratio.

Per model, ONE worker process (``--worker``):

1. builds one copy per config and, in that config's thread, fits it for ``--warm-steps`` steps, copy
   after copy (traces, XLA compilation, tb_diag's second, sampled trace; the tb_diag copies keep
   them for the next fit; a traced function's first call from a new thread costs up to a second,
   so warm-up and measurement share the thread);
2. runs the lockstep fit of ``--steps`` steps per config; cycle ``c`` = step ``c`` of every config,
   in config order;
3. before it, collects garbage and freezes what is alive (``gc.freeze``): a full collection of
   several copies' objects pauses whichever step it falls in for up to a second;
4. drops the first ``SETTLE_CYCLES`` cycles (other threads' ``on_train_begin`` run beside them)
   and the last (their ``on_train_end``).

Process-global tools (``check_numerics``, ``debugger_v2_concise``) each get a worker of their own:
the tool is enabled in the tool copy's thread after the plain copy's warm-up, so only the tool's
copy is instrumented (Keras keeps each model's traced train function for its next ``fit``), then
both run in lockstep. Under XLA neither tool compiles: recorded as not supported.

Figures per config, against ``plain`` in the same cycles:

* **median ratio**: median over cycles of (config's step / plain's step), with a 95% bootstrap
  confidence interval (``real_models.median_ci``): the median step, as issue 14 budgets it;
* **mean ratio**: mean step / plain's mean step over the same cycles: what a long fit pays on
  average, sampled steps (every ``sample_every_steps``) and flushes included.

Usage::

    python benchmarks/lockstep.py --models mobilenetv2 lstm --steps 200 --write-doc
    python benchmarks/lockstep.py --models lstm --small --steps 30 --warm-steps 12   # smoke test
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any, Callable, Sequence

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
if REPO not in sys.path:
    sys.path.insert(0, REPO)

from benchmarks.overhead import machine_info, worker_env  # noqa: E402
from benchmarks.real_models import (  # noqa: E402
    PROCESS_GLOBAL_CONFIGS, all_configs, config_callbacks, known_config, describe, enable_process_global, median_ci,
    write_marked_section,
)
from benchmarks.standard_models import MODELS, build, compile_model  # noqa: E402

DOC_PATH = os.path.join(REPO, "docs", "benchmark.md")
DOC_BEGIN = "<!-- lockstep.py:begin -->"
DOC_END = "<!-- lockstep.py:end -->"
RESULT_MARKER = "LOCKSTEP_RESULT "
SETTLE_CYCLES = 5
DEFAULT_CONFIGS = ("plain", "tb_diag", "tb_diag_gradients_only", "tb_diag_nonfinite_only", "tb_diag_activations_only")


class Baton:
    """Whose turn it is to run a step: threads ``0 .. n-1`` in order, round and round.

    A thread whose fit has ended leaves the ring (``leave``), so the others never wait for it.
    """

    def __init__(self, count: int):
        self._condition = threading.Condition()
        self._turn = 0
        self._active = list(range(count))

    def wait_for(self, index: int) -> None:
        with self._condition:
            self._condition.wait_for(lambda: self._turn == index)

    def pass_on(self, index: int) -> None:
        with self._condition:
            self._turn = self._after(index)
            self._condition.notify_all()

    def leave(self, index: int) -> None:
        with self._condition:
            if index in self._active:
                if self._turn == index and len(self._active) > 1:
                    self._turn = self._after(index)
                self._active.remove(index)
                self._condition.notify_all()

    def _after(self, index: int) -> int:
        """The active thread after ``index`` in the ring (call with the condition held)."""
        return self._active[(self._active.index(index) + 1) % len(self._active)]


def _gates(keras: Any, baton: Baton, index: int, times: list[float]) -> tuple[Any, Any]:
    """The first and last callbacks of a config's fit: wait for the turn and start the clock; stop
    it and pass the turn on."""

    class StepStart(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
            baton.wait_for(index)
            self.started = time.perf_counter()

    start = StepStart()

    class StepEnd(keras.callbacks.Callback):
        def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
            times.append(time.perf_counter() - start.started)
            baton.pass_on(index)

    return start, StepEnd()


def _collect_and_freeze() -> None:
    """A full collection of several copies' objects can pause one step for most of a second,
    whichever config's step it falls in: once all are warm, collect and keep what is alive out of
    later collections."""
    gc.collect()
    gc.freeze()


def lockstep_fits(keras: Any, copies: dict[str, Any], data: dict[str, Any], steps: int, warm_steps: int,
                  callbacks: Callable[[str], list], before_warm_up: Callable[[str], None] = lambda config: None,
                  on_warmed_up: Callable[[str, float], None] = lambda config, seconds: None) -> dict[str, list[float]]:
    """Runs every copy in a thread of its own: a warm-up ``fit`` of ``warm_steps`` steps, copy after
    copy in ``copies``' order, then, once all are warm, a ``fit`` of ``steps`` steps, one step each
    in turn; returns each config's step times of that second fit.

    The warm-up runs in the same thread as the measured fit because a traced function's first call
    from a new thread costs 0.4–0.9 s on a small model. ``callbacks(config)`` gives a new callback
    list per fit; ``before_warm_up(config)`` runs in the config's thread first (enabling a
    thread-local tool such as ``enable_check_numerics`` there). A fit that raises leaves the ring;
    the first error is raised after every thread ended.
    """
    configs = list(copies)
    warm_turns, step_turns = Baton(len(configs)), Baton(len(configs))
    all_warm = threading.Barrier(len(configs), action=_collect_and_freeze)
    times: dict[str, list[float]] = {config: [] for config in configs}
    errors: dict[str, BaseException] = {}

    def run(index: int, config: str) -> None:
        start, end = _gates(keras, step_turns, index, times[config])
        try:
            warm_turns.wait_for(index)
            try:
                before_warm_up(config)
                began = time.perf_counter()
                copies[config].fit(data[config], epochs=1, steps_per_epoch=warm_steps, shuffle=False, verbose=0,
                                   callbacks=callbacks(config))
                on_warmed_up(config, time.perf_counter() - began)
            finally:
                warm_turns.leave(index)
            all_warm.wait()
            copies[config].fit(
                data[config], epochs=1, steps_per_epoch=steps, shuffle=False, verbose=0,
                callbacks=[start, *callbacks(config), end],
            )
        except BaseException as error:  # noqa: BLE001 - reported after every thread ended
            errors[config] = error
            all_warm.abort()
        finally:
            step_turns.leave(index)

    threads = [threading.Thread(target=run, args=(i, c), name=f"lockstep-{c}") for i, c in enumerate(configs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        config, error = next((c, e) for c, e in errors.items() if not isinstance(e, threading.BrokenBarrierError))
        raise RuntimeError(f"{config}: {type(error).__name__}: {error}") from error
    return times


def summarize_cycles(times: dict[str, list[float]], seed: int = 0) -> dict[str, dict]:
    """Per config, its ratios to ``plain`` over the cycles every config completed (first
    ``SETTLE_CYCLES`` and the last left out): ``median_ratio``, ``ci95``, ``mean_ratio``,
    ``step_median_s``, ``cycles``."""
    cycles = min(len(t) for t in times.values()) - 1
    kept = range(SETTLE_CYCLES, cycles)
    if len(kept) < 5:
        raise ValueError(f"only {len(kept)} cycles after settling: run more --steps")
    plain = [times["plain"][c] for c in kept]
    summary = {}
    for config, series in times.items():
        mine = [series[c] for c in kept]
        ratios = [m / p for m, p in zip(mine, plain)]
        interval = median_ci(ratios, seed=seed)
        summary[config] = {
            "median_ratio": statistics.median(ratios),
            "ci95": list(interval) if interval else None,
            "mean_ratio": statistics.fmean(mine) / statistics.fmean(plain),
            "step_median_s": statistics.median(mine),
            "cycles": len(ratios),
        }
    return summary


def run_worker(model: str, configs: Sequence[str], steps: int, warm_steps: int, seed: int = 0, small: bool = False,
               mixed_precision: bool = False) -> dict:
    """Measures ``model`` under ``configs`` (``plain`` first) in this process; see the module docstring."""
    import keras
    import tensorflow as tf

    configs = ["plain"] + [c for c in dict.fromkeys(configs) if c != "plain"]
    tools = [c for c in configs if c in PROCESS_GLOBAL_CONFIGS]
    if tools and len(configs) != 2:
        raise ValueError(f"a process-global tool runs alone with plain, got {configs}")
    if mixed_precision:
        keras.mixed_precision.set_global_policy("mixed_float16")
    log_root = tempfile.mkdtemp(prefix=f"lockstep_{model}_")
    started = time.perf_counter()
    copies, data = {}, {}
    for config in configs:
        keras.utils.set_random_seed(seed)
        net, spec = build(model, keras, small=small)
        copies[config] = compile_model(net, keras, mixed_precision=mixed_precision)
        data[config] = spec.dataset(seed=seed)
    info = {"layers": len(net.layers), "params": net.count_params(), "input_shape": list(spec.shape),
            "batch_size": spec.batch_size, "jit_compile": bool(net.jit_compile)}
    if tools and net.jit_compile:
        return {"model": model, "configs": configs, "status": "not_supported",
                "reason": "tf2xla conversion fails with op-callback instrumentation"}
    warm_up_s: dict[str, float] = {}

    def before_warm_up(config: str) -> None:
        if config in tools:  # after plain's warm-up, in the tool's own thread
            enable_process_global(config, tf, os.path.join(log_root, config))

    def on_warmed_up(config: str, seconds: float) -> None:
        warm_up_s[config] = seconds
        print(f"[lockstep] {model} {config}: warm-up {seconds:.1f}s", file=sys.stderr, flush=True)

    times = lockstep_fits(keras, copies, data, steps, warm_steps, lambda c: config_callbacks(c, keras, os.path.join(log_root, c)),
                          before_warm_up, on_warmed_up)
    return {
        "model": model, "configs": configs, "status": "ok", "model_info": info, "steps": steps,
        "warm_steps": warm_steps, "warm_up_s": warm_up_s, "times": times, "summary": summarize_cycles(times, seed),
        "threads": [tf.config.threading.get_inter_op_parallelism_threads(), tf.config.threading.get_intra_op_parallelism_threads()],
        "wall_s": time.perf_counter() - started,
    }


def _worker_subprocess(model: str, configs: Sequence[str], args: argparse.Namespace) -> dict:
    command = [sys.executable, os.path.abspath(__file__), "--worker", "--models", model, "--configs", *configs,
               "--steps", str(args.steps), "--warm-steps", str(args.warm_steps), "--seed", str(args.seed)]
    command += ["--small"] * args.small + ["--mixed-precision"] * args.mixed_precision
    try:
        completed = subprocess.run(command, capture_output=True, text=True, env=worker_env(), timeout=args.timeout)
    except subprocess.TimeoutExpired:
        return {"model": model, "configs": list(configs), "status": "error", "error": f"timed out after {args.timeout:.0f}s"}
    for line in completed.stdout.splitlines():
        if line.startswith(RESULT_MARKER):
            return json.loads(line[len(RESULT_MARKER):])
    last_line = completed.stderr.strip().splitlines()[-1][:300] if completed.stderr.strip() else "no output"
    return {"model": model, "configs": list(configs), "status": "error", "error": f"worker exited {completed.returncode}: {last_line}"}


def render_markdown(workers: list[dict], info: dict, command: str, elapsed_s: float) -> str:
    """The generated section of docs/benchmark.md."""
    lines = [
        "## Steady step in lockstep",
        "",
        "Generated by `benchmarks/lockstep.py` (protocol in its docstring). The round protocol of",
        "`real_models.py` cannot resolve ±3% on this machine, whose speed drifts ±20% within seconds;",
        "here every config's `fit` runs at the same time, one step each in turn (a thread per config,",
        "a baton passed at each step), so a config's step is compared with plain's less than a second",
        "apart.",
        "",
        f"### Run of {info['date']}",
        "",
        f"- Command: `{command}`",
        f"- Machine: {info['cpu']}, {info['cores']} cores, {info['ram']} RAM; Python {info['python']}, "
        f"TensorFlow {info.get('tensorflow')}, Keras {info.get('keras')}. Wall time {elapsed_s / 60:.1f} min.",
        "",
        "| model | config | plain step (median) | median ratio | 95% CI | mean ratio | cycles |",
        "|---|---|---:|---:|---|---:|---:|",
    ]
    for worker in workers:
        model = worker["model"]
        if worker["status"] != "ok":
            text = "not supported (XLA)" if worker["status"] == "not_supported" else "error: " + str(worker.get("error"))[:160]
            lines.append(f"| {model} | {', '.join(c for c in worker['configs'] if c != 'plain')} | {text} | | | | |")
            continue
        mi = worker["model_info"]
        label = f"{model} ({'×'.join(map(str, mi['input_shape']))} input, batch {mi['batch_size']}, {mi['params'] / 1e6:.1f}M params)"
        plain_ms = 1e3 * worker["summary"]["plain"]["step_median_s"]
        for config, figures in worker["summary"].items():
            if config == "plain":
                continue
            ci = figures["ci95"]
            lines.append(
                f"| {label} | {config} | {plain_ms:.1f} ms | {figures['median_ratio']:.3f}× | "
                + (f"{ci[0]:.3f}–{ci[1]:.3f}" if ci else "—")
                + f" | {figures['mean_ratio']:.3f}× | {figures['cycles']} |"
            )
    configs = list(dict.fromkeys(c for w in workers for c in w["configs"] if c != "plain"))
    lines += ["", "Configs: " + "; ".join(f"`{c}` = {describe(c)}" for c in configs) + ".", ""]
    return "\n".join(lines)


def write_doc(markdown: str, path: str = DOC_PATH) -> None:
    """Puts ``markdown`` between this script's markers in ``path`` (appended when absent)."""
    write_marked_section(markdown, path, DOC_BEGIN, DOC_END)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", choices=MODELS, default=["mobilenetv2", "transformer", "lstm", "embedding"])
    parser.add_argument("--configs", nargs="+", type=known_config, default=list(DEFAULT_CONFIGS),
                        help="in-process configs run together; each process-global tool gets its own worker")
    parser.add_argument("--steps", type=int, default=200, help="steps of the lockstep fit, per config")
    parser.add_argument("--warm-steps", type=int, default=12, help="steps of each copy's warm-up fit")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--small", action="store_true", help="the small model variants (smoke tests)")
    parser.add_argument("--mixed-precision", action="store_true")
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds per worker process")
    parser.add_argument("--json", default=None)
    parser.add_argument("--write-doc", action="store_true")
    parser.add_argument("--doc", default=DOC_PATH)
    parser.add_argument("--worker", action="store_true", help="internal: one model in this process")
    args = parser.parse_args(argv)
    if args.steps < SETTLE_CYCLES + 6 or args.warm_steps < 3:
        parser.error(f"--steps must be >= {SETTLE_CYCLES + 6} and --warm-steps >= 3")
    if args.worker:
        report = run_worker(args.models[0], args.configs, args.steps, args.warm_steps, args.seed, args.small, args.mixed_precision)
        print(RESULT_MARKER + json.dumps(report), flush=True)
        return 0
    info, started, workers = machine_info(), time.perf_counter(), []
    in_process = [c for c in args.configs if c not in PROCESS_GLOBAL_CONFIGS]
    tools = [c for c in args.configs if c in PROCESS_GLOBAL_CONFIGS]
    for model in args.models:
        groups = ([in_process] if [c for c in in_process if c != "plain"] else []) + [["plain", tool] for tool in tools]
        for group in groups:
            worker = _worker_subprocess(model, group, args)
            workers.append(worker)
            print(f"[lockstep] {model} {group}: {worker['status']}", file=sys.stderr, flush=True)
    command = "python benchmarks/lockstep.py " + shlex.join(argv)
    markdown = render_markdown(workers, info, command, time.perf_counter() - started)
    print(markdown)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"info": info, "command": command, "workers": workers}, f, indent=1)
    if args.write_doc:
        write_doc(markdown, args.doc)
    return 0 if all(w["status"] in ("ok", "not_supported") for w in workers) else 1


if __name__ == "__main__":
    sys.exit(main())
