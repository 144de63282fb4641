"""The summary schema: what the writer encodes the reader decodes, and foreign data is refused."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from tensorboard.util import tensor_util

from tb_diag import schema


def test_metadata_marks_data_as_tb_diag_tensors():
    metadata = schema.summary_metadata(schema.GRADIENTS)
    assert metadata.plugin_data.plugin_name == "tb_diag"
    assert metadata.data_class == 2  # DATA_CLASS_TENSOR: required by the Rust data server
    assert schema.parse_plugin_content("tb_diag/gradients", metadata.plugin_data.content) is schema.GRADIENTS


@pytest.mark.parametrize(
    "tag, content, message",
    [
        ("tb_diag/gradients", json.dumps({"version": 2, "metrics": ["grad_norm", "weight_norm", "update_ratio"]}), "schema version 2"),
        ("tb_diag/gradients", json.dumps({"version": 1, "metrics": ["x"]}), "has metrics"),
        ("tb_diag/gradients", "not json", "not tb_diag JSON"),
        ("tb_diag/gradients", "[1]", "not a JSON object"),
        ("tb_diag/unknown", json.dumps({"version": 1}), "unknown tag"),
    ],
)
def test_foreign_or_future_metadata_is_refused_with_a_reason(tag, content, message):
    with pytest.raises(schema.SchemaError, match=message):
        schema.parse_plugin_content(tag, content.encode())


def test_block_round_trip():
    values = np.random.default_rng(0).random((7, 3, 3)).astype(np.float32)
    decoded = schema.decode_block(schema.GRADIENTS, tensor_util.make_ndarray(schema.encode_block(schema.GRADIENTS, values)), 3)
    np.testing.assert_array_equal(decoded, values)


def test_layer_list_round_trip_keeps_hostile_names_verbatim():
    names = ["encoder/dense_1", "<img src=x onerror=alert(1)>", "ü/名前"]
    stored = tensor_util.make_ndarray(schema.encode_layers(names))
    assert schema.decode_layers(stored) == names


@pytest.mark.parametrize("shape, layers", [((4, 3), 3), ((4, 2, 3), 3), ((4, 3, 2), 3), ((0, 3, 3), 3)])
def test_blocks_of_the_wrong_shape_are_refused(shape, layers):
    with pytest.raises(schema.SchemaError):
        schema.decode_block(schema.GRADIENTS, np.zeros(shape, np.float32), layers)


@given(st.binary(max_size=300))
def test_any_bytes_as_metadata_either_parse_or_raise_schema_error(content):
    try:
        schema.parse_plugin_content("tb_diag/gradients", content)
    except schema.SchemaError:
        pass


@given(st.one_of(st.binary(max_size=200), st.text(max_size=50).map(str.encode)))
def test_any_bytes_as_layer_list_either_decode_or_raise_schema_error(raw):
    try:
        layers = schema.decode_layers(np.array(raw, dtype=object))
    except schema.SchemaError:
        return
    assert all(isinstance(name, str) for name in layers)
