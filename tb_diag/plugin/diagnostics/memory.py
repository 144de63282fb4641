"""Memory, viewer side: host RSS across fits, retracing, GPU figures, findings and the panel's payload."""

from __future__ import annotations

import dataclasses

import numpy as np

from tb_diag import schema
from tb_diag.plugin.findings import Finding
from tb_diag.plugin.run_data import RunData

FAMILY = schema.MEMORY
_G = {name: i for i, name in enumerate(schema.GPU_MEMORY.metrics)}

# Host growth across fits of one process: the last fits in a row (at least this many) each start
# with more resident memory AND more live models than the one before (memory alone creeps up with
# allocator high-water marks even when models are freed), by this much in total.
GROWTH_MIN_FITS = 3
GROWTH_MIN_BYTES = 50 * 2**20
# Retracing: this many input signatures beyond the first in a run.
RETRACE_WARNING = 2
# GPU headroom: the allocator's peak at or above this share of the device's memory.
HEADROOM_WARNING = 0.9
# BFC fragmentation (1 - largest free chunk / free bytes) at or above this, as the median of a
# profiler window with at least FRAGMENTATION_MIN_EVENTS allocator events.
FRAGMENTATION_WARNING = 0.5
FRAGMENTATION_MIN_EVENTS = 10

GROWTH_REMEDY = (
    "Each fit in this process starts with more memory than the last, and the models trained before "
    "are still alive: call keras.backend.clear_session() (and drop references: del model; gc.collect()) "
    "between experiments, and build models inside a function so nothing global keeps them alive."
)
RETRACE_REMEDY = (
    "Every new input signature retraces (and with jit_compile recompiles) the train step. Feed fixed "
    "shapes: pad sequences to a few bucket lengths (tf.data bucket_by_sequence_length / "
    "padded_batch), drop the remainder (batch(..., drop_remainder=True)), keep dtypes constant; a "
    "tf.function of your own can take reduce_retracing=True or an input_signature with None dimensions."
)
FRAGMENTATION_REMEDY = (
    "The allocator's free memory is split into pieces too small for the largest requests, so an "
    "allocation can fail with free memory left. Try TF_GPU_ALLOCATOR=cuda_malloc_async, keep tensor "
    "shapes constant between steps (padding/bucketing), avoid growing batch sizes mid-run, and "
    "allocate large long-lived tensors first."
)
HEADROOM_REMEDY = (
    "The allocator's peak is close to the device's memory: an out-of-memory error is one larger batch "
    "away. Use a smaller batch (with gradient accumulation if needed), mixed precision "
    "(keras.mixed_precision.set_global_policy('mixed_float16')), and turn on memory growth "
    "(tf.config.experimental.set_memory_growth) if other processes share the GPU."
)


@dataclasses.dataclass
class MemorySeries:
    """Host figures at each flush of the run (arrays ``[samples]``, NaN where unknown).

    Attributes:
      process_fits: the memory at the start of each fit of the process that wrote the newest sample
        (``{"fit_index", "host_rss_bytes", "live_models"}``), including fits logged elsewhere.
    """

    steps: np.ndarray
    rss: np.ndarray
    fit_index: np.ndarray
    live_models: np.ndarray
    epoch: np.ndarray
    process_fits: list[dict]


def memory_series(run: RunData) -> MemorySeries | None:
    """The run's host memory samples (well-typed fields only), or ``None`` if none were recorded."""
    samples = []
    process_fits: list[dict] = []
    for step, document in run.documents.get(FAMILY.name, []):
        fit = document.get("fit_index")
        if not isinstance(fit, int) or isinstance(fit, bool):
            continue
        samples.append((step, _number(document.get("host_rss_bytes")), fit, _number(document.get("live_models")), _number(document.get("epoch"))))
        process = document.get("process")
        listed = process.get("fits") if isinstance(process, dict) else None
        if isinstance(listed, list):
            process_fits = [
                {"fit_index": entry["fit_index"], "host_rss_bytes": _number(entry.get("host_rss_bytes")), "live_models": _number(entry.get("live_models"))}
                for entry in listed
                if isinstance(entry, dict) and isinstance(entry.get("fit_index"), int)
            ]
    if not samples:
        return None
    steps, rss, fits_, live, epochs = (np.array(column, dtype=float) for column in zip(*samples))
    return MemorySeries(steps.astype(np.int64), rss, fits_.astype(np.int64), live, epochs, process_fits)


def _number(value: object) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else np.nan


def fits(series: MemorySeries) -> list[dict]:
    """Per fit written to this run (in order): its first step, RSS at its first and last flush, models alive."""
    result = []
    for fit in dict.fromkeys(series.fit_index.tolist()):
        rows = np.flatnonzero(series.fit_index == fit)
        result.append(
            {
                "fit_index": int(fit),
                "first_step": int(series.steps[rows[0]]),
                "rss_first_bytes": _float(series.rss[rows[0]]),
                "rss_last_bytes": _float(series.rss[rows[-1]]),
                "live_models": None if not np.isfinite(series.live_models[rows[-1]]) else int(series.live_models[rows[-1]]),
            }
        )
    return result


def traces(run: RunData) -> tuple[list[dict], str | None]:
    """The recorded trace signatures (well-typed entries only) and why GPU figures are missing."""
    entries: dict[tuple, dict] = {}
    unavailable = None
    for _, document in run.documents.get(schema.TRACES.name, []):
        fit = document.get("fit_index")
        if isinstance(document.get("unavailable"), str):
            unavailable = document["unavailable"]
        listed = document.get("traces")
        for entry in listed if isinstance(listed, list) else []:
            if not isinstance(entry, dict) or not isinstance(entry.get("signature"), str):
                continue
            step, epoch = entry.get("step"), entry.get("epoch")
            clean = {
                "fit_index": fit if isinstance(fit, int) else None,
                "step": step if isinstance(step, int) else None,
                "epoch": epoch if isinstance(epoch, int) else None,
                "sampled": entry.get("sampled") is True,
                "signature": entry["signature"][:2000],
            }
            entries.setdefault((clean["fit_index"], clean["sampled"], clean["signature"]), clean)
    return sorted(entries.values(), key=lambda e: (e["fit_index"] or 0, e["step"] or 0)), unavailable


def profile_windows(run: RunData) -> tuple[list[dict], str | None]:
    """The opt-in profiler windows (well-typed entries only) and why windows were skipped, if so."""
    windows: dict[tuple, dict] = {}
    skipped = None
    numeric = ("events", "fragmentation_median", "fragmentation_max", "bytes_in_use_max", "peak_bytes_in_use")
    for _, document in run.documents.get(schema.MEMORY_PROFILES.name, []):
        if isinstance(document.get("skipped"), str):
            skipped = document["skipped"]
        listed = document.get("windows")
        for entry in listed if isinstance(listed, list) else []:
            if not isinstance(entry, dict) or not isinstance(entry.get("allocator"), str) or not isinstance(entry.get("step"), int):
                continue
            clean = {"step": entry["step"], "allocator": entry["allocator"][:200]}
            clean.update({key: _float(_number(entry.get(key))) for key in numeric})
            windows[(clean["step"], clean["allocator"])] = clean
    return sorted(windows.values(), key=lambda w: (w["step"], w["allocator"])), skipped


def retrace_count(run: RunData) -> int:
    """Input signatures the train step was traced with in this run, beyond the first.

    Counted over all fits written to the run: Keras keeps one train function per model and
    retraces it for each new signature (tb_diag's own traces, made once per model and setting,
    are not counted). Within a fit, Keras' data adapters give every batch one signature.
    """
    listed, _ = traces(run)
    return max(0, len({entry["signature"] for entry in listed}) - 1)


def gpu_figures(run: RunData) -> list[dict] | None:
    """Per GPU: the last reading and derived figures (see docs/diagnostics/memory.md); ``None`` without GPU data."""
    blocks = run.families.get(schema.GPU_MEMORY.name)
    if blocks is None or blocks.steps.size == 0:
        return None
    devices = []
    for i, device in enumerate(blocks.rows):
        present = np.flatnonzero(blocks.present[:, i])
        if present.size == 0:
            continue
        values = blocks.values[present, i, :]
        last = values[-1]
        figure = {name: _float(last[j]) for name, j in _G.items()}
        figure["device"] = device
        figure["step"] = int(blocks.steps[present[-1]])
        figure["peak_bytes"] = _float(np.nanmax(values[:, _G["tf_peak"]])) if np.isfinite(values[:, _G["tf_peak"]]).any() else None
        # Context baseline: the least this process ever held beyond what TF's allocator handed out.
        over = values[:, _G["process_used"]] - values[:, _G["tf_in_use"]]
        baseline = float(np.nanmin(over)) if np.isfinite(over).any() else None
        reserved = None if baseline is None or figure["process_used"] is None else figure["process_used"] - baseline
        figure["reserved_bytes"] = reserved
        in_use = figure["tf_in_use"]
        figure["slack"] = None if not reserved or in_use is None else max(0.0, 1.0 - in_use / reserved)
        total, peak = figure["device_total"], figure["peak_bytes"]
        figure["headroom"] = None if not total or peak is None else peak / total
        figure["series"] = {
            "steps": blocks.steps[present].tolist(),
            **{name: [_float(v) for v in values[:, j]] for name, j in _G.items()},
            "reserved": [None if baseline is None else _float(v - baseline) for v in values[:, _G["process_used"]]],
        }
        devices.append(figure)
    return devices


def _float(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def summarize(run: RunData) -> dict | None:
    """``{"gpu": [...] | null, "host_rss_bytes": [...], "retraces": int, "fits": [...], "gpu_unavailable"}``."""
    series = memory_series(run)
    if series is None:
        return None
    gpu = gpu_figures(run)
    _, unavailable = traces(run)
    windows, skipped = profile_windows(run)
    return {
        "fragmentation": windows,
        "profile_skipped": skipped,
        "gpu": None if gpu is None else [{k: v for k, v in device.items() if k != "series"} for device in gpu],
        "gpu_unavailable": unavailable if gpu is None else None,
        "host_rss_bytes": [_float(v) for v in series.rss],
        "steps": series.steps.tolist(),
        "retraces": retrace_count(run),
        "fits": fits(series),
        "process_fits": [{k: _float(v) if k != "fit_index" else v for k, v in f.items()} for f in series.process_fits],
    }


def find(run: RunData) -> list[Finding]:
    """``host_memory_growth``, ``retracing`` and ``gpu_headroom``."""
    series = memory_series(run)
    if series is None:
        return []
    return host_memory_growth(series) + retracing(run) + gpu_headroom(run) + gpu_fragmentation(run)


def host_memory_growth(series: MemorySeries) -> list[Finding]:
    """RSS at the start of each fit grew across >= 3 fits of one process, by >= 50 MiB in all."""
    starts: list[dict] = []
    for fit in reversed(series.process_fits):  # the trailing run of growing fits
        if not (np.isfinite(fit["host_rss_bytes"]) and np.isfinite(fit["live_models"])):
            break
        if starts and not (fit["host_rss_bytes"] < starts[0]["host_rss_bytes"] and fit["live_models"] < starts[0]["live_models"]):
            break
        starts.insert(0, fit)
    rss = [f["host_rss_bytes"] for f in starts]
    if len(starts) < GROWTH_MIN_FITS or rss[-1] - rss[0] < GROWTH_MIN_BYTES:
        return []
    total = rss[-1] - rss[0]
    per_fit = total / (len(rss) - 1)
    alive_note = (
        f"; the models trained with tb_diag that were still alive went from {int(starts[0]['live_models'])} "
        f"to {int(starts[-1]['live_models'])}: old models are not being freed"
    )
    return [
        Finding(
            id="host_memory_growth",
            severity="warning",
            step=int(series.steps[-1]),
            layer=None,
            title="Host memory grows with every fit",
            detail=f"Over {len(rss)} fits in one process (fits logged to other directories included), "
            f"resident memory at the start of each fit went from {_mib(rss[0])} to {_mib(rss[-1])} "
            f"({_mib(per_fit)} per fit){alive_note}.",
            remedy=GROWTH_REMEDY,
        )
    ]


def retracing(run: RunData) -> list[Finding]:
    """>= 2 retraces: the train step met >= 3 different input signatures in this run."""
    count = retrace_count(run)
    if count < RETRACE_WARNING:
        return []
    listed, _ = traces(run)
    first_seen: dict[str, dict] = {}
    for entry in listed:
        first_seen.setdefault(entry["signature"], entry)
    shown = "; ".join(f"from step {e['step']}: {e['signature']}" for e in list(first_seen.values())[:6])
    return [
        Finding(
            id="retracing",
            severity="warning",
            step=list(first_seen.values())[1]["step"],
            layer=None,
            title="The train step is retraced for new input shapes",
            detail=f"The train step met {count + 1} different input signatures in this run, so Keras traces "
            f"it {count} more time(s) (and under jit_compile compiles it again). Signatures: {shown}.",
            remedy=RETRACE_REMEDY,
        )
    ]


def gpu_headroom(run: RunData) -> list[Finding]:
    """A GPU whose allocator peak reached >= 90% of the device's memory."""
    findings = []
    for device in gpu_figures(run) or []:
        if device["headroom"] is None or device["headroom"] < HEADROOM_WARNING:
            continue
        findings.append(
            Finding(
                id="gpu_headroom",
                severity="warning",
                step=device["step"],
                layer=None,
                title=f"{device['device']} is nearly full",
                detail=f"TensorFlow's allocator peaked at {_mib(device['peak_bytes'])} of the device's "
                f"{_mib(device['device_total'])} ({device['headroom']:.0%}).",
                remedy=HEADROOM_REMEDY,
            )
        )
    return findings


def gpu_fragmentation(run: RunData) -> list[Finding]:
    """A BFC allocator whose fragmentation had a median >= 0.5 over a profiler window."""
    worst: dict[str, dict] = {}
    for window in profile_windows(run)[0]:
        median, events = window["fragmentation_median"], window["events"]
        if median is None or events is None or events < FRAGMENTATION_MIN_EVENTS or median < FRAGMENTATION_WARNING:
            continue
        if window["allocator"] not in worst or median > worst[window["allocator"]]["fragmentation_median"]:
            worst[window["allocator"]] = window
    return [
        Finding(
            id="gpu_fragmentation",
            severity="warning",
            step=window["step"],
            layer=None,
            title=f"Allocator '{allocator}' is fragmented",
            detail=f"In the profiler window ending at step {window['step']}, the median fragmentation of "
            f"'{allocator}' was {window['fragmentation_median']:.0%} (max {window['fragmentation_max']:.0%}, "
            f"{int(window['events'])} allocator events): that share of its free memory is not in its "
            f"largest free block. Peak in use {_mib(window['peak_bytes_in_use'])}.",
            remedy=FRAGMENTATION_REMEDY,
        )
        for allocator, window in worst.items()
    ]


def _mib(value: float | None) -> str:
    return "n/a" if value is None else f"{value / 2**20:.0f} MiB"


def panel_payload(run: RunData, max_points: int) -> dict | None:
    """The Memory panel's data (see docs/http_api.md)."""
    summary = summarize(run)
    if summary is None:
        return None
    listed, _ = traces(run)
    gpu = gpu_figures(run)
    return {
        "run": run.run,
        "steps": summary["steps"][-max_points:],
        "host_rss_bytes": summary["host_rss_bytes"][-max_points:],
        "fits": summary["fits"],
        "process_fits": summary["process_fits"],
        "retraces": summary["retraces"],
        "traces": listed,
        "gpu": gpu,
        "gpu_unavailable": summary["gpu_unavailable"],
        "fragmentation": summary["fragmentation"],
        "profile_skipped": summary["profile_skipped"],
        "warnings": list(run.warnings),
    }


def headline(run: RunData, summary: dict | None) -> str | None:
    """One line for the report and the Overview: host RSS at the last flush, retraces, GPU."""
    if not summary:
        return None
    rss = [v for v in summary["host_rss_bytes"] if v is not None]
    if summary["gpu"]:
        gpu = f"{len(summary['gpu'])} GPU(s)"
    else:
        gpu = f"no GPU figures ({summary['gpu_unavailable'] or 'none recorded'})"
    if not rss:
        return "no host figures"
    return f"host RSS {rss[-1] / 2**20:.0f} MiB at the last flush; {summary['retraces']} retrace(s); {gpu}"
