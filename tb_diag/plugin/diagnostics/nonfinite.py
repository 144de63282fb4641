"""NaN/Inf origin, viewer side: the findings, their remedies and the panel (the origin itself is
read from the recorded counts by ``tb_diag.nonfinite_origin``, never trusted from the log).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from tb_diag import schema
from tb_diag.plugin.downsample import slowest_per_bucket
from tb_diag.plugin.findings import Finding
from tb_diag.nonfinite_origin import clean_event, is_int, locate
from tb_diag.plugin.run_data import RunData
from tb_diag.vocabulary import NAN_ACTIONS, NAN_PHASES, UNHELD_UPDATE_CAUSES

FAMILY = schema.NONFINITE

REMEDIES = {
    "input": (
        "Clean the data: find the bad records (np.isfinite(x).all() on arrays, or "
        "dataset.map(lambda x, y: (tf.debugging.assert_all_finite(x, 'bad input'), y)) in a tf.data pipeline), "
        "fill or drop missing values, and check feature engineering for divisions by a zero standard deviation."
    ),
    "forward": (
        "This layer turned finite inputs into NaN/Inf. Look for log, sqrt, pow or division of a value that can be "
        "zero or negative and add an epsilon or clip it (keras.ops.log(x + 1e-7), keras.ops.clip); for exp of "
        "large values use a stable form (log-sum-exp, from_logits=True); if its inputs' magnitude is huge, lower "
        "the learning rate or add normalization. Under mixed precision float16 overflows above 65504: give this "
        "layer dtype='float32'."
    ),
    "loss": (
        "The model's outputs were finite but the loss was not: check the targets (NaN, values outside the "
        "loss's range, e.g. labels >= the number of classes), pass from_logits=True instead of taking the log "
        "of a softmax/sigmoid yourself, add an epsilon to hand-written losses, and check the sample weights."
    ),
    "backward": (
        "The forward pass and the loss were finite, but a derivative was not: some function after this layer "
        "has an infinite slope where it was evaluated (sqrt at 0, log near 0, x ** 0.5 at 0, the norm of a zero "
        "vector). Add an epsilon inside it (sqrt(x + 1e-12)) or use a safe form (tf.math.divide_no_nan, "
        "keras.ops.norm of x plus an epsilon), and consider clipnorm=1.0 on the optimizer."
    ),
    "update": (
        "The gradients were finite but the update made the weights non-finite: lower the learning rate (and check "
        "the schedule for spikes), set clipnorm or clipvalue on the optimizer, and make sure its epsilon is not 0."
    ),
}


def events(run: RunData) -> list[tuple[int, dict]]:
    """The run's recorded bad-step details, cleaned, oldest first."""
    cleaned = []
    for step, document in run.documents.get(FAMILY.name, []):
        event = clean_event(document)
        if event is not None:
            cleaned.append((step, event))
    return cleaned


def first_event(run: RunData) -> dict | None:
    """The earliest recorded non-finite event of the run (cleaned), or ``None``."""
    found = events(run)
    return min(found, key=lambda item: item[1]["step"])[1] if found else None


def bad_steps(run: RunData) -> list[dict]:
    """Every step with a NaN/Inf: ``[{"step", "phase", "action"}]`` sorted by step, each step once."""
    by_step: dict[int, dict] = {}
    for _, document in run.documents.get(schema.NONFINITE_STEPS.name, []):
        listed = document.get("steps") if isinstance(document, dict) else None
        for entry in listed if isinstance(listed, list) else []:
            if not isinstance(entry, dict) or not is_int(entry.get("step")):
                continue
            phase, action = entry.get("phase"), entry.get("action")
            by_step[int(entry["step"])] = {
                "step": int(entry["step"]),
                "phase": phase if phase in NAN_PHASES else "unknown",
                "action": action if action in NAN_ACTIONS else "unknown",
            }
    return [by_step[step] for step in sorted(by_step)]


def summarize(run: RunData) -> dict | None:
    """``None`` if no step had a NaN/Inf, else ``{"step", "epoch", "phase", "layer", "detail", ...}``."""
    event = first_event(run)
    if event is None:
        return None
    where = locate(event)
    listed = bad_steps(run)
    return {
        "step": event["step"],
        "epoch": event["epoch"],
        "phase": event["phase"],
        "layer": where["layer"],
        "detail": _evidence(event, where),
        "action": event["action"],
        "weights_kept": event["weights_kept"],
        "contaminated": where["contaminated"],
        "contaminated_gradients": where["contaminated_gradients"],
        "bad_steps": len(listed),
        "skipped_steps": sum(1 for entry in listed if entry["action"] == "skipped"),
    }


def find(run: RunData) -> list[Finding]:
    """``nonfinite`` (error) at the first bad step; ``loss_scale_collapse`` under mixed precision."""
    findings = []
    event = first_event(run)
    if event is not None:
        where = locate(event)
        listed = bad_steps(run)
        skipped = sum(1 for entry in listed if entry["action"] == "skipped")
        action = {
            "stopped": f"Training was stopped before the update of step {event['step']} was applied: the model keeps "
            f"the weights after step {event['step'] - 1}.",
            "skipped": f"Its update was skipped ({skipped} step(s) skipped in all); training continued.",
            "recorded": "on_nan='record': the update was applied, so the weights may be non-finite from here on.",
        }.get(event["action"], "")
        if event["action"] == "stopped" and not event["weights_kept"]:
            action = (
                f"Training was stopped, but the update could not be held back ({UNHELD_UPDATE_CAUSES}): the weights "
                "are non-finite."
            )
        title = {
            "input": f"NaN/Inf in the input batch at step {event['step']}",
            "forward": f"NaN/Inf first produced by layer '{where['layer']}' at step {event['step']}",
            "loss": f"The loss became NaN/Inf at step {event['step']}",
            "backward": f"Gradients became NaN/Inf at '{where['layer']}' at step {event['step']}",
            "update": f"The update made the weights of '{where['layer']}' NaN/Inf at step {event['step']}",
        }.get(event["phase"], f"NaN/Inf at step {event['step']}")
        findings.append(
            Finding(
                id="nonfinite",
                severity="error",
                step=event["step"],
                layer=where["layer"] if event["phase"] != "input" else None,
                title=title,
                detail=f"{_evidence(event, where)} {action}".strip(),
                remedy=REMEDIES.get(event["phase"], REMEDIES["forward"]),
            )
        )
    findings.extend(_loss_scale_findings(run))
    return findings


def loss_scale(run: RunData) -> dict | None:
    """Mixed precision: ``{"steps", "scale", "overflow", "skips", "last_scale", "min_scale"}`` or ``None``."""
    blocks = run.families.get(schema.LOSS_SCALE.name)
    if blocks is None or not blocks.steps.size:
        return None
    # NaN rows: steps the probe could not record (traced before it started).
    recorded = ~np.isnan(blocks.values[:, 0])
    if not recorded.any():
        return None
    scale = blocks.values[recorded, 0]
    overflow = blocks.values[recorded, 1] > 0.5
    finite = scale[np.isfinite(scale)]
    return {
        "steps": blocks.steps[recorded].tolist(),
        "scale": scale.tolist(),
        "overflow": overflow.tolist(),
        "skips": int(overflow.sum()),
        "last_scale": float(scale[-1]),
        "min_scale": float(finite.min()) if finite.size else None,
    }


# Under mixed precision the scale starts at 2**15; below 1 it no longer protects float16 gradients.
COLLAPSED_SCALE = 1.0
RECENT_STEPS = 50


def _loss_scale_findings(run: RunData) -> list[Finding]:
    scales = loss_scale(run)
    if scales is None:
        return []
    overflow = np.array(scales["overflow"][-RECENT_STEPS:], dtype=bool)
    last = scales["last_scale"]
    if not (math.isfinite(last) and last < COLLAPSED_SCALE and overflow.size and overflow.mean() >= 0.5):
        return []
    return [
        Finding(
            id="loss_scale_collapse",
            severity="error",
            step=int(scales["steps"][-1]),
            layer=None,
            title="Mixed precision: the loss scale collapsed",
            detail=f"The loss scale fell to {last:.3g}, and {overflow.mean():.0%} of the last {overflow.size} steps "
            f"had non-finite gradients at every scale the optimizer tried ({scales['skips']} skipped updates in all): "
            "the gradients are not merely overflowing float16, something produces NaN/Inf in the backward pass.",
            remedy="Run once in float32 (keras.mixed_precision.set_global_policy('float32')) with tb_diag to see "
            "where the NaN starts; keep numerically sensitive layers (softmax, normalization, the output layer, "
            "losses) in float32 with dtype='float32'.",
        )
    ]


def panel_payload(run: RunData, max_points: int) -> dict | None:
    """The NaN panel's data: the first event with its origin, every bad step, and the loss scale."""
    event = first_event(run)
    scales = loss_scale(run)
    listed = bad_steps(run)
    if event is None and scales is None and not listed:
        return None
    payload: dict[str, Any] = {"run": run.run, "event": None, "bad_steps": listed[:max_points], "bad_step_count": len(listed)}
    if event is not None:
        where = locate(event)
        payload["event"] = {**event, "origin": where, "evidence": _evidence(event, where), "remedy": REMEDIES.get(event["phase"], "")}
    if scales is not None:
        keep, _ = slowest_per_bucket(np.asarray(scales["scale"]) * -1.0, max_points)
        scales = {**scales, **{key: [scales[key][i] for i in keep] for key in ("steps", "scale", "overflow")}}
    payload["loss_scale"] = scales
    payload["warnings"] = list(run.warnings)
    return payload


def _evidence(event: dict, where: dict) -> str:
    layer = where["layer"]
    if event["phase"] == "input":
        entry = next((e for e in event["inputs"] if e["name"] == layer), None)
        return f"Batch tensor '{layer}' held {_counts(entry)}." if entry else "A batch tensor held NaN/Inf."
    if event["phase"] == "forward":
        call = next((c for c in event["calls"] if c["name"] == layer), None)
        if call is None:
            return "A layer output held NaN/Inf."
        downstream = ""
        if where["contaminated"]:
            downstream += f" Downstream, {len(where['contaminated'])} later layer call(s) returned NaN/Inf too."
        if where["contaminated_gradients"]:
            downstream += f" The gradients of {len(where['contaminated_gradients'])} layer(s) became NaN/Inf."
        return (
            f"Layer '{layer}' received finite inputs (largest |value| {_number(call['in']['max_abs'])}) and returned "
            f"{_counts(call['out'])}.{downstream}"
        )
    if event["phase"] == "loss":
        loss = "NaN/Inf" if event["loss"] is None else _number(event["loss"])
        return f"Every layer output was finite, the loss was {loss}."
    if event["phase"] in ("backward", "update"):
        kind = "grad" if event["phase"] == "backward" else "weights"
        entry = next((e for e in event["layers"] if e["layer"] == layer), None)
        noun = "gradients" if kind == "grad" else "new weights"
        text = f"The {noun} of '{layer}' held {_counts(entry[kind])}." if entry else f"Some {noun} held NaN/Inf."
        if where.get("between"):
            text += f" The non-finite derivative arose between '{where['between'][0]}' and '{where['between'][1]}'."
        if event["phase"] == "backward" and not event["loss_seen"]:
            text += " (The loss was not visible to tb_diag: this train step does not use compute_loss.)"
        return text
    return "Non-finite values appeared."


def _counts(stats: dict | None) -> str:
    if not stats:
        return "NaN/Inf"
    parts = [f"{stats[key]} {label}" for key, label in (("nan", "NaN"), ("posinf", "+Inf"), ("neginf", "-Inf")) if stats[key]]
    largest = f" (largest finite |value| {_number(stats['max_abs'])})" if stats["max_abs"] is not None else ""
    return (", ".join(parts) or "no NaN/Inf") + largest


def _number(value: float | None) -> str:
    return "unknown" if value is None else f"{value:.3g}"


def headline(run: RunData, summary: dict | None) -> str | None:
    """One line for the report and the Overview: where the first NaN/Inf started, or that none
    did (when the probe ran: it lists the bad steps of every flush, an empty list included)."""
    if not summary:
        return "no NaN/Inf" if run.documents.get(schema.NONFINITE_STEPS.name) else None
    where = f", '{summary['layer']}'" if summary["layer"] else ""
    return (
        f"first at step {summary['step']} ({summary['phase']}{where}); update {summary['action']}; "
        f"{summary['bad_steps']} step(s) with NaN/Inf"
    )
