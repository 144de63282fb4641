"""Gradients, viewer side: decoded series, report summary, findings and the panel's payload."""

from __future__ import annotations

import base64
import dataclasses
import warnings

import numpy as np

from tb_diag import schema
from tb_diag.plugin.diagnostics import environment
from tb_diag.plugin.downsample import keep_extremes
from tb_diag.plugin.findings import Finding
from tb_diag.plugin.run_data import RunData, derived
from tb_diag.vocabulary import MATRIX_ENCODING

FAMILY = schema.GRADIENTS

# A rule needs this many steps before it judges growth or decay.
MIN_STEPS = 10
# Exploding: the global norm grows this many times above its early median.
EXPLODING_WARNING_GROWTH = 1e2
EXPLODING_ERROR_GROWTH = 1e3
# Vanishing, two conditions over the last half of the run. (1) A layer's median gradient norm is
# this many times smaller than the largest layer's (three orders of magnitude)...
VANISHING_RATIO = 1e-3
# ...and (2) its weights barely move: its median update ratio is this many times smaller than the
# median update ratio of the layer with the largest gradients. Small gradients alone are normal in
# healthy models (attention query/key at near-uniform attention, normalisation and bias
# parameters, deep layers of a CNN): an adaptive optimizer (Adam, RMSprop) turns them into
# normal-sized updates, and then nothing is stuck. Only when the updates are small too do the
# layer's weights stop learning.
VANISHING_UPDATE_SHARE = 1e-2
# Condition (2) needs this many sampled steps (update ratios) in the window; without them the rule
# does not judge (a gradient norm alone cannot tell a stuck layer from a healthy one).
VANISHING_MIN_SAMPLES = 3
# Not judged: normalisation layers. Their scale and offset start at 1 and 0 and receive small,
# noisy gradients in every healthy deep network (a ResNet50's BatchNormalization layers deep in the
# network sit 1000x below its first convolution); gradients vanish through the kernels of the
# layers between them, which is where the rule looks.
NORMALIZATION_CLASSES = frozenset({
    "BatchNormalization", "SyncBatchNormalization", "LayerNormalization", "GroupNormalization",
    "UnitNormalization", "RMSNormalization", "SpectralNormalization",
})

# Learning-rate scale, read from the update ratio ||w_after - w_before|| / ||w_after|| of the
# sampled steps before any non-finite value (~1e-3 of the weights' norm per step is the rule of
# thumb; healthy Adam runs of the standard models measure 1e-7 to 1.3e-2, see docs/rules.md).
# Too high: a layer's median update ratio is at least this (its weights change by 5% per step).
LR_TOO_HIGH = 5e-2
# Too low: EVERY layer's median update ratio is at most this while the gradients have not shrunk
# (a converged model's updates are small because its gradients are; a too-small learning rate's
# are small although its gradients are not).
LR_TOO_LOW = 1e-6
# "Not shrunk": the recent median global gradient norm is at least this share of its early median.
LR_CONVERGED_SHARE = 1e-2
# Either judgement needs this many sampled steps in its window.
LR_MIN_SAMPLES = 3

LR_HIGH_REMEDY = (
    "Lower the learning rate (try 3-10x lower) or warm it up over the first steps "
    "(keras.optimizers.schedules, or a LearningRateScheduler callback); with SGD consider Adam. If "
    "only some layers are listed, give them a smaller rate or normalise what feeds them "
    "(BatchNormalization/LayerNormalization), and clip gradients (clipnorm=1.0)."
)
LR_LOW_REMEDY = (
    "Raise the learning rate (try 10x higher); check that a schedule has not decayed it to almost "
    "zero and that it was not set in the wrong unit (1e-5 where 1e-3 was meant). A learning-rate "
    "range test (increase it every few steps, watch the loss) finds a good value."
)

# The title of the exploding_gradients finding for a non-finite norm (not mere growth); the
# root-cause attribution (plugin/causes.py) reads it as "the first non-finite step".
NONFINITE_TITLE = "Gradients became non-finite"

EXPLODING_REMEDY = (
    "Clip gradients (e.g. keras.optimizers.Adam(learning_rate, clipnorm=1.0)), lower the learning "
    "rate (try 10x lower, or add warm-up), and check initialisation: He ('he_normal') for ReLU-family "
    "layers, Glorot ('glorot_uniform') for tanh/sigmoid. Put BatchNormalization or LayerNormalization "
    "between deep stacks of layers."
)
VANISHING_REMEDY = (
    "In deep stacks prefer ReLU-family activations (ReLU, LeakyReLU, GELU) with He initialisation over "
    "sigmoid/tanh; add BatchNormalization/LayerNormalization or residual (skip) connections; check the "
    "layer is connected to the loss (an exactly-zero gradient means it does not affect it) and that its "
    "activations are not saturated."
)


@dataclasses.dataclass
class GradientSeries:
    """Per-layer gradient statistics over steps; arrays are ``[layers, steps]`` (layer-major).

    Attributes:
      present: whether the layer existed at that step.
      sampled: whether ``weight_norm`` and ``update_ratio`` were recorded at that step (they are
        sampled; elsewhere they hold ``schema.NOT_SAMPLED``).
      global_norm: ``[steps]`` L2 norm over all layers' gradients.
    """

    layers: list[str]
    steps: np.ndarray
    grad_norm: np.ndarray
    weight_norm: np.ndarray
    update_ratio: np.ndarray
    present: np.ndarray
    sampled: np.ndarray
    global_norm: np.ndarray


def gradient_series(run: RunData) -> GradientSeries | None:
    """The run's gradients, or ``None`` if none were recorded (computed once per decoded run)."""
    return derived(run, "gradient_series", lambda: _gradient_series(run))


def _gradient_series(run: RunData) -> GradientSeries | None:
    blocks = run.families.get(FAMILY.name)
    if blocks is None or blocks.steps.size == 0:
        return None
    metrics = {name: blocks.values[:, :, i].T for i, name in enumerate(FAMILY.metrics)}
    # A layer-major copy of the norms (every rule reads them layer by layer); the sampled columns
    # stay views, to keep a long run's memory near its decoded size.
    metrics["grad_norm"] = np.ascontiguousarray(metrics["grad_norm"])
    present = np.ascontiguousarray(blocks.present.T)
    # Summed layer by layer in float64: a float32 square overflows above a norm of ~1.8e19.
    sum_of_squares = np.zeros(blocks.steps.size)
    with np.errstate(over="ignore", invalid="ignore"):
        for layer_norms_, layer_present in zip(metrics["grad_norm"], present):
            sum_of_squares += np.where(layer_present, layer_norms_.astype(np.float64), 0.0) ** 2
    global_norm = np.sqrt(sum_of_squares)
    return GradientSeries(
        layers=run.layers,
        steps=blocks.steps,
        present=present,
        sampled=present & (metrics["weight_norm"] != schema.NOT_SAMPLED),
        global_norm=global_norm,
        **metrics,
    )


def summarize(run: RunData) -> dict | None:
    """``{layer: {"last", "min", "max"}}`` of the gradient norm, for the JSON report.

    ``min``/``max`` are over finite values; a non-finite value anywhere makes ``max`` that value
    (NaN beats Inf), so a report never hides one.
    """
    series = gradient_series(run)
    if series is None:
        return None
    summary = {}
    for i, layer in enumerate(series.layers):
        values = series.grad_norm[i][series.present[i]]
        if values.size == 0:
            continue
        finite = values[np.isfinite(values)]
        worst = values[np.isnan(values)][:1].tolist() or values[np.isinf(values)][:1].tolist()
        summary[layer] = {
            "last": float(values[-1]),
            "min": float(finite.min()) if finite.size else float("nan"),
            "max": worst[0] if worst else float(finite.max()),
        }
    return summary


def find(run: RunData) -> list[Finding]:
    """All gradient findings for the run."""
    series = gradient_series(run)
    if series is None:
        return []
    # The NaN/Inf origin probe's finding says where non-finite gradients came from.
    origin_recorded = bool(run.documents.get(schema.NONFINITE.name))
    return (
        exploding_gradients(series, origin_recorded)
        + vanishing_gradients(series, environment.layer_classes(run))
        + learning_rate_scale(series)
    )


def exploding_gradients(series: GradientSeries, origin_recorded: bool = False) -> list[Finding]:
    """Non-finite gradients, or a global norm that grew >= 100x (warning) / 1000x (error).

    With ``origin_recorded`` (a ``nonfinite`` event explains the first non-finite gradient), only
    the growth before the first non-finite step is judged.
    """
    nonfinite = ~np.isfinite(series.grad_norm) & series.present
    if nonfinite.any() and origin_recorded:
        first_bad = int(nonfinite.any(axis=0).argmax())
        series = dataclasses.replace(
            series,
            steps=series.steps[:first_bad],
            grad_norm=series.grad_norm[:, :first_bad],
            weight_norm=series.weight_norm[:, :first_bad],
            update_ratio=series.update_ratio[:, :first_bad],
            present=series.present[:, :first_bad],
            sampled=series.sampled[:, :first_bad],
            global_norm=series.global_norm[:first_bad],
        )
    elif nonfinite.any():
        step_index = int(nonfinite.any(axis=0).argmax())
        layer_index = int(nonfinite[:, step_index].argmax())
        value = series.grad_norm[layer_index, step_index]
        before = ""
        if step_index > 0:
            before = f" One step earlier the global gradient norm was {series.global_norm[step_index - 1]:.3g}."
        return [
            Finding(
                id="exploding_gradients",
                severity="error",
                step=int(series.steps[step_index]),
                layer=series.layers[layer_index],
                title=NONFINITE_TITLE,
                detail=f"At step {series.steps[step_index]} the gradient norm of layer "
                f"'{series.layers[layer_index]}' was {_describe_nonfinite(value)}, the first layer (in "
                f"model order) to go non-finite.{before} Every update after that corrupts the weights.",
                remedy=EXPLODING_REMEDY,
            )
        ]
    if series.steps.size < MIN_STEPS:
        return []
    early = series.global_norm[: max(5, series.steps.size // 10)]
    baseline = float(np.median(early))
    if baseline <= 0:
        return []
    # Growth is judged after the early window: a large first step whose gradients then shrink (a
    # DenseNet121's first norm is 300x its early median) is how training starts, not an explosion.
    growth = np.zeros_like(series.global_norm)
    growth[early.size :] = series.global_norm[early.size :] / baseline
    peak = int(growth.argmax())
    if growth[peak] < EXPLODING_WARNING_GROWTH:
        return []
    first = int((growth >= EXPLODING_WARNING_GROWTH).argmax())
    layer_baselines = np.median(series.grad_norm[:, : early.size], axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        layer_growth = np.where(layer_baselines > 0, series.grad_norm[:, peak] / layer_baselines, 0.0)
    culprit = int(layer_growth.argmax())
    severity = "error" if growth[peak] >= EXPLODING_ERROR_GROWTH else "warning"
    return [
        Finding(
            id="exploding_gradients",
            severity=severity,
            step=int(series.steps[first]),
            layer=series.layers[culprit],
            title="Gradients are exploding",
            detail=f"The global gradient norm rose from a median of {baseline:.3g} over the first "
            f"{early.size} steps to {series.global_norm[peak]:.3g} at step {series.steps[peak]} "
            f"({growth[peak]:.3g}x); it first passed {EXPLODING_WARNING_GROWTH:.0f}x at step "
            f"{series.steps[first]}. Layer '{series.layers[culprit]}' grew the most "
            f"({layer_growth[culprit]:.3g}x its early median).",
            remedy=EXPLODING_REMEDY,
        )
    ]


def learning_rate_scale(series: GradientSeries) -> list[Finding]:
    """``learning_rate_too_high``: layers whose median update ratio before any NaN/Inf is >=
    ``LR_TOO_HIGH``; ``learning_rate_too_low``: every layer's recent median update ratio <=
    ``LR_TOO_LOW`` while the gradients have not shrunk (``LR_CONVERGED_SHARE``)."""
    sampled = series.sampled
    finite_steps = np.isfinite(series.grad_norm).all(axis=0) & np.isfinite(series.update_ratio).all(axis=0)
    end = int(finite_steps.argmin()) if not finite_steps.all() else series.steps.size  # before the first NaN/Inf
    ratios = np.where(sampled[:, :end], series.update_ratio[:, :end], np.nan)
    samples = np.isfinite(ratios).sum(axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows: layers never sampled
        medians = np.nanmedian(ratios, axis=1)
    findings = []
    high = [i for i in range(len(series.layers)) if samples[i] >= LR_MIN_SAMPLES and medians[i] >= LR_TOO_HIGH]
    if high:
        first = min(int(np.flatnonzero(ratios[i] >= LR_TOO_HIGH)[0]) for i in high)
        listed = ", ".join(f"'{series.layers[i]}' {medians[i]:.2g}" for i in sorted(high, key=lambda i: -medians[i])[:5])
        more = f" and {len(high) - 5} more" if len(high) > 5 else ""
        findings.append(
            Finding(
                id="learning_rate_too_high",
                severity="warning",
                step=int(series.steps[first]),
                layer=series.layers[max(high, key=lambda i: medians[i])],
                title="The learning rate is too high",
                detail=f"Each update changed the weights of {len(high)} layer(s) by a median of "
                f"{LR_TOO_HIGH:.0%} of their norm or more (update ratio over {int(samples[high].max())} "
                f"sampled steps{' before the first NaN/Inf' if end < series.steps.size else ''}; healthy "
                f"training stays below 0.013, about 0.001 is typical): {listed}{more}. Steps that large overshoot: the loss jumps around "
                f"and gradients can explode.",
                remedy=LR_HIGH_REMEDY,
            )
        )
    if end < series.steps.size or series.steps.size < MIN_STEPS:
        return findings
    recent = slice(series.steps.size // 2, None)
    recent_ratios = np.where(sampled[:, recent] & series.present[:, recent], series.update_ratio[:, recent], np.nan)
    recent_samples = np.isfinite(recent_ratios).sum(axis=1)
    judged = recent_samples >= LR_MIN_SAMPLES
    if not judged.any():
        return findings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        recent_medians = np.nanmedian(recent_ratios, axis=1)
    early_norm = float(np.median(series.global_norm[: max(5, series.steps.size // 10)]))
    recent_norm = float(np.median(series.global_norm[recent]))
    converged = early_norm > 0 and recent_norm < LR_CONVERGED_SHARE * early_norm
    if converged or not (recent_medians[judged] <= LR_TOO_LOW).all():
        return findings
    largest = int(np.nanargmax(np.where(judged, recent_medians, np.nan)))
    findings.append(
        Finding(
            id="learning_rate_too_low",
            severity="warning",
            step=int(series.steps[recent.start]),
            layer=None,
            title="The learning rate is too low",
            detail=f"Over the last {series.steps.size - recent.start} steps every layer's weights changed by "
            f"at most {recent_medians[largest]:.2g} of their norm per step (median update ratio; largest in "
            f"'{series.layers[largest]}'; about 0.001 is typical), while the global gradient norm stayed at "
            f"{recent_norm:.3g} (early: {early_norm:.3g}): the model is not converged, it is barely moving.",
            remedy=LR_LOW_REMEDY,
        )
    )
    return findings


def _describe_nonfinite(value: float) -> str:
    if np.isnan(value):
        return "NaN"
    # Norms are summed in float32: +Inf is an infinite gradient or a norm past ~2.6e19.
    return "+Inf (a gradient was infinite, or the norm overflowed float32 above ~2.6e19)"


def vanishing_gradients(series: GradientSeries, layer_classes: dict[str, str] | None = None) -> list[Finding]:
    """Layers whose recent gradients are >= 1000x smaller than the largest layer's AND whose weights
    barely move (update ratio >= 100x smaller than that layer's): see ``VANISHING_UPDATE_SHARE``.
    Normalisation layers (``NORMALIZATION_CLASSES``, by ``layer_classes``: path -> class) are
    neither judged nor the reference."""
    if series.steps.size < MIN_STEPS:
        return []
    recent = slice(series.steps.size // 2, None)
    judged = np.array([(layer_classes or {}).get(layer) not in NORMALIZATION_CLASSES for layer in series.layers], dtype=bool)
    values = np.where(series.present[:, recent] & judged[:, None], series.grad_norm[:, recent], np.nan)
    sampled = series.sampled[:, recent]
    ratios = np.where(sampled, series.update_ratio[:, recent], np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows: layers absent lately
        medians = np.nanmedian(values, axis=1)
        update_medians = np.nanmedian(ratios, axis=1)
    samples = sampled.sum(axis=1)
    top = np.nanmax(medians) if np.isfinite(medians).any() else np.nan
    if not np.isfinite(top) or top <= 0:
        return []
    strongest_index = int(np.nanargmax(medians))
    strongest = series.layers[strongest_index]
    top_update = update_medians[strongest_index]
    if samples[strongest_index] < VANISHING_MIN_SAMPLES or not np.isfinite(top_update) or top_update <= 0:
        return []
    weak = [
        i for i, median in enumerate(medians)
        if np.isfinite(median) and median <= VANISHING_RATIO * top
        and samples[i] >= VANISHING_MIN_SAMPLES and np.isfinite(update_medians[i])
        and update_medians[i] <= VANISHING_UPDATE_SHARE * top_update
    ]
    if not weak:
        return []
    listed = ", ".join(
        f"'{series.layers[i]}' {medians[i]:.3g} (update ratio {update_medians[i]:.3g})" for i in weak[:5]
    )
    more = f" and {len(weak) - 5} more" if len(weak) > 5 else ""
    zero = [series.layers[i] for i in weak if medians[i] == 0]
    zero_note = f" Layers with exactly zero gradient: {', '.join(zero)}." if zero else ""
    return [
        Finding(
            id="vanishing_gradients",
            severity="warning",
            step=int(series.steps[recent.start]),
            layer=series.layers[weak[0]],
            title="Gradients are vanishing",
            detail=f"Over the last {series.steps.size - recent.start} steps, {len(weak)} layer(s) had a "
            f"median gradient norm at least {1 / VANISHING_RATIO:.0f}x smaller than layer '{strongest}' "
            f"({top:.3g}, update ratio {top_update:.3g}) and updates at least "
            f"{1 / VANISHING_UPDATE_SHARE:.0f}x smaller than its: {listed}{more}. Their weights barely "
            f"change.{zero_note}",
            remedy=VANISHING_REMEDY,
        )
    ]


def panel_payload(run: RunData, max_points: int) -> dict | None:
    """The Gradients panel's data (see docs/http_api.md), downsampled keeping spikes and NaNs.

    The three ``[layers, steps]`` matrices travel as base64 float32 (``encoding``): at 1000 layers
    x 2000 buckets JSON numbers would be ~30 MB per matrix. Computed once per decoded run and
    ``max_points``.
    """
    return derived(run, f"panel:{max_points}", lambda: _panel_payload(run, max_points))


def _panel_payload(run: RunData, max_points: int) -> dict | None:
    series = gradient_series(run)
    if series is None:
        return None
    # Unsampled steps stay NOT_SAMPLED (-1, below any real value) through the bucket maximum, so a
    # bucket with any sampled value keeps it; -1 on the wire means "not sampled".
    matrices = {
        "grad_norm": np.where(series.present, series.grad_norm, np.float32(np.nan)),
        "weight_norm": np.where(series.sampled, series.weight_norm, np.float32(schema.NOT_SAMPLED)),
        "update_ratio": np.where(series.sampled, series.update_ratio, np.float32(schema.NOT_SAMPLED)),
    }
    encoded = {}
    for name, matrix in matrices.items():
        steps, reduced, downsampled = keep_extremes(series.steps, matrix, max_points)
        encoded[name] = float32_base64(reduced)
    _, global_norm, _ = keep_extremes(series.steps, series.global_norm, max_points)
    return {
        "run": run.run,
        "layers": series.layers,
        "steps": steps.tolist(),
        "encoding": MATRIX_ENCODING,
        **encoded,
        "global_norm": global_norm.tolist(),
        "downsampled": downsampled,
        "warnings": list(run.warnings),
    }


def float32_base64(matrix: np.ndarray) -> str:
    """``matrix`` as base64 of its little-endian float32 values, row-major (see ``MATRIX_ENCODING``)."""
    return base64.b64encode(np.ascontiguousarray(matrix, dtype="<f4").tobytes()).decode("ascii")


def decode_float32_base64(text: str, rows: int, columns: int) -> np.ndarray:
    """The inverse of ``float32_base64``: a float32 ``[rows, columns]`` array."""
    return np.frombuffer(base64.b64decode(text, validate=True), dtype="<f4").reshape(rows, columns)


def headline(run: RunData, summary: dict | None) -> str | None:
    """One line for the report and the Overview: the largest gradient norm and its layer."""
    if not summary:
        return None
    largest = max(summary, key=lambda layer: _sortable(summary[layer]["max"]))
    return f"largest norm {summary[largest]['max']:.3g} in '{largest}'"


def _sortable(value: float) -> float:
    return float("inf") if value != value else value  # NaN counts as the largest
