"""What tb_diag costs on standard architectures, as the user feels it, versus plain ``model.fit``.

The models and their synthetic data come from ``benchmarks/standard_models.py`` (MobileNetV2,
ResNet50, EfficientNetB0, DenseNet121, a Transformer encoder, an LSTM and a 200,000-id embedding
model, all ``weights=None``). Each is compiled with Keras' default ``jit_compile="auto"``: no XLA
on a CPU-only host, XLA on a GPU where the model supports it. Four figures per (model, config):

* **first step**: seconds from calling the first ``fit`` of a freshly built model to its first
  ``on_train_batch_end`` (tracing included);
* **first fit**: wall time of that first ``fit`` (``--steps`` steps);
* **later fit**: wall time of a later ``fit`` of the SAME model, ``--steps`` steps, with a NEW
  callback instance of the same arguments writing into the SAME log directory (a user re-running a
  notebook cell): it shows whether the trace is reused. Every round's fit is such a later fit, so
  the figure is the median over the fit right after the first one and all round fits, and its ratio
  the median of the per-round ratios to plain [min–max]: one later fit alone is too noisy (Keras'
  own teardown after ``on_train_end`` takes 0–0.3 s on the LSTM, 0–1.7 s on MobileNetV2, with or
  without tb_diag);
* **steady step**: the median step time, as a ratio to the ``plain`` copy, resolved by rounds.

Protocol, in-process configs (``plain``, ``tb_diag``, each probe alone, ``tb_diag_no_probes``,
``keras_tensorboard``): ONE worker process per model (``--worker``). It first fits a throwaway
plain copy of the architecture for 2 steps, so that process-wide one-time costs (runtime start,
kernel autotuning on a GPU) are paid before anything is measured. Then it builds one copy per
config with the same seed (identical initial weights), each with its own callbacks and log
directory. Copy by copy, in an order shuffled with ``--seed``, each does its first fit and right
after it its later fit. Then ``--rounds`` rounds: in each, every copy does a short fit of
``--steps`` steps, in a freshly shuffled order, with a new callback instance (so a callback that
retraces on every ``fit`` pays it each round: it lengthens the run, not the steady step). A step
time is the ``perf_counter`` delta between consecutive ``on_train_batch_end`` calls (the timer is
the last callback, so a callback's own batch-end work counts in its step), leaving out the first
batch of each fit. Per round, ratio = the copy's median step time / the plain copy's median of that
round; the table shows the median ratio over rounds, its min–max, and in the JSON its quartiles.

Protocol, process-global tools (``check_numerics``, ``debugger_v2_concise``): they instrument every
function traced after they are enabled and cannot be switched off cleanly, so each runs in a worker
of its own. That worker does the same throwaway warm-up, then measures a plain copy completely
(first fit, later fit, ``--rounds`` short fits) BEFORE enabling the tool, then enables it and
measures an instrumented copy the same way. Round ``i`` of the tool is divided by round ``i`` of
that plain copy; the rounds are consecutive, not interleaved, so these ratios are noisier (the tools
cost 1.5× and more, so that is enough). Under XLA both fail to compile (see ``SUPPORTS_JIT`` in
``overhead.py``): when Keras resolves ``jit_compile`` to True they are recorded "not supported".

Every worker has a timeout (``--timeout``); a failing config is recorded as an error with its
message and the others go on; a worker that dies takes only its own configs with it.

Output: a Markdown section on stdout; ``--write-doc`` puts it into ``docs/benchmark.md`` between
``<!-- real_models.py:begin -->`` and ``<!-- real_models.py:end -->`` (appended at the end of the
file when the markers are absent); ``--json PATH`` saves ``info`` (machine), ``command``, the raw
``workers`` reports (see ``run_model_worker``) and the table ``rows`` (see ``summarize``).

Usage::

    python benchmarks/real_models.py                                 # all models, all configs
    python benchmarks/real_models.py --models resnet50 lstm --rounds 7 --steps 30 --write-doc
    python benchmarks/real_models.py --small --models lstm embedding --rounds 2 --steps 5 \\
        --configs plain tb_diag                                     # smoke test (~1 minute)
    python benchmarks/real_models.py --mixed-precision --json /tmp/real_models.json

From Python (e.g. a pytest smoke test)::

    from benchmarks.real_models import run_model_worker_subprocess
    worker = run_model_worker_subprocess("lstm", ["plain", "tb_diag"], rounds=1, steps=4, small=True)
    worker["results"]["tb_diag"]["status"] == "ok"
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import random
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any, Sequence

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
if REPO not in sys.path:
    sys.path.insert(0, REPO)

from benchmarks.overhead import machine_info, worker_env  # noqa: E402
from benchmarks.standard_models import MODELS, build, compile_model  # noqa: E402

DOC_PATH = os.path.join(REPO, "docs", "benchmark.md")
DOC_BEGIN = "<!-- real_models.py:begin -->"
DOC_END = "<!-- real_models.py:end -->"
RESULT_MARKER = "REAL_MODELS_RESULT "
PROGRESS_PREFIX = "[real_models] "

# Enabled for the whole process once turned on: measured in a worker of their own.
PROCESS_GLOBAL_CONFIGS = ("check_numerics", "debugger_v2_concise")
WARM_UP_STEPS = 2
DEFAULT_TIMEOUT_S = 7200.0


def probe_configs() -> tuple[str, ...]:
    """``tb_diag_<probe>_only`` for every probe in ``tb_diag.probes.PROBES``, in registry order."""
    from tb_diag.probes import PROBES

    return tuple(f"tb_diag_{name}_only" for name in PROBES)


def without_probe_configs() -> tuple[str, ...]:
    """``tb_diag_without_<probe>`` for every probe: the defaults less one probe, to break down what
    the probes cost together (more than each alone, when they share a step)."""
    from tb_diag.probes import PROBES

    return tuple(f"tb_diag_without_{name}" for name in PROBES)


def all_configs() -> tuple[str, ...]:
    """Every config, in table order."""
    return (
        "plain", "tb_diag", *probe_configs(), *without_probe_configs(), "tb_diag_no_probes", "keras_tensorboard",
        *PROCESS_GLOBAL_CONFIGS,
    )


def describe(config: str) -> str:
    """What ``config`` runs, in Markdown."""
    fixed = {
        "plain": "`model.fit`, no callbacks (baseline)",
        "tb_diag": "`DiagnosticsCallback(tmpdir)` (defaults: all probes)",
        "tb_diag_no_probes": "`DiagnosticsCallback(tmpdir, probes=[])` (hook + retrace + timed loop, no probe)",
        "keras_tensorboard": "`keras.callbacks.TensorBoard(tmpdir, histogram_freq=1)`",
        "check_numerics": "`tf.debugging.enable_check_numerics()`",
        "debugger_v2_concise": "Debugger V2 `CONCISE_HEALTH`, `circular_buffer_size=-1`",
    }
    if config in fixed:
        return fixed[config]
    if config.startswith(WITHOUT_PREFIX):
        return f"defaults without the `{config[len(WITHOUT_PREFIX):]}` probe"
    return f"`DiagnosticsCallback(tmpdir, probes={_probes_of(config)!r})`".replace("'", '"')


WITHOUT_PREFIX = "tb_diag_without_"


def _probes_of(config: str) -> list[str]:
    """The probes of ``tb_diag_<probe>_only`` or of a combination, ``tb_diag_<a>+<b>_only``."""
    return config[len("tb_diag_"):-len("_only")].split("+")


def _is_known(config: str) -> bool:
    try:
        known_config(config)
    except ValueError:
        return False
    return True


def known_config(config: str) -> str:
    """``config`` if it names a config (argparse ``type``): one of ``all_configs()`` or a
    combination of probes, ``tb_diag_<a>+<b>_only``; else ``ValueError``."""
    from tb_diag.probes import PROBES

    combination = config.startswith("tb_diag_") and config.endswith("_only") and all(name in PROBES for name in _probes_of(config))
    if config in all_configs() or combination:
        return config
    raise ValueError(f"unknown config {config!r}; choose from {', '.join(all_configs())} or tb_diag_<probe>+<probe>_only")


def _probes_without(config: str) -> list[str]:
    from tb_diag.probes import PROBES

    left_out = config[len(WITHOUT_PREFIX):]
    return [name for name in PROBES if name != left_out]


def config_callbacks(config: str, keras: Any, log_dir: str) -> list:
    """A NEW callback list for one ``fit`` of ``config`` (empty for plain and the process-global tools)."""
    if config in ("plain", *PROCESS_GLOBAL_CONFIGS):
        return []
    if config == "keras_tensorboard":
        return [keras.callbacks.TensorBoard(log_dir, histogram_freq=1)]
    from tb_diag import DiagnosticsCallback

    if config == "tb_diag":
        return [DiagnosticsCallback(log_dir)]
    if config == "tb_diag_no_probes":
        return [DiagnosticsCallback(log_dir, probes=[])]
    if config.startswith(WITHOUT_PREFIX):
        return [DiagnosticsCallback(log_dir, probes=_probes_without(config))]
    return [DiagnosticsCallback(log_dir, probes=_probes_of(config))]


def enable_process_global(config: str, tf: Any, log_dir: str) -> None:
    if config == "check_numerics":
        tf.debugging.enable_check_numerics()
    else:
        tf.debugging.experimental.enable_dump_debug_info(
            log_dir, tensor_debug_mode="CONCISE_HEALTH", circular_buffer_size=-1
        )


# ---------------------------------------------------------------------------------------------
# Worker: one model, several configs, measured in the current process.
# ---------------------------------------------------------------------------------------------


def _batch_end_clock(keras: Any) -> Any:
    """A callback recording ``perf_counter`` at every ``on_train_batch_end`` and the last loss."""

    class BatchEndClock(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.batch_ends: list[float] = []
            self.last_loss: float | None = None

        def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
            self.batch_ends.append(time.perf_counter())
            if logs and "loss" in logs:
                self.last_loss = float(logs["loss"])

    return BatchEndClock()


def _timed_fit(keras: Any, net: Any, data: Any, steps: int, callbacks: list) -> dict:
    clock = _batch_end_clock(keras)
    started = time.perf_counter()
    net.fit(data, epochs=1, steps_per_epoch=steps, shuffle=False, verbose=0, callbacks=callbacks + [clock])
    finished = time.perf_counter()
    wall = finished - started
    ends = clock.batch_ends
    if len(ends) != steps:
        raise RuntimeError(f"{len(ends)} of {steps} steps ran (training stopped early?)")
    deltas = [later - earlier for earlier, later in zip(ends, ends[1:])]
    return {
        "first_step_s": ends[0] - started,
        "fit_s": wall,
        "step_median_s": statistics.median(deltas),
        "step_times_s": deltas,
        # on_train_end work (flushes, writer close) shows here.
        "after_last_step_s": finished - ends[-1],
        "loss": clock.last_loss,
    }


def _error_text(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}".replace("\n", " ")[:500]


def _progress(message: str) -> None:
    print(PROGRESS_PREFIX + message, file=sys.stderr, flush=True)


def run_model_worker(
    model: str,
    configs: Sequence[str] | None = None,
    rounds: int = 5,
    steps: int = 25,
    seed: int = 0,
    small: bool = False,
    mixed_precision: bool = False,
    log_dir: str | None = None,
) -> dict:
    """Measures ``model`` under ``configs`` in THIS process (see the module docstring) and returns a dict.

    ``configs`` is either in-process configs only (default: all of them) or ONE process-global
    config (``check_numerics`` / ``debugger_v2_concise``), which then stays enabled for the rest of
    the process: use ``run_model_worker_subprocess`` for those. ``plain`` is always measured.
    ``mixed_precision=True`` sets this process's global dtype policy to ``mixed_float16``.

    Keys: what was run (``model``, ``configs``, ``rounds``, ``steps``, ``seed``, ``small``,
    ``mixed_precision``, ``process_global``), ``environment`` (versions, GPUs, threads, dtype
    policy), ``model_info`` (layers, params, input shape, batch size), ``first_fit_order``,
    ``results`` = {config: {``status`` ("ok" / "error" / "not_supported", or "not_measured" for the
    plain baseline of an unsupported tool), ``first_step_s``,
    ``first_fit_s``, ``first_fit_step_times_s`` (the steps after the first), ``*_after_last_step_s``
    (fit's return minus the last batch end), ``later_first_step_s``, ``later_fit_s``,
    ``round_median_s`` (one per round),
    ``round_fit_s``, ``jit_compile``, ``final_loss``, ``error``}} and ``wall_s``.
    """
    all_known = all_configs()
    if configs is None:
        configs = [config for config in all_known if config not in PROCESS_GLOBAL_CONFIGS]
    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}; choose from {', '.join(MODELS)}")
    unknown = [config for config in configs if not _is_known(config)]
    if unknown:
        raise ValueError(f"unknown configs {unknown}; choose from {', '.join(all_known)}")
    configs = ["plain"] + [config for config in dict.fromkeys(configs) if config != "plain"]
    process_global = [config for config in configs if config in PROCESS_GLOBAL_CONFIGS]
    if process_global and len(configs) != 2:
        raise ValueError(
            f"a process-global config ({', '.join(process_global)}) must run alone with plain, got configs={configs}"
        )
    if rounds < 1 or steps < 3:
        raise ValueError(f"rounds must be >= 1 and steps >= 3 (one step is left out per fit), got {rounds=}, {steps=}")

    import keras
    import tensorflow as tf

    started = time.perf_counter()
    if mixed_precision:
        keras.mixed_precision.set_global_policy("mixed_float16")
    own_dir = log_dir is None
    log_root = tempfile.mkdtemp(prefix=f"real_models_{model}_") if own_dir else log_dir
    report: dict[str, Any] = {
        "model": model, "configs": configs, "rounds": rounds, "steps": steps, "seed": seed, "small": small,
        "mixed_precision": mixed_precision, "process_global": bool(process_global),
        "environment": _environment(tf, keras),
    }
    results: dict[str, dict] = {config: {"status": "ok"} for config in configs}
    report["results"] = results

    def new_copy() -> tuple[Any, Any]:
        keras.utils.set_random_seed(seed)
        net, spec = build(model, keras, small=small)
        return compile_model(net, keras, mixed_precision=mixed_precision), spec

    try:
        warm_up, spec = new_copy()
        data = spec.dataset(seed=seed)
        report["model_info"] = {
            "layers": len(warm_up.layers), "params": warm_up.count_params(),
            "input_shape": list(spec.shape), "batch_size": spec.batch_size,
        }
        if process_global and warm_up.jit_compile:
            results[process_global[0]] = {
                "status": "not_supported", "reason": "tf2xla conversion fails with op-callback instrumentation",
            }
            results["plain"] = {"status": "not_measured", "reason": "the baseline of an unsupported config only"}
            return report
        _timed_fit(keras, warm_up, data, WARM_UP_STEPS, [])
        del warm_up
        _progress(f"{model}: warm-up done after {time.perf_counter() - started:.1f}s")

        copies: dict[str, Any] = {}
        log_dirs = {config: os.path.join(log_root, config) for config in configs}

        def measure(config: str, what: str) -> dict | None:
            """One fit of ``config``'s copy; on an exception the config is marked failed and dropped."""
            try:
                outcome = _timed_fit(keras, copies[config], data, steps, config_callbacks(config, keras, log_dirs[config]))
            except Exception as error:  # noqa: BLE001 - one failing config must not end the run
                results[config] = {**results[config], "status": "error", "error": f"{what}: {_error_text(error)}"}
                copies.pop(config, None)
                _progress(f"{model} {config}: {what} failed: {_error_text(error)}")
                return None
            return outcome

        def first_and_later_fit(config: str) -> None:
            first = measure(config, "first fit")
            if first is None:
                return
            results[config].update(
                first_step_s=first["first_step_s"], first_fit_s=first["fit_s"],
                first_fit_step_times_s=first["step_times_s"], first_fit_after_last_step_s=first["after_last_step_s"],
                jit_compile=bool(copies[config].jit_compile), round_median_s=[], round_fit_s=[],
            )
            later = measure(config, "later fit")
            if later is not None:
                results[config].update(
                    later_first_step_s=later["first_step_s"], later_fit_s=later["fit_s"],
                    later_fit_after_last_step_s=later["after_last_step_s"],
                )
            _progress(
                f"{model} {config}: first step {first['first_step_s']:.2f}s, first fit {first['fit_s']:.2f}s"
                + (f", later fit {later['fit_s']:.2f}s" if later else "")
            )

        def steady_round(config: str, round_index: int) -> None:
            outcome = measure(config, f"round {round_index + 1}")
            if outcome is not None:
                results[config]["round_median_s"].append(outcome["step_median_s"])
                results[config]["round_fit_s"].append(outcome["fit_s"])
                results[config]["final_loss"] = outcome["loss"]

        order = random.Random(seed)
        if process_global:
            # The baseline first, completely, before the tool changes the process for good.
            for config in configs:
                if config != "plain":
                    enable_process_global(config, tf, log_dirs[config])
                try:
                    copies[config], _ = new_copy()
                except Exception as error:  # noqa: BLE001
                    results[config] = {"status": "error", "error": f"build: {_error_text(error)}"}
                    continue
                first_and_later_fit(config)
                for round_index in range(rounds):
                    if config in copies:
                        steady_round(config, round_index)
            report["first_fit_order"] = configs
        else:
            for config in configs:
                try:
                    copies[config], _ = new_copy()
                except Exception as error:  # noqa: BLE001
                    results[config] = {"status": "error", "error": f"build: {_error_text(error)}"}
            first_order = [config for config in configs if config in copies]
            order.shuffle(first_order)
            report["first_fit_order"] = first_order
            for config in first_order:
                first_and_later_fit(config)
            for round_index in range(rounds):
                round_order = [config for config in configs if config in copies]
                order.shuffle(round_order)
                for config in round_order:
                    steady_round(config, round_index)
                if "plain" in copies and results["plain"]["round_median_s"]:
                    plain_s = results["plain"]["round_median_s"][-1]
                    ratios = ", ".join(
                        f"{config} {results[config]['round_median_s'][-1] / plain_s:.3f}"
                        for config in configs if config != "plain" and config in copies
                    )
                    _progress(f"{model} round {round_index + 1}/{rounds}: plain {1e3 * plain_s:.1f} ms; {ratios}")
        return report
    finally:
        if "debugger_v2_concise" in process_global:
            try:
                tf.debugging.experimental.disable_dump_debug_info()
            except Exception:  # noqa: BLE001 - best effort, the process is about to end anyway
                pass
        report["wall_s"] = time.perf_counter() - started
        if own_dir:
            shutil.rmtree(log_root, ignore_errors=True)


def _environment(tf: Any, keras: Any) -> dict:
    gpus = []
    for device in tf.config.list_physical_devices("GPU"):
        try:
            gpus.append(tf.config.experimental.get_device_details(device).get("device_name") or device.name)
        except Exception:  # noqa: BLE001 - a name is only for the report
            gpus.append(device.name)
    return {
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "gpus": gpus,
        "dtype_policy": keras.mixed_precision.global_policy().name,
        "inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads(),
        "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
    }


def run_model_worker_subprocess(
    model: str,
    configs: Sequence[str] | None = None,
    rounds: int = 5,
    steps: int = 25,
    seed: int = 0,
    small: bool = False,
    mixed_precision: bool = False,
    inter_threads: int | None = None,
    intra_threads: int | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
    log: Any = sys.stderr,
) -> dict:
    """Runs ``run_model_worker`` in a fresh ``python benchmarks/real_models.py --worker`` process.

    Returns the worker's dict plus ``status`` ("ok" / "error") and ``process_wall_s``. Never raises
    for a failing or hanging worker: then ``status`` is "error", ``error`` says why, and every
    requested config's result is that error. The worker's progress lines are forwarded to ``log``.
    """
    configs = list(configs) if configs is not None else None
    cmd = [
        sys.executable, os.path.abspath(__file__), "--worker", "--models", model,
        "--rounds", str(rounds), "--steps", str(steps), "--seed", str(seed),
    ] + (["--configs", *configs] if configs else []) + (["--small"] if small else []) + (
        ["--mixed-precision"] if mixed_precision else []
    )
    started = time.perf_counter()
    tail: collections.deque[str] = collections.deque(maxlen=20)
    with tempfile.TemporaryFile("w+") as stdout:
        proc = subprocess.Popen(
            cmd, stdout=stdout, stderr=subprocess.PIPE, text=True, cwd=REPO,
            env=worker_env(inter_threads, intra_threads),
        )

        def forward_stderr() -> None:
            for line in proc.stderr:
                tail.append(line.rstrip())
                if line.startswith(PROGRESS_PREFIX) and log is not None:
                    print("  " + line[len(PROGRESS_PREFIX):].rstrip(), file=log, flush=True)

        reader = threading.Thread(target=forward_stderr, daemon=True)
        reader.start()
        try:
            proc.wait(timeout=timeout)
            error = None
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            error = f"timeout after {timeout:.0f}s"
        reader.join(timeout=10)
        stdout.seek(0)
        output = stdout.read()
    wall = time.perf_counter() - started
    for line in output.splitlines():
        if error is None and line.startswith(RESULT_MARKER):
            report = json.loads(line[len(RESULT_MARKER):])
            report.update(status="ok", process_wall_s=wall)
            return report
    if error is None:
        error = f"exit code {proc.returncode}: " + " | ".join(line for line in tail if line)[-1500:]
    default = [config for config in all_configs() if config not in PROCESS_GLOBAL_CONFIGS]
    requested = ["plain"] + [config for config in (configs or default) if config != "plain"]
    return {
        "model": model, "configs": requested, "status": "error", "error": error, "process_wall_s": wall,
        "process_global": any(config in PROCESS_GLOBAL_CONFIGS for config in requested),
        "results": {config: {"status": "error", "error": error} for config in requested},
    }


# ---------------------------------------------------------------------------------------------
# Orchestrator: one worker per model (plus one per process-global tool), table, Markdown.
# ---------------------------------------------------------------------------------------------


def run_benchmark(
    models: Sequence[str],
    configs: Sequence[str],
    rounds: int,
    steps: int,
    seed: int = 0,
    small: bool = False,
    mixed_precision: bool = False,
    inter_threads: int | None = None,
    intra_threads: int | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
    log: Any = sys.stderr,
) -> dict:
    """Runs the workers model by model; returns ``{"workers": [...], "load_samples", "elapsed_s", ...}``."""
    in_process = ["plain"] + [c for c in configs if c != "plain" and c not in PROCESS_GLOBAL_CONFIGS]
    jobs = [in_process] + [["plain", c] for c in configs if c in PROCESS_GLOBAL_CONFIGS]
    workers = []
    load_samples = [os.getloadavg()]
    started = time.perf_counter()
    for model in models:
        for job in jobs:
            print(f"[{time.perf_counter() - started:7.1f}s] {model}: {', '.join(job)}", file=log, flush=True)
            worker = run_model_worker_subprocess(
                model, job, rounds=rounds, steps=steps, seed=seed, small=small, mixed_precision=mixed_precision,
                inter_threads=inter_threads, intra_threads=intra_threads, timeout=timeout, log=log,
            )
            load_samples.append(os.getloadavg())
            note = f"done in {worker['process_wall_s']:.1f}s" if worker["status"] == "ok" else worker["error"]
            print(f"[{time.perf_counter() - started:7.1f}s] {model}: {note}", file=log, flush=True)
            workers.append(worker)
    return {
        "workers": workers,
        "load_samples": load_samples,
        "elapsed_s": time.perf_counter() - started,
        "models": list(models),
        "configs": ["plain"] + [c for c in configs if c != "plain"],
        "rounds": rounds,
        "steps": steps,
        "seed": seed,
        "small": small,
        "mixed_precision": mixed_precision,
    }


def _ratio(config_value: float | None, plain_value: float | None) -> float | None:
    if config_value is None or not plain_value:
        return None
    return config_value / plain_value


def median_ci(ratios: Sequence[float], resamples: int = 4000, seed: int = 0) -> tuple[float, float] | None:
    """A 95% bootstrap confidence interval of the median of ``ratios`` (percentile method, seeded).

    The rounds are independent paired measurements, so resampling them says how far the median
    ratio could move on a re-run: the width is what the protocol resolves (issue 14 asks for ±3%).
    """
    if len(ratios) < 5:
        return None
    rng = random.Random(seed)
    medians = sorted(statistics.median(rng.choices(ratios, k=len(ratios))) for _ in range(resamples))
    return medians[int(0.025 * resamples)], medians[int(0.975 * resamples) - 1]


def _compare(plain: dict, result: dict, key: str) -> dict:
    plain_value, config_value = plain.get(key), result.get(key)
    return {"plain_s": plain_value, "config_s": config_value, "ratio": _ratio(config_value, plain_value)}


def _later_fits(plain: dict, result: dict) -> dict:
    """Later fits (the one right after the first fit, then every round's): medians and the
    median of the per-round ratios, with their min and max."""
    def walls(report: dict) -> list[float]:
        first = [report["later_fit_s"]] if report.get("later_fit_s") is not None else []
        return first + list(report.get("round_fit_s") or [])

    ours, base = walls(result), walls(plain)
    ratios = [mine / theirs for mine, theirs in zip(ours, base) if theirs]
    return {
        "plain_s": statistics.median(base) if base else None,
        "config_s": statistics.median(ours) if ours else None,
        "ratio": statistics.median(ratios) if ratios else None,
        "ratio_min": min(ratios) if ratios else None,
        "ratio_max": max(ratios) if ratios else None,
        "fits": len(ratios),
    }


def summarize(run: dict) -> list[dict]:
    """One row per (model, config): first step / first fit / later fit against plain, and the steady ratio.

    Row keys: ``model``, ``config``, ``baseline`` ("same process, interleaved" or "same process,
    before enabling"), ``status``, ``model_info``, ``jit_compile``, ``first_step`` /
    ``first_fit`` = {``plain_s``, ``config_s``, ``ratio``}, ``later_fit`` = the same as medians
    over all later fits plus ``ratio_min``, ``ratio_max``, ``fits``, ``steady`` =
    {``plain_ms``, ``config_ms``, ``ratio``, ``ratio_min``, ``ratio_max``, ``ratio_q1``,
    ``ratio_q3``, ``ratio_ci95`` (see ``median_ci``; None under 5 rounds), ``rounds``}, ``error``.
    """
    rows = []
    for model in run["models"]:
        for config in run["configs"]:
            # plain's row comes from the model's in-process worker; a process-global tool's from its own.
            worker = next(
                (
                    w for w in run["workers"]
                    if w["model"] == model and config in w["results"]
                    and (config != "plain" or not w.get("process_global"))
                ),
                None,
            )
            if worker is None:
                continue
            plain, result = worker["results"].get("plain", {}), worker["results"][config]
            row: dict[str, Any] = {
                "model": model, "config": config, "status": result["status"],
                "baseline": "same process, before enabling" if worker.get("process_global") else "same process, interleaved",
                "model_info": worker.get("model_info"), "jit_compile": result.get("jit_compile"),
                "error": result.get("error") or result.get("reason"),
            }
            if result["status"] == "ok" and plain.get("status") != "ok":
                row.update(status="error", error="plain baseline failed: " + str(plain.get("error")))
            if row["status"] == "ok":
                ratios = [
                    ours / base for ours, base in zip(result["round_median_s"], plain["round_median_s"]) if base
                ]
                quartiles = statistics.quantiles(ratios, n=4, method="inclusive") if len(ratios) >= 2 else [None] * 3
                interval = median_ci(ratios, seed=run["seed"])
                row.update(
                    first_step=_compare(plain, result, "first_step_s"),
                    first_fit=_compare(plain, result, "first_fit_s"),
                    later_fit=_later_fits(plain, result),
                    steady={
                        "plain_ms": 1e3 * statistics.median(plain["round_median_s"]) if plain["round_median_s"] else None,
                        "config_ms": 1e3 * statistics.median(result["round_median_s"]) if result["round_median_s"] else None,
                        "ratio": statistics.median(ratios) if ratios else None,
                        "ratio_min": min(ratios) if ratios else None,
                        "ratio_max": max(ratios) if ratios else None,
                        "ratio_q1": quartiles[0],
                        "ratio_q3": quartiles[2],
                        "ratio_ci95": list(interval) if interval else None,
                        "rounds": len(ratios),
                    },
                )
                if not ratios:
                    row.update(status="error", error=row["error"] or "no complete round")
            rows.append(row)
    return rows


def _seconds(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f} s"


def _times(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}×"


def _model_label(row: dict) -> str:
    info = row.get("model_info")
    if not info:
        return row["model"]
    shape = "×".join(str(side) for side in info["input_shape"])
    kind = "ids" if len(info["input_shape"]) == 1 else "input"
    params = info["params"]
    params_text = f"{params / 1e6:.1f}M" if params >= 1e6 else f"{params / 1e3:.0f}k"
    return f"{row['model']} ({shape} {kind}, batch {info['batch_size']}, {info['layers']} layers, {params_text} params)"


def render_markdown(run: dict, rows: list[dict], info: dict, command: str) -> str:
    """The generated section of docs/benchmark.md, from ``##`` heading to the config list."""
    environments = [w["environment"] for w in run["workers"] if w.get("environment")]
    environment = environments[0] if environments else {}
    gpus = environment.get("gpus")
    gpu_text = ", ".join(gpus) if gpus else ("none" if environments else "unknown (no worker finished)")
    threads = sorted({(e["inter_op_threads"], e["intra_op_threads"]) for e in environments})
    loads = [sample[0] for sample in run["load_samples"]]
    jit_modes = sorted({str(row["jit_compile"]) for row in rows if row.get("jit_compile") is not None})
    lines = [
        "## Standard architectures",
        "",
        "Generated by `benchmarks/real_models.py` (see its docstring for the protocol).",
        "",
        f"### Run of {info['date']}",
        "",
        f"- Command: `{command}`",
        f"- Machine: {info['cpu']}, {info['cores']} cores, {info['ram']} RAM; GPU: {gpu_text}; Python "
        f"{info['python']}, TensorFlow {environment.get('tensorflow', info.get('tensorflow'))}, Keras "
        f"{environment.get('keras', info.get('keras'))}.",
        f"- Models: {'small variants' if run['small'] else 'full size'}; dtype policy "
        f"{environment.get('dtype_policy', '?')}; `jit_compile` Keras' default `\"auto\"` (resolved: "
        f"{', '.join(jit_modes) or '?'}); threads (inter, intra) as seen by TF: {threads}.",
        f"- Protocol: one process per model; a 2-step throwaway fit first; then one copy per config "
        f"(same seed), each doing its first fit and a later fit ({run['steps']} steps each, a new "
        f"callback into the same log directory), then {run['rounds']} round(s) of {run['steps']}-step fits in "
        f"a shuffled order (seed {run['seed']}), each a later fit too (medians over all of them, ratio "
        f"per round). Steady ratio = copy's median step / plain's median in "
        f"the same round (first batch of each fit left out); median over rounds, its 95% bootstrap "
        f"confidence interval (5 rounds or more), [min–max]. "
        f"`check_numerics` and Debugger V2 run in a process of their own, after a plain copy measured "
        f"there before enabling them (rounds not interleaved).",
        f"- Load average (1 min) after each worker: min {min(loads):.2f}, max {max(loads):.2f} on "
        f"{info['cores']} cores. Wall time of the whole run: {run['elapsed_s'] / 60:.1f} min.",
        "",
        "| model | config | first step: plain | config | ratio | first fit: plain | config | ratio "
        "| later fits: plain | config | median ratio [min–max] | steady step: plain | config | median ratio, 95% CI [min–max] |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for row in rows:
        label = _model_label(row)
        if row["status"] != "ok":
            text = "not supported (XLA)" if row["status"] == "not_supported" else (
                "error: " + str(row.get("error") or "?").replace("|", "/")[:160]
            )
            lines.append(f"| {label} | {row['config']} | {text} |" + " |" * 11)
            continue
        cells = []
        for key in ("first_step", "first_fit", "later_fit"):
            part = row[key]
            cells += [_seconds(part["plain_s"]), _seconds(part["config_s"]), _times(part["ratio"])]
        later = row["later_fit"]
        if later.get("ratio_min") is not None:
            cells[-1] += f" [{later['ratio_min']:.2f}–{later['ratio_max']:.2f}]"
        steady = row["steady"]
        cells += [
            "—" if steady["plain_ms"] is None else f"{steady['plain_ms']:.1f} ms",
            "—" if steady["config_ms"] is None else f"{steady['config_ms']:.1f} ms",
            f"{steady['ratio']:.3f}×"
            + (f", CI {steady['ratio_ci95'][0]:.3f}–{steady['ratio_ci95'][1]:.3f}" if steady.get("ratio_ci95") else "")
            + f" [{steady['ratio_min']:.3f}–{steady['ratio_max']:.3f}]",
        ]
        lines.append(f"| {label} | {row['config']} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "Configs: " + "; ".join(f"`{config}` = {describe(config)}" for config in run["configs"]) + ".",
        "",
    ]
    return "\n".join(lines)


def write_marked_section(markdown: str, path: str, begin: str, end: str) -> None:
    """Replaces the section between the ``begin`` and ``end`` markers in ``path`` with ``markdown``;
    appends markers and section at the end if absent."""
    section = f"{begin}\n{markdown}{end}\n"
    text = ""
    if os.path.exists(path):
        with open(path) as f:
            text = f.read()
    if begin in text and end in text:
        text = re.sub(re.escape(begin) + r".*?" + re.escape(end) + r"\n?", lambda _: section, text, flags=re.S)
    else:
        text = (text.rstrip("\n") + "\n\n" if text else "") + section
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def write_doc(markdown: str, path: str = DOC_PATH) -> None:
    """Replaces the section between this script's markers in ``path``; appends them at the end if absent."""
    write_marked_section(markdown, path, DOC_BEGIN, DOC_END)


def _parser() -> argparse.ArgumentParser:
    configs = all_configs()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS), help="default: all")
    parser.add_argument("--configs", nargs="+", choices=configs, default=None, help="default: all (plain always runs)")
    parser.add_argument("--rounds", type=int, default=5, help="steady-step rounds")
    parser.add_argument("--steps", type=int, default=25, help="steps of every fit (first, later and each round's)")
    parser.add_argument("--seed", type=int, default=0, help="weights, data and run order")
    parser.add_argument("--small", action="store_true", help="the small model variants (for smoke tests)")
    parser.add_argument("--mixed-precision", action="store_true", help="keras.mixed_precision policy mixed_float16")
    parser.add_argument("--inter-threads", type=int, default=None, help="TF_NUM_INTEROP_THREADS for all workers")
    parser.add_argument("--intra-threads", type=int, default=None, help="TF_NUM_INTRAOP_THREADS for all workers")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S, help="seconds per worker process")
    parser.add_argument("--json", default=None, help="also save the raw worker results and rows to this file")
    parser.add_argument("--write-doc", action="store_true", help=f"write the table into {os.path.relpath(DOC_PATH, REPO)}")
    parser.add_argument("--doc", default=DOC_PATH, help="path used by --write-doc")
    parser.add_argument("--worker", action="store_true", help="internal: measure ONE model (--models) in this process")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = _parser()
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.steps < 3:
        parser.error(f"--rounds must be >= 1 and --steps >= 3, got --rounds {args.rounds} --steps {args.steps}")
    if args.worker:
        if len(args.models) != 1:
            parser.error(f"--worker measures one model, got --models {' '.join(args.models)}")
        report = run_model_worker(
            args.models[0], args.configs, rounds=args.rounds, steps=args.steps, seed=args.seed,
            small=args.small, mixed_precision=args.mixed_precision,
        )
        print(RESULT_MARKER + json.dumps(report), flush=True)
        return 0
    info = machine_info()
    run = run_benchmark(
        models=args.models, configs=args.configs or list(all_configs()), rounds=args.rounds, steps=args.steps,
        seed=args.seed, small=args.small, mixed_precision=args.mixed_precision,
        inter_threads=args.inter_threads, intra_threads=args.intra_threads, timeout=args.timeout,
    )
    rows = summarize(run)
    command = "python benchmarks/real_models.py" + (" " + shlex.join(argv) if argv else "")
    markdown = render_markdown(run, rows, info, command)
    print(markdown)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"info": info, "command": command, **run, "rows": rows}, f, indent=1)
    if args.write_doc:
        write_doc(markdown, args.doc)
        print(f"wrote {args.doc}", file=sys.stderr)
    return 0 if all(row["status"] in ("ok", "not_supported") for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
