"""Standard architectures and synthetic data with a learnable signal, for benchmarks and tests.

Every model is built locally (``weights=None``, nothing is downloaded). Real architectures behave
unlike hand-made test models: ~150 layers to trace, BatchNormalization and bias gradients orders of
magnitude below conv kernels, tiny attention query/key gradients at initialisation, and sparse
(``IndexedSlices``) embedding gradients.

Models (``MODELS``), full size / ``small=True``:

* ``mobilenetv2``: ``keras.applications.MobileNetV2``, 96×96×3 / ``alpha=0.35`` at 32×32×3.
* ``resnet50``: ``keras.applications.ResNet50``, 64×64×3 / 32×32×3.
* ``efficientnetb0``: ``keras.applications.EfficientNetB0``, 64×64×3 / 32×32×3.
* ``densenet121``: ``keras.applications.DenseNet121``, 64×64×3 / 32×32×3.
* ``transformer``: token + learned position embedding, 2 encoder blocks (MultiHeadAttention,
  residual + LayerNormalization, feed-forward, residual + LayerNormalization), average pooling,
  logits. 64 tokens of a 5,000 vocabulary, width 128 / 16 tokens of 1,000, width 32.
* ``lstm``: Embedding(5000, 64) → LSTM(64) → logits / Embedding(1000, 16) → LSTM(16).
* ``gru``: Embedding(5000, 64) → Bidirectional(GRU(64), return_sequences) → GRU(64) → logits /
  the same at width 16 on 1,000 ids.
* ``embedding``: Embedding(200,000, 64) on 16 ids → average pooling → Dense(64, relu) → logits
  (20,000 ids when small). Its gradient is an ``IndexedSlices`` on TensorFlow.

The image classifiers end in a softmax (as ``keras.applications`` builds them), the text models in
logits; ``compile_model`` picks ``from_logits`` to match. A small model fits in seconds on 2 CPU
cores (ResNet50 and DenseNet121 stay deep at 32×32: tens of seconds, mostly tracing).

Synthetic data is deterministic for a seed and learnable:

* images: noise around 0.5; class ``c`` brightens colour channel ``c % 3`` inside patch ``c`` of
  a 4×4 grid;
* tokens: random ids above the marker range; class ``c`` places a few copies of its marker id
  ``1 + c`` at random positions.

Example::

    import keras
    from benchmarks.standard_models import build, compile_model

    model, data = build("lstm", keras, small=True)
    compile_model(model, keras)
    model.fit(data.dataset(seed=0, batches=8), epochs=1, steps_per_epoch=8, verbose=0)

Under ``mixed_float16`` set the policy first (``keras.mixed_precision.set_global_policy``), then
build, then ``compile_model(..., mixed_precision=True)``.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

MODELS = ("mobilenetv2", "resnet50", "efficientnetb0", "densenet121", "transformer", "lstm", "gru", "embedding")
IMAGE_MODELS = ("mobilenetv2", "resnet50", "efficientnetb0", "densenet121")

IMAGE_CLASSES = 10
TEXT_CLASSES = 4
# Grid of class patches: IMAGE_CLASSES must fit in GRID × GRID cells.
GRID = 4
MARKER_COPIES = 3


@dataclasses.dataclass(frozen=True)
class SyntheticData:
    """Deterministic synthetic examples for one model: images or token ids, with a class signal.

    Attributes:
        kind: ``"images"`` (float32, ``shape`` = height, width, channels) or ``"tokens"`` (int32
            ids, ``shape`` = sequence length,).
        shape: the shape of one example.
        classes: number of classes; labels are int32 in ``[0, classes)``.
        batch_size: the batch size ``dataset`` uses.
        vocab: vocabulary size for ``"tokens"`` (ids ``1..classes`` are the class markers).
    """

    kind: str
    shape: tuple[int, ...]
    classes: int
    batch_size: int
    vocab: int | None = None

    def arrays(self, examples: int, seed: int = 0) -> tuple[Any, Any]:
        """Returns ``(x, y)`` NumPy arrays of ``examples`` examples, the same for the same seed."""
        import numpy as np

        if examples < 1:
            raise ValueError(f"examples must be >= 1, got {examples!r}")
        rng = np.random.default_rng(seed)
        y = rng.integers(0, self.classes, size=examples).astype(np.int32)
        if self.kind == "images":
            return _images(rng, y, self.shape), y
        return _tokens(rng, y, self.shape[0], self.vocab, self.classes), y

    def dataset(self, seed: int = 0, batches: int = 16, repeat: bool = True, shuffle_labels: bool = False) -> Any:
        """A ``tf.data.Dataset`` of ``batches`` fixed batches (cached), repeated forever by default.
        ``shuffle_labels``: the labels permuted (seed + 1), so nothing links them to the inputs."""
        import numpy as np
        import tensorflow as tf

        if batches < 1:
            raise ValueError(f"batches must be >= 1, got {batches!r}")
        x, y = self.arrays(batches * self.batch_size, seed)
        if shuffle_labels:
            y = np.random.default_rng(seed + 1).permutation(y)
        data = tf.data.Dataset.from_tensor_slices((x, y)).batch(self.batch_size, drop_remainder=True).cache()
        return data.repeat() if repeat else data


def _images(rng: Any, labels: Any, shape: tuple[int, ...]) -> Any:
    import numpy as np

    height, width, channels = shape
    x = (0.5 + 0.2 * rng.standard_normal((len(labels), height, width, channels))).astype(np.float32)
    cell_h, cell_w = height // GRID, width // GRID
    for label in range(IMAGE_CLASSES):
        row, col = divmod(label, GRID)
        rows = slice(row * cell_h, (row + 1) * cell_h)
        cols = slice(col * cell_w, (col + 1) * cell_w)
        x[labels == label, rows, cols, label % channels] += 0.5
    return x


def _tokens(rng: Any, labels: Any, length: int, vocab: int, classes: int) -> Any:
    import numpy as np

    # Ids 1..classes are markers, 0 is never used, the rest is noise.
    x = rng.integers(classes + 1, vocab, size=(len(labels), length)).astype(np.int32)
    for row, label in enumerate(labels):
        positions = rng.choice(length, size=MARKER_COPIES, replace=False)
        x[row, positions] = 1 + label
    return x


def build(name: str, keras: Any, small: bool = False) -> tuple[Any, SyntheticData]:
    """Builds model ``name`` (uncompiled, freshly initialised) and describes the data it trains on.

    Args:
        name: one of ``MODELS``.
        keras: the ``keras`` module (passed in so importing this file does not import Keras).
        small: the reduced variant for tests (see the module docstring).

    Returns:
        ``(model, data)``: a ``keras.Model`` and the ``SyntheticData`` that fits its input.

    Call ``keras.utils.set_random_seed`` first for reproducible weights.
    """
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose from {', '.join(MODELS)}")
    if name in IMAGE_MODELS:
        return _image_model(name, keras, small)
    if name == "transformer":
        length, vocab, width = (16, 1_000, 32) if small else (64, 5_000, 128)
        data = SyntheticData("tokens", (length,), TEXT_CLASSES, batch_size=32 if small else 64, vocab=vocab)
        return _transformer(keras, data, width, heads=2 if small else 4, key_dim=16 if small else 32), data
    if name in ("lstm", "gru"):
        length, vocab, width = (16, 1_000, 16) if small else (64, 5_000, 64)
        data = SyntheticData("tokens", (length,), TEXT_CLASSES, batch_size=32 if small else 64, vocab=vocab)
        tokens = keras.Input(data.shape, dtype="int32", name="tokens")
        x = keras.layers.Embedding(vocab, width, name="embedding")(tokens)
        if name == "lstm":
            x = keras.layers.LSTM(width, name="lstm")(x)
        else:
            x = keras.layers.Bidirectional(keras.layers.GRU(width, return_sequences=True), name="bigru")(x)
            x = keras.layers.GRU(width, name="gru")(x)
        logits = keras.layers.Dense(data.classes, dtype="float32", name="logits")(x)
        return keras.Model(tokens, logits, name=f"{name}_classifier"), data
    vocab = 20_000 if small else 200_000
    data = SyntheticData("tokens", (16,), TEXT_CLASSES, batch_size=32 if small else 64, vocab=vocab)
    tokens = keras.Input(data.shape, dtype="int32", name="tokens")
    x = keras.layers.Embedding(vocab, 64, name="embedding")(tokens)
    x = keras.layers.GlobalAveragePooling1D(name="pool")(x)
    x = keras.layers.Dense(64, activation="relu", name="hidden")(x)
    logits = keras.layers.Dense(data.classes, dtype="float32", name="logits")(x)
    return keras.Model(tokens, logits, name="embedding_classifier"), data


def _image_model(name: str, keras: Any, small: bool) -> tuple[Any, SyntheticData]:
    side = 32 if small else (96 if name == "mobilenetv2" else 64)
    data = SyntheticData("images", (side, side, 3), IMAGE_CLASSES, batch_size=16 if small else 32)
    common = dict(input_shape=data.shape, weights=None, classes=data.classes)
    if name == "mobilenetv2":
        return keras.applications.MobileNetV2(alpha=0.35 if small else 1.0, **common), data
    constructor = {
        "resnet50": keras.applications.ResNet50,
        "efficientnetb0": keras.applications.EfficientNetB0,
        "densenet121": keras.applications.DenseNet121,
    }[name]
    return constructor(**common), data


def _transformer(keras: Any, data: SyntheticData, width: int, heads: int, key_dim: int) -> Any:
    tokens = keras.Input(data.shape, dtype="int32", name="tokens")
    x = keras.layers.Embedding(data.vocab, width, name="token_embedding")(tokens)
    x = _position_embedding_class(keras)(name="position_embedding")(x)
    for block in range(2):
        attended = keras.layers.MultiHeadAttention(num_heads=heads, key_dim=key_dim, name=f"block{block}_attention")(x, x)
        x = keras.layers.LayerNormalization(name=f"block{block}_attention_norm")(keras.layers.Add()([x, attended]))
        hidden = keras.layers.Dense(2 * width, activation="relu", name=f"block{block}_ff_hidden")(x)
        hidden = keras.layers.Dense(width, name=f"block{block}_ff_out")(hidden)
        x = keras.layers.LayerNormalization(name=f"block{block}_ff_norm")(keras.layers.Add()([x, hidden]))
    x = keras.layers.GlobalAveragePooling1D(name="pool")(x)
    logits = keras.layers.Dense(data.classes, dtype="float32", name="logits")(x)
    return keras.Model(tokens, logits, name="transformer_classifier")


@functools.lru_cache(maxsize=None)
def _position_embedding_class(keras: Any) -> type:
    """``PositionEmbedding``: adds a learned (sequence length, width) table to its input."""

    class PositionEmbedding(keras.layers.Layer):
        def build(self, input_shape: tuple) -> None:
            self.positions = self.add_weight(
                shape=tuple(input_shape[1:]), initializer="glorot_uniform", name="positions"
            )

        def call(self, inputs: Any) -> Any:
            return inputs + keras.ops.cast(self.positions, inputs.dtype)

    return PositionEmbedding


def compile_model(model: Any, keras: Any, mixed_precision: bool = False, learning_rate: float = 1e-3) -> Any:
    """Compiles ``model`` with Adam and sparse categorical cross-entropy; returns it.

    ``from_logits`` follows the output layer (False after a softmax, True otherwise).
    ``jit_compile`` is left at Keras' default ``"auto"``: XLA on a GPU, none on CPU.
    ``mixed_precision=True`` wraps Adam in a ``LossScaleOptimizer``; build the model under the
    ``mixed_float16`` policy for it to mean anything.
    """
    optimizer = keras.optimizers.Adam(learning_rate)
    if mixed_precision:
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    from_logits = getattr(model.layers[-1], "activation", None) is not keras.activations.softmax
    model.compile(
        optimizer=optimizer,
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=from_logits),
        metrics=["accuracy"],
    )
    return model
