"""The model check, viewer side: findings from the facts the callback read from the model and its
``compile`` at the start of ``fit`` (the environment card's ``setup``, see
``tb_diag/core/model_check.py``), before any step. Each names the layer and the setting.

The card comes from the log: every field is untrusted and may be missing or mistyped; a fact that
does not have the expected shape is skipped.
"""

from __future__ import annotations

import math
from typing import Any

from tb_diag.plugin.findings import Finding
from tb_diag.plugin.run_data import finite_number

# A ReLU-family layer's initial weights are off when their standard deviation is this many times
# above or below the He scale sqrt(2 / fan_in) (each such layer multiplies the activations' scale
# by about that factor).
INIT_SCALE_LIMIT = 3.0
# This many consecutive sigmoid/tanh layers without normalisation: gradients shrink by up to 4x
# (sigmoid) per layer on the way back.
DEEP_SATURATING_STACK = 4
# BatchNormalization estimates its statistics from each replica's batch; below this many examples
# they are too noisy (use GroupNormalization / LayerNormalization, or a larger batch).
BATCHNORM_MIN_BATCH = 8
BOUNDED_OUTPUTS = ("softmax", "sigmoid")
LOGITS_OUTPUTS = ("linear",)

INIT_REMEDY = (
    "Use kernel_initializer='he_normal' (or 'he_uniform') for ReLU-family layers: it scales the "
    "weights to the layer's fan-in so activations keep their scale through the stack."
)
STACK_REMEDY = (
    "Use ReLU-family activations (ReLU, GELU) in hidden layers, or put BatchNormalization / "
    "LayerNormalization between the sigmoid/tanh layers, or add residual connections."
)
LOGITS_REMEDY = (
    "Make the output and the loss agree: either end the model with a linear layer and use the loss "
    "with from_logits=True (numerically safest), or keep the softmax/sigmoid output and use "
    "from_logits=False."
)
FLOAT16_REMEDY = (
    "Under mixed_float16, give the output layer (or a final Activation layer) dtype='float32', as "
    "Keras' mixed-precision guide recommends: softmax and the loss overflow or lose precision in "
    "float16."
)
BATCHNORM_REMEDY = (
    "Use a larger batch per replica, replace BatchNormalization by GroupNormalization or "
    "LayerNormalization, or (fine-tuning) freeze the BatchNormalization layers (trainable=False)."
)


def find(card: dict | None) -> list[Finding]:
    """The model check's findings for a run with this environment card."""
    setup = card.get("setup") if isinstance(card, dict) else None
    if not isinstance(setup, dict):
        return []
    return (
        unscaled_initializers(setup)
        + deep_saturating_stacks(setup)
        + output_loss_mismatch(setup)
        + float16_outputs(setup, card.get("mixed_precision"))
        + batchnorm_small_batch(setup, card.get("batch_size"), card.get("distribution"))
    )


def _entries(setup: dict, key: str) -> list[dict]:
    value = setup.get(key)
    return [entry for entry in value if isinstance(entry, dict)] if isinstance(value, list) else []


def unscaled_initializers(setup: dict) -> list[Finding]:
    """``unscaled_initializer``: ReLU-family layers whose fixed-scale initialiser is off the He
    scale by ``INIT_SCALE_LIMIT`` or more."""
    findings = []
    for entry in _entries(setup, "relu_initializers"):
        std, fan_in = finite_number(entry.get("std")), finite_number(entry.get("fan_in"))
        if std is None or fan_in is None or fan_in <= 0 or std <= 0:
            continue
        he = math.sqrt(2.0 / fan_in)
        factor = std / he
        if 1 / INIT_SCALE_LIMIT < factor < INIT_SCALE_LIMIT:
            continue
        layer, initializer = str(entry.get("layer")), str(entry.get("initializer"))
        direction = "larger" if factor > 1 else "smaller"
        findings.append(
            Finding(
                id="unscaled_initializer",
                severity="warning",
                step=None,
                layer=layer,
                title="Weights initialised at the wrong scale for ReLU",
                detail=f"Layer '{layer}' ({entry.get('activation')}, fan-in {int(fan_in)}) starts from {initializer} "
                f"with a standard deviation of {std:.3g}: {max(factor, 1 / factor):.3g}x {direction} than the He scale "
                f"sqrt(2/{int(fan_in)}) = {he:.3g}. Each such layer multiplies the activations' scale by about that "
                f"factor, so deep stacks start exploding or vanishing.",
                remedy=INIT_REMEDY,
            )
        )
    return findings


def deep_saturating_stacks(setup: dict) -> list[Finding]:
    """``deep_saturating_stack``: ``DEEP_SATURATING_STACK`` or more sigmoid/tanh layers in a row
    without normalisation."""
    findings = []
    for entry in _entries(setup, "saturating_stacks"):
        length = finite_number(entry.get("length"))
        if length is None or length < DEEP_SATURATING_STACK:
            continue
        first, last = str(entry.get("first")), str(entry.get("last"))
        activations = entry.get("activations")
        kinds = "/".join(str(a) for a in activations) if isinstance(activations, list) else "sigmoid/tanh"
        findings.append(
            Finding(
                id="deep_saturating_stack",
                severity="warning",
                step=None,
                layer=first,
                title="A deep stack of sigmoid/tanh layers without normalisation",
                detail=f"{int(length)} {kinds} layers in a row, from '{first}' to '{last}', with no normalisation "
                f"layer between them. On the way back each multiplies the gradient by at most "
                f"{'0.25' if kinds == 'sigmoid' else '1'} times its weights, so the first layers learn slowly or "
                f"not at all.",
                remedy=STACK_REMEDY,
            )
        )
    return findings


def output_loss_mismatch(setup: dict) -> list[Finding]:
    """``output_loss_mismatch``: a softmax/sigmoid output with a loss built with
    ``from_logits=True`` (the activation applied twice), or a linear output with a cross-entropy
    loss with ``from_logits=False`` (logits read as probabilities)."""
    outputs, losses = _entries(setup, "outputs"), _entries(setup, "losses")
    if len(losses) == 1 and len(outputs) > 1:
        losses = losses * len(outputs)  # one loss for every output, as Keras applies it
    findings = []
    for output, loss in zip(outputs, losses):
        activation, from_logits = output.get("activation"), loss.get("from_logits")
        layer, loss_class = str(output.get("layer")), str(loss.get("class"))
        if activation in BOUNDED_OUTPUTS and from_logits is True:
            detail = (
                f"The output layer '{layer}' applies {activation}, and the loss {loss_class} was built with "
                f"from_logits=True, so it applies {activation} again: the predictions it judges are squashed "
                f"twice, gradients are weak and the loss does not reach its minimum."
            )
        elif activation in LOGITS_OUTPUTS and from_logits is False and "crossentropy" in loss_class.lower():
            detail = (
                f"The output layer '{layer}' is linear (it outputs logits), but the loss {loss_class} expects "
                f"probabilities (from_logits=False): it clips the logits to [1e-7, 1 - 1e-7] and takes their log, "
                f"so most gradients are zero."
            )
        else:
            continue
        findings.append(
            Finding(
                id="output_loss_mismatch",
                severity="error",
                step=None,
                layer=layer,
                title="The output activation and the loss's from_logits disagree",
                detail=detail,
                remedy=LOGITS_REMEDY,
            )
        )
    return findings


def float16_outputs(setup: dict, policy: Any) -> list[Finding]:
    """``float16_output``: under a float16 mixed-precision policy, an output layer that computes
    in float16."""
    if not isinstance(policy, str) or "float16" not in policy:
        return []
    findings = []
    for output in _entries(setup, "outputs"):
        if output.get("compute_dtype") != "float16":
            continue
        layer = str(output.get("layer"))
        findings.append(
            Finding(
                id="float16_output",
                severity="warning",
                step=None,
                layer=layer,
                title="The output layer computes in float16",
                detail=f"Under the {policy} policy the output layer '{layer}' ({output.get('activation')}) computes "
                f"in float16: its outputs and the loss have 3 significant digits and overflow above 65504.",
                remedy=FLOAT16_REMEDY,
            )
        )
    return findings


def batchnorm_small_batch(setup: dict, batch_size: Any, distribution: Any) -> list[Finding]:
    """``batchnorm_small_batch``: BatchNormalization layers trained on fewer than
    ``BATCHNORM_MIN_BATCH`` examples per replica."""
    layers = [str(path) for path in setup.get("batch_normalization") or [] if isinstance(path, str)] if isinstance(setup.get("batch_normalization"), list) else []
    batch = finite_number(batch_size)
    replicas = finite_number(distribution.get("replicas")) if isinstance(distribution, dict) else None
    if not layers or batch is None or batch <= 0:
        return []
    per_replica = batch / max(replicas or 1, 1)
    if per_replica >= BATCHNORM_MIN_BATCH:
        return []
    listed = ", ".join(f"'{path}'" for path in layers[:5]) + (f" and {len(layers) - 5} more" if len(layers) > 5 else "")
    return [
        Finding(
            id="batchnorm_small_batch",
            severity="warning",
            step=None,
            layer=layers[0],
            title="BatchNormalization with a batch too small for its statistics",
            detail=f"{len(layers)} BatchNormalization layer(s) ({listed}) estimate their mean and variance from "
            f"{per_replica:g} example(s) per replica and step (fewer than {BATCHNORM_MIN_BATCH}): the statistics "
            f"are noisy in training and differ from the moving averages used at inference.",
            remedy=BATCHNORM_REMEDY,
        )
    ]
