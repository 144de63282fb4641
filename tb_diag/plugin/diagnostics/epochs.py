"""Epochs, viewer side: Keras' epoch logs (training and validation loss) and the overfitting rule."""

from __future__ import annotations

import dataclasses

from tb_diag import schema
from tb_diag.plugin.findings import Finding
from tb_diag.plugin.run_data import RunData, finite_number

FAMILY = schema.EPOCHS

# Overfitting: at least this many epochs since the best validation loss...
OVERFIT_EPOCHS = 3
# ...the validation loss now this share above its best...
OVERFIT_MIN_RISE = 0.05
# ...while the training loss kept falling (its last value below its value at the best epoch).

OVERFIT_REMEDY = (
    "Stop at the best epoch: keras.callbacks.EarlyStopping(monitor='val_loss', patience=3, "
    "restore_best_weights=True). To generalise better: regularise (Dropout, weight decay such as "
    "AdamW, data augmentation), use a smaller model, or get more training data."
)


@dataclasses.dataclass
class EpochLog:
    """One epoch's end: the step it ended at, Keras' epoch index in its fit, and its numbers."""

    step: int
    epoch: int
    loss: float | None
    val_loss: float | None


def epoch_logs(run: RunData) -> list[EpochLog]:
    """The run's epochs in step order (across fits); mistyped documents are skipped."""
    logs = []
    for step, document in run.documents.get(FAMILY.name, []):
        numbers = document.get("logs") if isinstance(document, dict) else None
        if not isinstance(numbers, dict):
            continue
        epoch = document.get("epoch")
        logs.append(EpochLog(
            step=int(step), epoch=epoch if isinstance(epoch, int) and not isinstance(epoch, bool) else -1,
            loss=finite_number(numbers.get("loss")), val_loss=finite_number(numbers.get("val_loss")),
        ))
    return logs


def summarize(run: RunData) -> dict | None:
    """``{"epochs": [{"step", "epoch", "loss", "val_loss"}]}``, or ``None`` without epoch logs."""
    logs = epoch_logs(run)
    return {"epochs": [dataclasses.asdict(log) for log in logs]} if logs else None


def find(run: RunData) -> list[Finding]:
    """``overfitting``: see ``overfitting``."""
    return overfitting(epoch_logs(run))


def overfitting(logs: list[EpochLog]) -> list[Finding]:
    """The validation loss is ``OVERFIT_MIN_RISE`` above its best, ``OVERFIT_EPOCHS`` or more
    epochs after it, while the training loss went on falling."""
    judged = [log for log in logs if log.loss is not None and log.val_loss is not None]
    if len(judged) < OVERFIT_EPOCHS + 1:
        return []
    best = min(range(len(judged)), key=lambda i: judged[i].val_loss)
    after = len(judged) - 1 - best
    last, at_best = judged[-1], judged[best]
    if after < OVERFIT_EPOCHS or last.val_loss < at_best.val_loss * (1 + OVERFIT_MIN_RISE) or last.loss >= at_best.loss:
        return []
    return [
        Finding(
            id="overfitting",
            severity="warning",
            step=judged[best + 1].step,
            layer=None,
            title="The model is overfitting",
            detail=f"The validation loss was lowest ({at_best.val_loss:.4g}) at the epoch ending at step {at_best.step}; "
            f"over the {after} epochs since, it rose to {last.val_loss:.4g} (+{last.val_loss / at_best.val_loss - 1:.0%}) "
            f"while the training loss kept falling ({at_best.loss:.4g} to {last.loss:.4g}): the model is learning "
            f"the training set, not the task.",
            remedy=OVERFIT_REMEDY,
        )
    ]


def panel_payload(run: RunData, max_points: int) -> dict | None:
    """No panel of its own: the epoch logs are in the report (``summarize``)."""
    return None


def headline(run: RunData, summary: dict | None) -> str | None:
    """One line: the epochs and the best validation loss, when there is one."""
    if not summary:
        return None
    epochs = summary["epochs"]
    validated = [e for e in epochs if e["val_loss"] is not None]
    if not validated:
        return None
    best = min(validated, key=lambda e: e["val_loss"])
    return f"{len(epochs)} epoch(s); best val_loss {best['val_loss']:.4g} at step {best['step']}, last {validated[-1]['val_loss']:.4g}"
