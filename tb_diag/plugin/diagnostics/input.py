"""Input-pipeline wait, viewer side: step-time series, verdict, ``input_bound`` finding, panel payload."""

from __future__ import annotations

import dataclasses

import numpy as np

from tb_diag import schema
from tb_diag.plugin.downsample import slowest_per_bucket
from tb_diag.plugin.findings import Finding
from tb_diag.plugin.run_data import RunData

FAMILY = schema.INPUT

# The profiler's (XProf) input-bound rule: the share of step time spent waiting for input.
HIGHLY_INPUT_BOUND = 0.20
MODERATELY_INPUT_BOUND = 0.05
# A verdict needs this many steady steps.
MIN_STEPS = 5
# A step whose compute or host time is this many times its run's median (plus an absolute slack,
# so microsecond noise on tiny steps never counts) traced or compiled: left out of the verdict.
OUTLIER_FACTOR = 10.0
OUTLIER_SLACK_S = 1e-3
HISTOGRAM_BINS = 40
# Below this median wait the pipeline is not slow: handing over a ready batch costs about this much
# (0.02-0.15 ms measured for prefetched in-memory data on CPU); it only matters when steps are tiny.
SHORT_WAIT_S = 0.5e-3


@dataclasses.dataclass
class InputSeries:
    """Per-step timing of a run, all arrays ``[steps]``, seconds.

    Attributes:
      host: time on the host since the previous step; NaN at the first step of an epoch.
      step_time: ``wait + compute + host`` (host counted as 0 where NaN).
      steady: the step is used for the verdict: not one whose compute or host time was an outlier
        (the steps that traced or XLA-compiled the train function, and epoch-end work).
    """

    steps: np.ndarray
    wait: np.ndarray
    compute: np.ndarray
    host: np.ndarray
    epoch: np.ndarray
    step_time: np.ndarray
    steady: np.ndarray


def input_series(run: RunData) -> InputSeries | None:
    """The run's per-step timing, or ``None`` if none was recorded."""
    blocks = run.families.get(FAMILY.name)
    if blocks is None or blocks.steps.size == 0:
        return None
    wait, compute, host, epoch = (blocks.values[:, i] for i in range(len(FAMILY.metrics)))
    # Clock steps backwards (NTP) could make a difference negative; a duration is never below 0.
    wait, compute = np.maximum(wait, 0.0), np.maximum(compute, 0.0)
    host = np.where(host == schema.NOT_SAMPLED, np.nan, np.maximum(host, 0.0))
    step_time = wait + compute + np.nan_to_num(host, nan=0.0)
    steady = ~(_outliers(compute) | _outliers(host)) & np.isfinite(step_time)
    return InputSeries(blocks.steps, wait, compute, host, epoch.astype(np.int64), step_time, steady)


def _outliers(values: np.ndarray) -> np.ndarray:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return np.zeros(values.shape, dtype=bool)
    limit = OUTLIER_FACTOR * float(np.median(finite)) + OUTLIER_SLACK_S
    return np.isfinite(values) & (values > limit)


def verdict(wait_fraction: float) -> str:
    """``"highly"`` (>= 20% of step time waiting for input), ``"moderately"`` (>= 5%) or ``"not"``."""
    if wait_fraction >= HIGHLY_INPUT_BOUND:
        return "highly"
    if wait_fraction >= MODERATELY_INPUT_BOUND:
        return "moderately"
    return "not"


def _judge(series: InputSeries, mask: np.ndarray) -> dict:
    chosen = mask & series.steady
    count = int(chosen.sum())
    if count < MIN_STEPS:
        return {"wait_fraction": None, "verdict": None, "step_p50_s": None, "step_p95_s": None, "wait_p50_s": None, "steps": count}
    total = float(series.step_time[chosen].sum())
    fraction = float(series.wait[chosen].sum()) / total if total > 0 else 0.0
    p50, p95 = np.percentile(series.step_time[chosen], [50, 95])
    return {
        "wait_fraction": fraction,
        "verdict": verdict(fraction),
        "step_p50_s": float(p50),
        "step_p95_s": float(p95),
        "wait_p50_s": float(np.median(series.wait[chosen])),
        "steps": count,
    }


def summarize(run: RunData) -> dict | None:
    """The run's input summary for the JSON report (see docs/cli.md, the JSON report)."""
    series = input_series(run)
    return None if series is None else _summary(run, series)


def _summary(run: RunData, series: InputSeries) -> dict:
    summary = _judge(series, np.ones(series.steps.shape, dtype=bool))
    summary["excluded_steps"] = int((~series.steady).sum())
    summary["epochs"] = [{"epoch": int(epoch), **_judge(series, series.epoch == epoch)} for epoch in _epochs_in_order(series)]
    summary["pipeline"] = pipeline_description(run)
    return summary


def pipeline_description(run: RunData) -> dict | None:
    """The newest pipeline description, keeping only well-typed fields (log dirs are untrusted)."""
    document = run.document_at(schema.INPUT_PIPELINE.name)
    if document is None:
        return None
    stages = document.get("stages")
    described = {"stages": [stage for stage in stages if isinstance(stage, str)] if isinstance(stages, list) else []}
    source = document.get("source")
    described["source"] = source if source in ("python", "in_memory", "files", "unknown") else "unknown"
    for flag in ("python", "prefetch", "parallel_map", "sequential_map", "cache"):
        described[flag] = document.get(flag) is True
    return described


def _epochs_in_order(series: InputSeries) -> list[int]:
    seen: list[int] = []
    for epoch in series.epoch.tolist():
        if epoch not in seen:
            seen.append(epoch)
    return seen


def find(run: RunData) -> list[Finding]:
    """``input_bound`` when waiting for data takes >= 5% (info) or >= 20% (warning) of step time.

    A wait shorter than ``SHORT_WAIT_S`` is the fixed cost of handing over a ready batch: at
    "moderately" it only says that the step is short (no finding; the headline keeps the figure),
    at "highly" it is an info (more work per step helps), not a warning about the pipeline."""
    series = input_series(run)
    if series is None:
        return []
    summary = _summary(run, series)
    if summary["verdict"] in (None, "not"):
        return []
    short_wait = summary["wait_p50_s"] is not None and summary["wait_p50_s"] < SHORT_WAIT_S
    if short_wait and summary["verdict"] == "moderately":
        return []
    fraction = summary["wait_fraction"]
    worst_epoch = max((e for e in summary["epochs"] if e["wait_fraction"] is not None), key=lambda e: e["wait_fraction"], default=None)
    epoch_note = ""
    if worst_epoch is not None and len(summary["epochs"]) > 1:
        epoch_note = f" The worst epoch was {worst_epoch['epoch']} ({worst_epoch['wait_fraction']:.0%})."
    pipeline = summary["pipeline"]
    stages = f" The pipeline, last stage first: {' <- '.join(pipeline['stages'][:12])}." if pipeline and pipeline["stages"] else ""
    return [
        Finding(
            id="input_bound",
            severity="warning" if summary["verdict"] == "highly" and not short_wait else "info",
            step=int(series.steps[series.steady][0]),
            layer=None,
            title=f"Training is {summary['verdict']} input-bound",
            detail=f"Steps spent {fraction:.0%} of their time waiting for the next batch (median wait "
            f"{_ms(summary['wait_p50_s'])} of a median {_ms(summary['step_p50_s'])} step, p95 step "
            f"{_ms(summary['step_p95_s'])}, over {summary['steps']} steps).{epoch_note}{stages} The "
            f"accelerator sits idle while it waits.",
            remedy=input_remedy(pipeline, summary),
        )
    ]


def input_remedy(pipeline: dict | None, summary: dict) -> str:
    """What to change, chosen by what the pipeline is made of (``probes/input.py`` describes it)."""
    advice = []
    pipeline = pipeline if isinstance(pipeline, dict) else {}
    wait = summary.get("wait_p50_s")
    if wait is not None and wait < SHORT_WAIT_S:
        return (
            f"Each wait is short (median {_ms(wait)}): that is the fixed cost of handing a ready batch to "
            f"the step, a large share only because the step itself is short ({_ms(summary['step_p50_s'])}). "
            "Give each step more work: a larger batch size, or compile(steps_per_execution=N) to run N "
            "steps per call."
        )
    if pipeline.get("python"):
        advice.append(
            "The batches are made in Python (a generator, a PyDataset or tf.py_function), one at a time "
            "under the GIL: give a keras.utils.PyDataset workers (workers=4, use_multiprocessing=True), or "
            "move the work into tf.data (from_tensor_slices / TFRecordDataset + map(..., "
            "num_parallel_calls=tf.data.AUTOTUNE))."
        )
    if pipeline.get("sequential_map") and not pipeline.get("parallel_map"):
        advice.append("Run map stages in parallel: dataset.map(fn, num_parallel_calls=tf.data.AUTOTUNE).")
    if not pipeline.get("prefetch"):
        advice.append("End the pipeline with .prefetch(tf.data.AUTOTUNE) so the next batch is prepared while the step runs.")
    if pipeline.get("source") in ("files", "python") and not pipeline.get("cache"):
        advice.append("If the decoded data fits in memory or on local disk, .cache() it after the expensive, deterministic stages.")
    if not pipeline:
        advice.append(
            "Use tf.data with map(..., num_parallel_calls=tf.data.AUTOTUNE), .cache() where the data fits, and "
            ".prefetch(tf.data.AUTOTUNE) at the end."
        )
    advice.append("A larger batch size spreads the per-batch overhead over more examples.")
    return " ".join(advice)


def _ms(seconds: float | None) -> str:
    return "n/a" if seconds is None else f"{seconds * 1000:.3g} ms"


def panel_payload(run: RunData, max_points: int) -> dict | None:
    """The Input panel's data (see docs/http_api.md): per-step times, histogram, verdicts."""
    series = input_series(run)
    if series is None:
        return None
    # Stacked bars need the three parts of one real step: each bucket shows its slowest step.
    keep, downsampled = slowest_per_bucket(series.step_time, max_points)
    steady_times = series.step_time[series.steady]
    return {
        "run": run.run,
        "steps": series.steps[keep].tolist(),
        "wait_s": series.wait[keep].tolist(),
        "compute_s": series.compute[keep].tolist(),
        "host_s": [None if np.isnan(value) else value for value in series.host[keep].tolist()],
        "steady": series.steady[keep].tolist(),
        "downsampled": downsampled,
        "histogram": _histogram(steady_times),
        "summary": _summary(run, series),
        "thresholds": {"moderately": MODERATELY_INPUT_BOUND, "highly": HIGHLY_INPUT_BOUND},
        "warnings": list(run.warnings),
    }


def _histogram(step_times: np.ndarray) -> dict:
    """Step-time histogram over ``[min, p99]``; slower steps are counted in the last bin."""
    if step_times.size == 0:
        return {"edges_s": [], "counts": []}
    bottom, top = float(step_times.min()), float(np.percentile(step_times, 99))
    top = max(top, bottom + 1e-6)
    edges = np.linspace(bottom, top, HISTOGRAM_BINS + 1)
    counts, _ = np.histogram(np.minimum(step_times, top), bins=edges)
    return {"edges_s": edges.tolist(), "counts": counts.tolist()}


def headline(run: RunData, summary: dict | None) -> str | None:
    """One line for the report and the Overview: the verdict, the share waiting, step times."""
    if not summary or summary.get("verdict") is None:
        return None
    return (
        f"{summary['verdict']} input-bound, {summary['wait_fraction']:.0%} of step time waiting; "
        f"step p50 {summary['step_p50_s'] * 1000:.3g} ms, p95 {summary['step_p95_s'] * 1000:.3g} ms"
    )
