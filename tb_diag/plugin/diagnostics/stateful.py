"""Stateful RNNs, viewer side: the ways ``stateful=True`` layers silently mix unrelated sequences.

A stateful layer carries its state from batch ``i`` to batch ``i`` of the next call: row ``r`` of
a batch must continue the sequence of row ``r`` of the batch before. Shuffling breaks that; states
carried into an epoch that restarts the data join its first sequences to the previous epoch's last
ones; a smaller last batch does not fit the states at all. Facts come from the environment card
(``setup.stateful_layers``, ``fit``, read at the start of ``fit``) and the stateful probe's
per-epoch checks; every field is untrusted and checked.
"""

from __future__ import annotations

from tb_diag import schema
from tb_diag.plugin.diagnostics import environment
from tb_diag.plugin.findings import Finding
from tb_diag.plugin.run_data import RunData

FAMILY = schema.STATEFUL

SHUFFLE_REMEDY = (
    "Pass shuffle=False to fit() when training stateful RNN layers, and order the data so that row r of "
    "each batch continues the sequence of row r of the batch before."
)
RESET_REMEDY = (
    "Reset the states when the data starts again: call reset_state() on each stateful layer between "
    "epochs (Keras 3 models have no reset_states()), e.g. keras.callbacks.LambdaCallback(on_epoch_begin="
    "lambda epoch, logs: [layer.reset_state() for layer in model.layers if getattr(layer, 'stateful', "
    "False)]), and between independent sequences."
)
PARTIAL_BATCH_REMEDY = (
    "Give fit() a number of examples that is a multiple of the batch size (drop or pad the rest), or a "
    "tf.data dataset batched with drop_remainder=True."
)


def stateful_layers(card: dict | None) -> list[dict]:
    """``[{"layer", "class", "batch_size"}]`` of the card's stateful RNN layers (checked entries only)."""
    setup = card.get("setup") if isinstance(card, dict) else None
    entries = setup.get("stateful_layers") if isinstance(setup, dict) else None
    if not isinstance(entries, list):
        return []
    return [entry for entry in entries if isinstance(entry, dict) and isinstance(entry.get("layer"), str)]


def _fit(card: dict | None) -> dict:
    fit = card.get("fit") if isinstance(card, dict) else None
    return fit if isinstance(fit, dict) else {}


def carried_epochs(run: RunData) -> list[tuple[int, int, list[str]]]:
    """``(step, epoch, layer paths)`` for each epoch that began with states carried over."""
    carried = []
    for step, document in run.documents.get(FAMILY.name, []):
        if not isinstance(document, dict) or not isinstance(document.get("carried"), list):
            continue
        layers = [path for path in document["carried"] if isinstance(path, str)]
        epoch = document.get("epoch")
        if layers:
            carried.append((int(step), epoch if isinstance(epoch, int) and not isinstance(epoch, bool) else -1, layers))
    return carried


def summarize(run: RunData) -> dict | None:
    """``{"layers": [...], "shuffled", "partial_batch_size", "carried_epochs"}``, or ``None``
    for a model without stateful layers."""
    card = environment.card(run)
    layers = stateful_layers(card)
    if not layers:
        return None
    fit = _fit(card)
    return {
        "layers": layers,
        "shuffled": fit.get("shuffles_input") is True,
        "partial_batch_size": fit.get("partial_batch_size") if isinstance(fit.get("partial_batch_size"), int) else None,
        "carried_epochs": [{"step": step, "epoch": epoch, "layers": paths} for step, epoch, paths in carried_epochs(run)],
    }


def find(run: RunData) -> list[Finding]:
    """``stateful_shuffled``, ``stateful_partial_batch``, ``stateful_not_reset``."""
    card = environment.card(run)
    layers = stateful_layers(card)
    if not layers:
        return []
    return shuffled(layers, _fit(card)) + partial_batch(layers, _fit(card)) + not_reset(run, _fit(card))


def _named(layers: list[dict]) -> str:
    names = ", ".join(f"'{entry['layer']}'" for entry in layers[:3])
    return names + (f" and {len(layers) - 3} more" if len(layers) > 3 else "")


def shuffled(layers: list[dict], fit: dict) -> list[Finding]:
    """A warning when ``fit`` shuffled the examples the stateful layers carry states across."""
    if fit.get("shuffles_input") is not True:
        return []
    return [Finding(
        id="stateful_shuffled", severity="warning", step=None, layer=layers[0]["layer"],
        title="Stateful RNN trained on shuffled batches",
        detail=f"{_named(layers)} {'is' if len(layers) == 1 else 'are'} stateful=True, but fit() shuffled the "
        f"examples (shuffle={fit.get('shuffle')!r}, the default, on {fit.get('input_kind') or 'this input'}): each "
        f"batch starts from the state of unrelated sequences, which the model learns as noise.",
        remedy=SHUFFLE_REMEDY,
    )]


def partial_batch(layers: list[dict], fit: dict) -> list[Finding]:
    """An error when each epoch ends with a batch smaller than the states were built for."""
    partial = fit.get("partial_batch_size")
    if not isinstance(partial, int) or isinstance(partial, bool) or partial <= 0:
        return []
    size = layers[0].get("batch_size")
    return [Finding(
        id="stateful_partial_batch", severity="error", step=None, layer=layers[0]["layer"],
        title="Stateful RNN given a last batch of another size",
        detail=f"'{layers[0]['layer']}' keeps states for batches of {size if isinstance(size, int) else 'a fixed size'}, "
        f"but the last batch of each epoch has {partial} examples: Keras fails there with a shape error "
        f"(\"Incompatible shapes\"), or, with states of that size, mixes rows of different sequences.",
        remedy=PARTIAL_BATCH_REMEDY,
    )]


def not_reset(run: RunData, fit: dict) -> list[Finding]:
    """A warning when an epoch that restarts the data began with the previous epoch's states."""
    if fit.get("steps_per_epoch") is not None or "steps_per_epoch" not in fit:
        # With steps_per_epoch the data may go on where the last epoch stopped: carrying is right.
        return []
    carried = carried_epochs(run)
    if not carried:
        return []
    step, epoch, layers = carried[0]
    return [Finding(
        id="stateful_not_reset", severity="warning", step=step, layer=layers[0],
        title="Stateful RNN states never reset between epochs",
        detail=f"{len(carried)} epoch(s) began with the states the last epoch left in "
        f"{', '.join(repr(path) for path in layers[:3])} (first: epoch {epoch + 1 if epoch >= 0 else '?'}, after "
        f"step {step}). Each epoch reads the data from its start again, so its first sequences continue from the "
        f"end of the last ones.",
        remedy=RESET_REMEDY,
    )]


def panel_payload(run: RunData, max_points: int) -> dict | None:
    """No panel of its own: the facts are in the report (``summarize``)."""
    return None


def headline(run: RunData, summary: dict | None) -> str | None:
    """One line: how many stateful layers, and whether their states were carried into new epochs."""
    if not summary:
        return None
    carried = len(summary["carried_epochs"])
    return f"{len(summary['layers'])} stateful RNN layer(s); states carried into {carried} new epoch(s)"
