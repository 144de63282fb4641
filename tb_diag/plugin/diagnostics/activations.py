"""Activations, viewer side: per-call series, latest-sample summary, findings and the panel's payload."""

from __future__ import annotations

import dataclasses

import numpy as np

from tb_diag import schema
from tb_diag.plugin.downsample import keep_extremes
from tb_diag.plugin.findings import Finding
from tb_diag.plugin.run_data import RunData

FAMILY = schema.ACTIVATIONS
_M = {name: i for i, name in enumerate(FAMILY.metrics)}
_HIST = slice(_M["hist_0"], _M["hist_0"] + schema.HISTOGRAM_BINS)
# What a row of the panel is: a layer call, or a model input (anything else in the log reads as a layer).
CALL_KINDS = ("layer", "input")

# Rules judge the most recent quarter of the samples (at least one sample).
RECENT_SHARE = 0.25
DEAD_WARNING = 0.5  # half the units of a ReLU layer never activate on a batch
DEAD_ERROR = 0.99  # (nearly) all of them: nothing flows through the layer
SATURATION_WARNING = 0.5
EXPLOSION_GROWTH = 100.0  # std grew this many times over its early median
EXPLOSION_MIN_SAMPLES = 5
INPUT_SCALE_LIMIT = 5.0  # |mean| or std of an input above this: not normalised
FEATURE_SPREAD_LIMIT = 100.0
# TensorBoard's distribution bands (basis points of its histogram compression), as quantiles.
BAND_QUANTILES = (0.0, 0.0668, 0.1587, 0.3085, 0.5, 0.6915, 0.8413, 0.9332, 1.0)

DEAD_REMEDY = (
    "Use He initialisation (kernel_initializer='he_normal') for ReLU layers, a lower learning rate (a "
    "large step can push biases so negative that units never fire again), or an activation without a "
    "zero region: LeakyReLU, ELU or GELU. BatchNormalization before the activation keeps inputs centred."
)
SATURATION_REMEDY = (
    "Saturated sigmoid/tanh units pass almost no gradient. Normalise what goes into the layer "
    "(BatchNormalization/LayerNormalization before the activation), use Glorot initialisation, lower "
    "the learning rate, or use a ReLU-family activation in hidden layers (keep sigmoid/softmax for "
    "outputs, computed with from_logits=True in the loss)."
)
EXPLOSION_REMEDY = (
    "Activations growing without bound usually precede exploding gradients and NaNs: add "
    "BatchNormalization or LayerNormalization, lower the learning rate, clip gradients (clipnorm=1.0), "
    "and check initialisation (He for ReLU, Glorot for tanh/sigmoid)."
)
INPUT_REMEDY = (
    "Scale inputs to about zero mean and unit variance inside the model, so training and serving "
    "agree: keras.layers.Rescaling(1/255) for 0-255 pixels, or keras.layers.Normalization() with "
    ".adapt(training_data) for features on different scales."
)


@dataclasses.dataclass
class ActivationSeries:
    """The sampled steps of a run's activation statistics.

    Attributes:
      calls: row names (``"dense"``, ``"shared#2"`` for a shared layer's 2nd call, ``"input"``...).
      info: per call ``{"name", "layer", "activation", "kind"}`` (kind ``"layer"`` or ``"input"``).
      steps: ``[samples]`` sampled training steps.
      values: ``[calls, samples, metrics]``; NaN where the call did not exist at that step;
        ``NOT_SAMPLED`` in metrics that do not apply (dead fraction of a sigmoid layer...).
    """

    calls: list[str]
    info: list[dict]
    steps: np.ndarray
    values: np.ndarray

    def metric(self, name: str) -> np.ndarray:
        """``[calls, samples]`` of one metric, NaN where it does not apply.

        Shares (zeros, dead, saturated) are NaN too where the output held NaN/Inf (its mean or std
        is not finite): a NaN compares false with 0, which would read as a dead unit.
        """
        values = self.values[:, :, _M[name]]
        values = np.where(values == schema.NOT_SAMPLED, np.nan, values)
        if name in ("zero_fraction", "dead_fraction", "saturation"):
            finite_output = np.isfinite(self.values[:, :, _M["mean"]]) & np.isfinite(self.values[:, :, _M["std"]])
            values = np.where(finite_output, values, np.nan)
        return values


def activation_series(run: RunData) -> ActivationSeries | None:
    """The run's sampled activation statistics, or ``None`` if none were recorded."""
    blocks = run.families.get(FAMILY.name)
    if blocks is None or blocks.steps.size == 0:
        return None
    # A sampled step has every existing call's mean set; unsampled rows are all NOT_SAMPLED.
    sampled = np.any(blocks.present & (blocks.values[:, :, _M["std"]] != schema.NOT_SAMPLED), axis=1)
    if not sampled.any():
        return None
    values = np.where(blocks.present[sampled][:, :, None], blocks.values[sampled], np.nan)
    return ActivationSeries(
        calls=list(blocks.rows),
        info=_call_info(run, blocks.rows),
        steps=blocks.steps[sampled],
        values=np.transpose(values, (1, 0, 2)),
    )


def _call_info(run: RunData, calls: list[str]) -> list[dict]:
    """What the calls document says of each row, keeping only well-typed fields (untrusted input)."""
    known: dict[str, dict] = {}
    for _, document in run.documents.get(schema.ACTIVATION_CALLS.name, []):
        entries = document.get("calls")
        for entry in entries if isinstance(entries, list) else []:
            if isinstance(entry, dict) and isinstance(entry.get("name"), str):
                known[entry["name"]] = entry
    info = []
    for name in calls:
        entry = known.get(name, {})
        text = {key: entry.get(key) if isinstance(entry.get(key), str) else default
                for key, default in (("layer", name), ("activation", "other"))}
        kind = entry.get("kind") if entry.get("kind") in CALL_KINDS else "layer"
        info.append({"name": name, **text, "kind": kind})
    return info


def _recent(series: ActivationSeries, name: str) -> np.ndarray:
    """``[calls]`` median of a metric over the most recent quarter of the samples (NaN if none)."""
    values = series.metric(name)
    start = int(values.shape[1] * (1 - RECENT_SHARE))
    recent = values[:, min(start, values.shape[1] - 1) :]
    with np.errstate(all="ignore"):
        finite = np.where(np.isfinite(recent), recent, np.nan)
        counts = np.isfinite(finite).sum(axis=1)
        medians = np.array([np.median(row[np.isfinite(row)]) if n else np.nan for row, n in zip(finite, counts)])
    return medians


def summarize(run: RunData) -> dict | None:
    """``{call: {"mean", "std", "zero_fraction", "dead_fraction", "saturation", "step"}}``, latest sample.

    ``dead_fraction`` / ``saturation`` are ``None`` where they do not apply to the call's activation.
    """
    series = activation_series(run)
    if series is None:
        return None
    summary = {}
    for i, call in enumerate(series.calls):
        # Samples where this call existed (a NaN statistic of an existing call is a real NaN).
        present = np.flatnonzero(~np.all(np.isnan(series.values[i]), axis=1))
        if present.size == 0:
            continue
        last = present[-1]
        row = {name: _json_value(series.values[i, last, _M[name]]) for name in ("mean", "std", "zero_fraction", "dead_fraction", "saturation")}
        row["step"] = int(series.steps[last])
        summary[call] = row
    return summary


def _json_value(value: float) -> float | None:
    return None if value == schema.NOT_SAMPLED else float(value)


def find(run: RunData) -> list[Finding]:
    """``dead_relu``, ``saturated_activation``, ``activation_explosion`` and ``unnormalized_inputs``."""
    series = activation_series(run)
    if series is None:
        return []
    return dead_relu(series) + saturated_activation(series) + activation_explosion(series) + unnormalized_inputs(series)


def _latest_step(series: ActivationSeries) -> int:
    return int(series.steps[-1])


def dead_relu(series: ActivationSeries) -> list[Finding]:
    """ReLU layers with >= 50% (warning) or >= 99% (error) dead units over the recent samples."""
    dead = _recent(series, "dead_fraction")
    findings = []
    for i in np.argsort(-np.nan_to_num(dead, nan=-1.0), kind="stable"):
        if not np.isfinite(dead[i]) or dead[i] < DEAD_WARNING or series.info[i]["kind"] != "layer":
            continue
        severity = "error" if dead[i] >= DEAD_ERROR else "warning"
        findings.append(
            Finding(
                id="dead_relu",
                severity=severity,
                step=_latest_step(series),
                layer=series.calls[i],
                title="Dead ReLU units" if severity == "warning" else "The layer's ReLU units are all dead",
                detail=f"In '{series.calls[i]}', {dead[i]:.0%} of the units were <= 0 for every example of "
                f"the batch (median over the recent samples). A dead unit passes no gradient, so it "
                f"cannot recover by itself{'; nothing flows through this layer' if severity == 'error' else ''}.",
                remedy=DEAD_REMEDY,
            )
        )
    return findings


def saturated_activation(series: ActivationSeries) -> list[Finding]:
    """Sigmoid/tanh/softmax outputs >= 50% within 1% of a bound over the recent samples, in the
    model's hidden layers. The output layer is not judged: a classifier's softmax or sigmoid output
    near 0 or 1 is a confident prediction, what training aims for, and the loss takes its gradient
    from the logits (Keras does so for ``from_logits=False`` too)."""
    saturation = _recent(series, "saturation")
    layer_calls = [i for i, info in enumerate(series.info) if info["kind"] == "layer"]
    output_call = layer_calls[-1] if layer_calls else None  # the forward pass's last layer call
    findings = []
    for i, share in enumerate(saturation):
        if not np.isfinite(share) or share < SATURATION_WARNING or series.info[i]["kind"] != "layer" or i == output_call:
            continue
        findings.append(
            Finding(
                id="saturated_activation",
                severity="warning",
                step=_latest_step(series),
                layer=series.calls[i],
                title="Saturated activations",
                detail=f"In '{series.calls[i]}' ({series.info[i]['activation']}), {share:.0%} of the outputs "
                f"were within 1% of the activation's bounds (median over the recent samples), where its "
                f"gradient is nearly zero.",
                remedy=SATURATION_REMEDY,
            )
        )
    return findings


def activation_explosion(series: ActivationSeries) -> list[Finding]:
    """Layer outputs whose std grew >= 100x over its early median."""
    if series.steps.size < EXPLOSION_MIN_SAMPLES:
        return []
    std = series.metric("std")
    recent_std = _recent(series, "std")
    early_count = max(2, series.steps.size // 10)
    findings = []
    for i in range(len(series.calls)):
        if series.info[i]["kind"] != "layer":
            continue
        early = std[i, :early_count][np.isfinite(std[i, :early_count])]
        recent = recent_std[i]
        if early.size == 0 or not np.isfinite(recent):
            continue
        baseline = float(np.median(early))
        if baseline <= 0 or recent < EXPLOSION_GROWTH * baseline:
            continue
        findings.append(
            Finding(
                id="activation_explosion",
                severity="warning",
                step=_latest_step(series),
                layer=series.calls[i],
                title="Activations are growing without bound",
                detail=f"The std of '{series.calls[i]}' grew from a median of {baseline:.3g} over the first "
                f"{early_count} samples to {recent:.3g} recently ({recent / baseline:.3g}x).",
                remedy=EXPLOSION_REMEDY,
            )
        )
    return findings


def unnormalized_inputs(series: ActivationSeries) -> list[Finding]:
    """Model inputs far from zero mean / unit scale, or features on very different scales."""
    mean, std, spread = (_recent(series, name) for name in ("mean", "std", "feature_spread"))
    low, high = _recent(series, "min"), _recent(series, "max")
    findings = []
    for i, info in enumerate(series.info):
        if info["kind"] != "input":
            continue
        reasons = []
        if np.isfinite(mean[i]) and np.isfinite(std[i]) and max(abs(mean[i]), std[i]) > INPUT_SCALE_LIMIT:
            reasons.append(f"its values have mean {mean[i]:.3g} and std {std[i]:.3g} (range {low[i]:.3g} to {high[i]:.3g})")
        if np.isfinite(spread[i]) and spread[i] > FEATURE_SPREAD_LIMIT:
            reasons.append(f"its features' standard deviations differ by {spread[i]:.3g}x")
        if reasons:
            findings.append(
                Finding(
                    id="unnormalized_inputs",
                    severity="warning",
                    step=_latest_step(series),
                    layer=series.calls[i],
                    title="Inputs are not normalised",
                    detail=f"Model input '{series.calls[i]}': {' and '.join(reasons)}. Large or uneven input "
                    f"scales slow training and push first-layer activations into saturation or death.",
                    remedy=INPUT_REMEDY,
                )
            )
    return findings


def distribution_bands(values: np.ndarray) -> np.ndarray:
    """``[samples, len(BAND_QUANTILES)]`` quantiles of each sample from its 16-bin histogram.

    ``values`` is ``[samples, metrics]`` of one call; quantiles interpolate linearly inside a bin.
    Samples without a histogram (not recorded) give NaN.
    """
    low, high = values[:, _M["min"]], values[:, _M["max"]]
    counts = np.clip(np.nan_to_num(values[:, _HIST], nan=0.0, posinf=0.0), 0.0, 1.0)
    totals = counts.sum(axis=1)
    bands = np.full((values.shape[0], len(BAND_QUANTILES)), np.nan)
    bins = schema.HISTOGRAM_BINS
    for s in range(values.shape[0]):
        if not (np.isfinite(low[s]) and np.isfinite(high[s]) and totals[s] > 0):
            continue
        cumulative = np.concatenate([[0.0], np.cumsum(counts[s]) / totals[s]])
        edges = np.linspace(low[s], high[s], bins + 1)
        bands[s] = np.interp(BAND_QUANTILES, cumulative, edges)
    return bands


def panel_payload(run: RunData, max_points: int) -> dict | None:
    """The Activations panel's data (see docs/http_api.md)."""
    series = activation_series(run)
    if series is None:
        return None
    dead, saturation = _recent(series, "dead_fraction"), _recent(series, "saturation")
    flagged = {f.layer: f.id for f in find(run)}
    latest = summarize(run) or {}
    stacked = np.stack([np.nan_to_num(series.metric(name), nan=-np.inf) for name in ("mean", "std", "dead_fraction", "saturation")])
    steps, reduced, downsampled = keep_extremes(series.steps, stacked, max_points)
    keep = _bucket_last(series.steps, steps)
    calls = []
    for i, name in enumerate(series.calls):
        calls.append(
            {
                **series.info[i],
                "latest": latest.get(name),
                "recent_dead_fraction": _finite_or_none(dead[i]),
                "recent_saturation": _finite_or_none(saturation[i]),
                "finding": flagged.get(name),
                "mean": _nullify(reduced[0, i]),
                "std": _nullify(reduced[1, i]),
                "dead_fraction": _nullify(reduced[2, i]),
                "saturation": _nullify(reduced[3, i]),
                "bands": [[_finite_or_none(v) for v in row] for row in distribution_bands(series.values[i][keep])],
            }
        )
    return {
        "run": run.run,
        "steps": steps.tolist(),
        "band_quantiles": list(BAND_QUANTILES),
        "calls": calls,
        "downsampled": downsampled,
        "warnings": list(run.warnings),
    }


def _bucket_last(all_steps: np.ndarray, shown_steps: np.ndarray) -> np.ndarray:
    """Index of each shown step (the last step of its bucket) in ``all_steps``."""
    return np.searchsorted(all_steps, shown_steps)


def _nullify(row: np.ndarray) -> list[float | None]:
    return [None if not np.isfinite(v) and v == -np.inf else float(v) for v in row]


def _finite_or_none(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def headline(run: RunData, summary: dict | None) -> str | None:
    """One line for the report and the Overview: how many calls were sampled, and when last."""
    if not summary:
        return None
    latest = max(entry["step"] for entry in summary.values())
    return f"{len(summary)} layer calls and inputs, latest sample at step {latest}"
