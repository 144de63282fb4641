"""Training-step overhead of tb_diag versus plain ``model.fit`` and other debugging tools (CPU).

Every measurement runs in a fresh subprocess (``--worker``), because Debugger V2 and
``tf.debugging.enable_check_numerics`` are process-global and cannot be undone. Each worker builds
the model, runs ``--warmup`` steps (tracing excluded) and times ``--steps`` steps with a small
callback (``time.perf_counter`` deltas between consecutive ``on_train_batch_end``), all inside ONE
``fit`` call so that every configuration traces exactly once.

Runs alternate: for each of ``--rounds`` rounds every (model, jit, config) job runs once, in an
order shuffled with a fixed seed; each config's median step time is divided by the ``plain``
median of the SAME round, model and jit mode. The report gives the median of those per-round
ratios and their min–max.

Usage::

    python benchmarks/overhead.py                      # full run, prints a Markdown table
    python benchmarks/overhead.py --jit --write-doc    # also jit_compile=True, writes docs/benchmark.md
    python benchmarks/overhead.py --quick              # smoke test (< 2 minutes)

From Python (e.g. a pytest smoke test)::

    from benchmarks.overhead import run_worker, run_worker_subprocess
    run_worker_subprocess("mlp", "tb_diag", steps=10, warmup=3)["median_s"] > 0   # fresh process
    run_worker("mlp", "plain", steps=10, warmup=3)["median_s"] > 0                # in this process

(``run_worker`` in-process is fine for ``plain``/``tb_diag``/``keras_tensorboard``; the Debugger V2 and
check_numerics configs change the whole process for good, so use ``run_worker_subprocess`` for them.)
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import random
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any, Sequence

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
DOC_PATH = os.path.join(REPO, "docs", "benchmark.md")
RESULT_MARKER = "OVERHEAD_RESULT "
DOC_BEGIN = "<!-- overhead.py:begin -->"
DOC_END = "<!-- overhead.py:end -->"

MODELS = ("cnn", "mlp")
STRATEGIES = ("none", "mirrored")
BATCH_SIZE = {"cnn": 64, "mlp": 128}

# Order = table order. "tb_diag_no_probes" is DiagnosticsCallback(tmpdir, probes=[]): hook + retrace +
# writer, but no probe ops: the difference to "tb_diag" is what the probes themselves cost.
CONFIGS = (
    "plain",
    "tb_diag",
    "tb_diag_no_probes",
    "tb_diag_input_only",
    "tb_diag_nonfinite_only",
    "tb_diag_sample_every_step",
    "keras_tensorboard",
    "debugger_v2_full",
    "debugger_v2_concise",
    "check_numerics",
)
DEFAULT_CONFIGS = CONFIGS
QUICK_CONFIGS = CONFIGS

DESCRIPTION = {
    "plain": "`model.fit`, no callbacks (baseline)",
    "tb_diag": "`DiagnosticsCallback(tmpdir)` (defaults: all probes)",
    "tb_diag_no_probes": "`DiagnosticsCallback(tmpdir, probes=[])` (hook + retrace + timed loop only)",
    "tb_diag_input_only": "`DiagnosticsCallback(tmpdir, probes=[\"input\"])` (input wait only)",
    "tb_diag_nonfinite_only": "`DiagnosticsCallback(tmpdir, probes=[\"nonfinite\"])` (NaN/Inf detection and origin only)",
    "tb_diag_sample_every_step": "`DiagnosticsCallback(tmpdir, sample_every_steps=1)` (weight norms and update ratios every step too)",
    "keras_tensorboard": "`keras.callbacks.TensorBoard(tmpdir, histogram_freq=1)`",
    "debugger_v2_full": "Debugger V2 `FULL_HEALTH`, `circular_buffer_size=-1`",
    "debugger_v2_concise": "Debugger V2 `CONCISE_HEALTH`, `circular_buffer_size=-1`",
    "check_numerics": "`tf.debugging.enable_check_numerics()`",
}

# Budget (tb_diag) and anchors (others) from /work/shared/DESIGN.md, "Anchors to beat".
BUDGET = {
    "tb_diag": ("≤ 1.05× (gradients 1.03 + input 1.02)", 1.05),
    "tb_diag_no_probes": ("—", None),
    "tb_diag_input_only": ("≤ 1.02× (budget)", 1.02),
    "tb_diag_nonfinite_only": ("≤ 1.05× (budget)", 1.05),
    "tb_diag_sample_every_step": ("—", None),
    "keras_tensorboard": ("anchor ≈ 1.01×", None),
    "debugger_v2_full": ("anchor 3.4–7.8×", None),
    "debugger_v2_concise": ("anchor 1.7–2.0×", None),
    "check_numerics": ("anchor 1.8–2.3×", None),
}

# Debugger V2 and check_numerics instrument ops through op callbacks; under jit_compile=True the
# train step then fails to compile ("tf2xla conversion failed", checked with TF 2.21 / Keras 3.15),
# so they are recorded as "not supported" instead of being run.
SUPPORTS_JIT = {
    "plain": True,
    "tb_diag": True,
    "tb_diag_no_probes": True,
    "tb_diag_input_only": True,
    "tb_diag_nonfinite_only": True,
    "tb_diag_sample_every_step": True,
    "keras_tensorboard": True,
    "debugger_v2_full": False,
    "debugger_v2_concise": False,
    "check_numerics": False,
}


# ---------------------------------------------------------------------------------------------
# Worker: one configuration, one model, measured in the current process.
# ---------------------------------------------------------------------------------------------


def _build_model(keras: Any, name: str) -> Any:
    if name == "cnn":
        return keras.Sequential(
            [
                keras.Input((28, 28, 1)),
                keras.layers.Conv2D(32, 3, activation="relu"),
                keras.layers.MaxPooling2D(),
                keras.layers.Conv2D(64, 3, activation="relu"),
                keras.layers.MaxPooling2D(),
                keras.layers.Flatten(),
                keras.layers.Dense(128, activation="relu"),
                keras.layers.Dense(10),
            ]
        )
    if name == "mlp":
        return keras.Sequential(
            [
                keras.Input((784,)),
                keras.layers.Dense(256, activation="relu"),
                keras.layers.Dense(256, activation="relu"),
                keras.layers.Dense(10),
            ]
        )
    raise ValueError(f"unknown model {name!r}; choose from {MODELS}")


def _dataset(tf: Any, np: Any, model: str, seed: int, batches: int = 16) -> Any:
    """A fixed, in-memory synthetic dataset of ``batches`` batches, repeated forever."""
    rng = np.random.default_rng(seed)
    batch = BATCH_SIZE[model]
    shape = (28, 28, 1) if model == "cnn" else (784,)
    x = rng.standard_normal((batches * batch, *shape), dtype=np.float32)
    y = rng.integers(0, 10, size=(batches * batch,)).astype(np.int32)
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(batch, drop_remainder=True).cache().repeat()


def run_worker(
    model: str,
    config: str,
    steps: int = 200,
    warmup: int = 30,
    jit: bool = False,
    seed: int = 0,
    log_dir: str | None = None,
    strategy: str = "none",
) -> dict:
    """Measures one configuration in THIS process and returns a JSON-able dict.

    Keys: ``status`` ("ok" / "not_supported"), ``median_s`` and ``mean_s`` (per-step seconds over
    the timed steps), ``p90_s``, ``step_times_s``, plus what was run. Debugger V2 / check_numerics
    stay enabled for the rest of the process: call this through ``run_worker_subprocess`` for them.
    ``strategy="mirrored"`` trains under ``MirroredStrategy`` over two logical CPU devices (set up
    here, so TensorFlow must not have run anything in this process yet).
    """
    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}; choose from {MODELS}")
    if config not in CONFIGS:
        raise ValueError(f"unknown config {config!r}; choose from {CONFIGS}")
    if steps < 1 or warmup < 1:
        raise ValueError("steps and warmup must be >= 1")
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; choose from {STRATEGIES}")
    result: dict[str, Any] = {"model": model, "config": config, "jit": bool(jit), "steps": steps, "warmup": warmup, "strategy": strategy}
    if jit and not SUPPORTS_JIT[config]:
        result.update(status="not_supported", reason="tf2xla conversion fails with op-callback instrumentation")
        return result

    import numpy as np
    import tensorflow as tf
    import keras

    scope: Any = contextlib.nullcontext()
    if strategy == "mirrored":
        tf.config.set_logical_device_configuration(
            tf.config.list_physical_devices("CPU")[0], [tf.config.LogicalDeviceConfiguration()] * 2
        )
        scope = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]).scope()
    own_dir = log_dir is None
    log_dir = tempfile.mkdtemp(prefix=f"overhead_{config}_") if own_dir else log_dir
    try:
        keras.utils.set_random_seed(seed)
        callbacks: list[Any] = []
        if config == "tb_diag":
            from tb_diag import DiagnosticsCallback

            callbacks.append(DiagnosticsCallback(log_dir))
        elif config == "tb_diag_no_probes":
            from tb_diag import DiagnosticsCallback

            callbacks.append(DiagnosticsCallback(log_dir, probes=[]))
        elif config == "tb_diag_input_only":
            from tb_diag import DiagnosticsCallback

            callbacks.append(DiagnosticsCallback(log_dir, probes=["input"]))
        elif config == "tb_diag_nonfinite_only":
            from tb_diag import DiagnosticsCallback

            callbacks.append(DiagnosticsCallback(log_dir, probes=["nonfinite"]))
        elif config == "tb_diag_sample_every_step":
            from tb_diag import DiagnosticsCallback

            callbacks.append(DiagnosticsCallback(log_dir, sample_every_steps=1))
        elif config == "keras_tensorboard":
            callbacks.append(keras.callbacks.TensorBoard(log_dir, histogram_freq=1))
        elif config == "debugger_v2_full":
            tf.debugging.experimental.enable_dump_debug_info(
                log_dir, tensor_debug_mode="FULL_HEALTH", circular_buffer_size=-1
            )
        elif config == "debugger_v2_concise":
            tf.debugging.experimental.enable_dump_debug_info(
                log_dir, tensor_debug_mode="CONCISE_HEALTH", circular_buffer_size=-1
            )
        elif config == "check_numerics":
            tf.debugging.enable_check_numerics()

        with scope:
            net = _build_model(keras, model)
            net.compile(
                optimizer=keras.optimizers.Adam(1e-3),
                loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                jit_compile=bool(jit),
            )
        timer = _StepTimer(keras, warmup)
        data = _dataset(tf, np, model, seed)
        # One fit: warm-up (incl. tracing) and timed steps share one trace, as in real training.
        # The timer goes last so a callback's own on_train_batch_end work counts in its step.
        net.fit(
            data, epochs=1, steps_per_epoch=warmup + steps, shuffle=False, verbose=0, callbacks=callbacks + [timer]
        )
        times = timer.step_times
        if len(times) != steps:
            raise RuntimeError(f"timed {len(times)} steps, expected {steps}")
        result.update(
            status="ok",
            median_s=statistics.median(times),
            mean_s=statistics.fmean(times),
            p90_s=sorted(times)[int(0.9 * (len(times) - 1))],
            step_times_s=times,
            inter_op_threads=tf.config.threading.get_inter_op_parallelism_threads(),
            intra_op_threads=tf.config.threading.get_intra_op_parallelism_threads(),
            loadavg_end=os.getloadavg()[0],
        )
        return result
    finally:
        if config.startswith("debugger_v2"):
            try:
                tf.debugging.experimental.disable_dump_debug_info()
            except Exception:  # noqa: BLE001 - best effort, the process is about to end anyway
                pass
        if own_dir:
            shutil.rmtree(log_dir, ignore_errors=True)


def _StepTimer(keras: Any, warmup: int) -> Any:
    """A callback recording ``perf_counter`` deltas between batch ends, after ``warmup`` batches."""

    class StepTimer(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.step_times: list[float] = []
            self._last: float | None = None

        def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
            now = time.perf_counter()
            if batch >= warmup and self._last is not None:
                self.step_times.append(now - self._last)
            if batch >= warmup - 1:
                self._last = now

    return StepTimer()


def worker_env(inter_threads: int | None = None, intra_threads: int | None = None) -> dict:
    """The environment every worker gets: identical for all configs."""
    env = dict(os.environ)
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    env.setdefault("PYTHONHASHSEED", "0")
    for var, value in (("TF_NUM_INTEROP_THREADS", inter_threads), ("TF_NUM_INTRAOP_THREADS", intra_threads)):
        if value is not None:
            env[var] = str(value)
    # Make `import tb_diag` work even when not installed (it is installed editable here).
    env["PYTHONPATH"] = REPO + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def run_worker_subprocess(
    model: str,
    config: str,
    steps: int = 200,
    warmup: int = 30,
    jit: bool = False,
    seed: int = 0,
    inter_threads: int | None = None,
    intra_threads: int | None = None,
    timeout: float = 1800.0,
    strategy: str = "none",
) -> dict:
    """Runs ``run_worker`` in a fresh ``python benchmarks/overhead.py --worker`` process.

    Returns the worker's dict; on failure ``{"status": "error", "error": ...}`` (never raises for a
    failing worker, so one broken config does not end a whole benchmark).
    """
    cmd = [
        sys.executable, os.path.abspath(__file__), "--worker",
        "--model", model, "--config", config, "--steps", str(steps), "--warmup", str(warmup),
        "--seed", str(seed), "--strategy", strategy,
    ] + (["--jit"] if jit else [])
    base = {"model": model, "config": config, "jit": bool(jit), "steps": steps, "warmup": warmup}
    started = time.perf_counter()
    try:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout, env=worker_env(inter_threads, intra_threads), cwd=REPO
        )
    except subprocess.TimeoutExpired:
        return {**base, "status": "error", "error": f"timeout after {timeout:.0f}s"}
    wall = time.perf_counter() - started
    for line in proc.stdout.splitlines():
        if line.startswith(RESULT_MARKER):
            result = json.loads(line[len(RESULT_MARKER):])
            result["process_wall_s"] = wall
            return result
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-15:]
    return {**base, "status": "error", "error": f"exit code {proc.returncode}: " + " | ".join(tail)}


# ---------------------------------------------------------------------------------------------
# Orchestrator: alternating rounds, ratios per round, Markdown report.
# ---------------------------------------------------------------------------------------------


def run_benchmark(
    models: Sequence[str],
    configs: Sequence[str],
    jit_modes: Sequence[bool],
    rounds: int,
    steps: int,
    warmup: int,
    seed: int,
    inter_threads: int | None,
    intra_threads: int | None,
    log: Any = sys.stderr,
    strategy: str = "none",
) -> dict:
    """Runs every job once per round in a shuffled order; returns raw results plus load samples."""
    if "plain" not in configs:
        configs = ["plain", *configs]
    jobs = [(jit, model, config) for jit in jit_modes for model in models for config in configs]
    rng = random.Random(seed)
    results: list[dict] = []
    load_samples = [os.getloadavg()]
    started = time.perf_counter()
    for round_index in range(rounds):
        order = jobs[:]
        rng.shuffle(order)
        for jit, model, config in order:
            if jit and not SUPPORTS_JIT[config]:
                result = {"model": model, "config": config, "jit": True, "status": "not_supported"}
            else:
                result = run_worker_subprocess(
                    model, config, steps=steps, warmup=warmup, jit=jit, seed=seed,
                    inter_threads=inter_threads, intra_threads=intra_threads, strategy=strategy,
                )
                load_samples.append(os.getloadavg())
            result["round"] = round_index
            results.append(result)
            if result["status"] == "ok":
                note = f"median {1e3 * result['median_s']:.3f} ms, process {result['process_wall_s']:.1f}s"
            else:
                note = result.get("error", result["status"])
            print(
                f"[round {round_index + 1}/{rounds} {time.perf_counter() - started:7.1f}s] "
                f"{model:4s} jit={int(jit)} {config:20s} {note}",
                file=log, flush=True,
            )
    return {
        "results": results,
        "load_samples": load_samples,
        "elapsed_s": time.perf_counter() - started,
        "configs": list(configs),
        "models": list(models),
        "jit_modes": list(jit_modes),
        "rounds": rounds,
    }


def summarize(run: dict) -> list[dict]:
    """One row per (jit, model, config): per-round ratios to the same round's plain median."""
    by_key: dict[tuple, dict[int, dict]] = {}
    for result in run["results"]:
        by_key.setdefault((result["jit"], result["model"], result["config"]), {})[result["round"]] = result
    rows = []
    for jit in run["jit_modes"]:
        for model in run["models"]:
            plain = by_key.get((jit, model, "plain"), {})
            plain_ok = {r: res for r, res in plain.items() if res["status"] == "ok"}
            plain_ms = statistics.median([1e3 * res["median_s"] for res in plain_ok.values()]) if plain_ok else None
            for config in run["configs"]:
                per_round = by_key.get((jit, model, config), {})
                row: dict[str, Any] = {"jit": jit, "model": model, "config": config, "plain_ms": plain_ms}
                statuses = {res["status"] for res in per_round.values()}
                if statuses == {"not_supported"}:
                    row["status"] = "not_supported"
                    rows.append(row)
                    continue
                ratios, mean_ratios, config_ms = [], [], []
                for r, res in sorted(per_round.items()):
                    if res["status"] == "ok" and r in plain_ok:
                        ratios.append(res["median_s"] / plain_ok[r]["median_s"])
                        mean_ratios.append(res["mean_s"] / plain_ok[r]["mean_s"])
                        config_ms.append(1e3 * res["median_s"])
                errors = [res.get("error", "") for res in per_round.values() if res["status"] == "error"]
                row.update(
                    status="ok" if ratios else "error",
                    rounds_ok=len(ratios),
                    rounds=len(per_round),
                    ratio=statistics.median(ratios) if ratios else None,
                    ratio_min=min(ratios) if ratios else None,
                    ratio_max=max(ratios) if ratios else None,
                    mean_ratio=statistics.median(mean_ratios) if mean_ratios else None,
                    config_ms=statistics.median(config_ms) if config_ms else None,
                    errors=errors,
                )
                rows.append(row)
    return rows


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _ram_gib() -> str:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return f"{int(line.split()[1]) / 1024 ** 2:.1f} GiB"
    except OSError:
        pass
    return "unknown"


def machine_info() -> dict:
    versions = {}
    try:
        out = subprocess.run(
            [sys.executable, "-c", "import tensorflow as tf, keras; print(tf.__version__, keras.__version__)"],
            capture_output=True, text=True, env=worker_env(), timeout=300,
        ).stdout.split()
        versions = {"tensorflow": out[-2], "keras": out[-1]}
    except Exception:  # noqa: BLE001
        versions = {"tensorflow": "?", "keras": "?"}
    try:
        date = subprocess.run(["date", "-u"], capture_output=True, text=True).stdout.strip()
    except OSError:
        date = datetime.datetime.now(datetime.timezone.utc).strftime("%a %b %d %H:%M:%S UTC %Y")
    return {
        "date": date,
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "ram": _ram_gib(),
        "python": platform.python_version(),
        **versions,
    }


def _fmt_ratio(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}×"


def render_markdown(run: dict, rows: list[dict], info: dict, command: str, args: argparse.Namespace) -> str:
    loads = [sample[0] for sample in run["load_samples"]]
    cores = info["cores"] or 1
    loaded = max(loads) > 0.5 * cores
    threads = (
        f"inter={args.inter_threads if args.inter_threads is not None else 'TF default'}, "
        f"intra={args.intra_threads if args.intra_threads is not None else 'TF default'}"
    )
    observed = sorted(
        {
            (res.get("inter_op_threads"), res.get("intra_op_threads"))
            for res in run["results"]
            if res["status"] == "ok"
        }
    )
    lines = [
        f"### Run of {info['date']}",
        "",
        f"- Command: `{command}`",
        f"- Machine: {info['cpu']}, {info['cores']} cores, {info['ram']} RAM; Python {info['python']}, "
        f"TensorFlow {info['tensorflow']}, Keras {info['keras']}; CPU only.",
        f"- Threads: {threads} for every worker (as seen by TF: {observed}).",
        f"- Protocol: {run['rounds']} rounds; each round runs every job once in a fresh process, order "
        f"shuffled (seed {args.seed}); {args.warmup} warm-up steps (tracing included) then {args.steps} timed "
        f"steps in the same `fit`. Ratio = config median step time / `plain` median of the same round, "
        f"model and jit mode; table shows the median ratio over rounds and [min–max].",
        f"- Load average (1 min) sampled after each worker: min {min(loads):.2f}, max {max(loads):.2f} on "
        f"{cores} cores" + (" — **the machine was loaded** (other work running concurrently); absolute "
        "times are noisy, per-round ratios less so." if loaded else "."),
        f"- Wall time of the whole run: {run['elapsed_s'] / 60:.1f} min.",
        "",
        "| model | jit | config | plain median step | config median step | median ratio | ratio min–max "
        "| mean-step ratio | rounds | budget / anchor | verdict |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for row in rows:
        model = f"{row['model']} (batch {BATCH_SIZE[row['model']]})"
        jit = "on" if row["jit"] else "off"
        plain_ms = "—" if row["plain_ms"] is None else f"{row['plain_ms']:.2f} ms"
        budget_text, budget = BUDGET.get(row["config"], ("—", None))
        if row["config"] == "plain":
            budget_text = "baseline"
        if row["status"] == "not_supported":
            lines.append(f"| {model} | {jit} | {row['config']} | {plain_ms} | — | not supported (XLA) | — | — | — | {budget_text} | — |")
            continue
        if row["status"] == "error":
            error = (row["errors"] or ["?"])[0].replace("|", "/")[:120]
            lines.append(f"| {model} | {jit} | {row['config']} | {plain_ms} | — | error | — | — | 0/{row['rounds']} | {budget_text} | {error} |")
            continue
        verdict = ""
        if budget is not None:
            verdict = "within budget" if row["ratio"] <= budget else "**over budget**"
        lines.append(
            f"| {model} | {jit} | {row['config']} | {plain_ms} | {row['config_ms']:.2f} ms | {_fmt_ratio(row['ratio'])} "
            f"| {_fmt_ratio(row['ratio_min'])}–{_fmt_ratio(row['ratio_max'])} | {_fmt_ratio(row['mean_ratio'])} "
            f"| {row['rounds_ok']}/{row['rounds']} | {budget_text} | {verdict} |"
        )
    lines += [
        "",
        "Configs: " + "; ".join(f"`{c}` = {DESCRIPTION[c]}" for c in run["configs"]) + ".",
        "",
        "*Median ratio* uses per-step medians, so it leaves out rare slow steps (tb_diag writes every "
        "100 steps); *mean-step ratio* (median over rounds of mean/mean) includes them.",
    ]
    return "\n".join(lines) + "\n"


DOC_HEADER = """# Training-step overhead

Generated by `benchmarks/overhead.py` (see its docstring for the protocol). Budget: the tb_diag
gradients probe must cost **≤ 1.03×** the median step time of plain `model.fit`. Anchors (from
the design notes, same machine): Debugger V2 FULL_HEALTH 3.4–7.8×, CONCISE_HEALTH 1.7–2.0×,
`tf.debugging.enable_check_numerics` 1.8–2.3×, Keras TensorBoard(histogram_freq=1) 1.01×.

"""


def write_doc(markdown: str, path: str = DOC_PATH) -> None:
    """Replaces the generated section of ``path`` (between markers), keeping everything else."""
    section = f"{DOC_BEGIN}\n{markdown}{DOC_END}\n"
    if os.path.exists(path):
        with open(path) as f:
            text = f.read()
    else:
        text = DOC_HEADER
    if DOC_BEGIN in text and DOC_END in text:
        text = re.sub(re.escape(DOC_BEGIN) + r".*?" + re.escape(DOC_END) + r"\n?", lambda _: section, text, flags=re.S)
    else:
        text = text.rstrip("\n") + "\n\n## Results\n\n" + section
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--worker", action="store_true", help="internal: measure ONE job in this process, print JSON")
    parser.add_argument("--model", choices=MODELS, help="worker: model to build")
    parser.add_argument("--config", choices=CONFIGS, help="worker: configuration to measure")
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    parser.add_argument("--configs", nargs="+", choices=CONFIGS, default=None, help="default: all")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=200, help="timed steps per worker")
    parser.add_argument("--warmup", type=int, default=30, help="untimed steps first (tracing included)")
    parser.add_argument("--seed", type=int, default=0, help="data, weights and run order")
    parser.add_argument("--jit", action="store_true", help="also run every model with jit_compile=True")
    parser.add_argument("--strategy", choices=STRATEGIES, default="none", help="mirrored: MirroredStrategy over 2 logical CPUs")
    parser.add_argument("--inter-threads", type=int, default=None, help="TF_NUM_INTEROP_THREADS for all workers")
    parser.add_argument("--intra-threads", type=int, default=None, help="TF_NUM_INTRAOP_THREADS for all workers")
    parser.add_argument("--quick", action="store_true", help="smoke test: 1 round, few steps (< 2 minutes)")
    parser.add_argument("--write-doc", action="store_true", help=f"write the table into {os.path.relpath(DOC_PATH, REPO)}")
    parser.add_argument("--doc", default=DOC_PATH, help="path used by --write-doc")
    parser.add_argument("--json", default=None, help="also save raw per-worker results to this file")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(argv)
    if args.worker:
        if not args.model or not args.config:
            _parser().error("--worker needs --model and --config")
        result = run_worker(
            args.model, args.config, steps=args.steps, warmup=args.warmup, jit=args.jit, seed=args.seed, strategy=args.strategy
        )
        print(RESULT_MARKER + json.dumps(result), flush=True)
        return 0
    if args.write_doc and args.strategy != "none":
        _parser().error("--write-doc writes the single-device table; record --strategy runs by hand")
    if args.quick:
        args.rounds, args.steps, args.warmup = 1, 20, 5
    configs = args.configs or list(DEFAULT_CONFIGS if not args.quick else QUICK_CONFIGS)
    info = machine_info()
    run = run_benchmark(
        models=args.models,
        configs=configs,
        jit_modes=[False, True] if args.jit else [False],
        rounds=args.rounds,
        steps=args.steps,
        warmup=args.warmup,
        seed=args.seed,
        inter_threads=args.inter_threads,
        intra_threads=args.intra_threads,
        strategy=args.strategy,
    )
    rows = summarize(run)
    command = "python benchmarks/overhead.py " + shlex.join(argv) if argv else "python benchmarks/overhead.py"
    markdown = render_markdown(run, rows, info, command.strip(), args)
    print(markdown)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"info": info, "command": command, **run, "rows": rows}, f, indent=1)
    if args.write_doc:
        write_doc(markdown, args.doc)
        print(f"wrote {args.doc}", file=sys.stderr)
    return 0 if all(row["status"] != "error" for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
