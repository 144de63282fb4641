"""The words the training side, the viewer and the tab share are defined once (``tb_diag/vocabulary.py``):
the tab's TypeScript copy is generated from it and must not drift, and both Python sides read the
same objects."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tb_diag import schema, vocabulary

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))


def test_the_tabs_and_the_schemas_vocabularies_are_generated_from_the_python_one():
    assert vocabulary.main(["--check", "--root", REPO]) == 0, "run `python -m tb_diag.vocabulary`"


def test_the_check_fails_on_a_hand_edited_or_missing_typescript_file(tmp_path, capsys):
    assert vocabulary.main(["--check", "--root", str(tmp_path)]) == 1
    assert vocabulary.main(["--root", str(tmp_path)]) == 0
    assert vocabulary.main(["--check", "--root", str(tmp_path)]) == 0
    generated = tmp_path / vocabulary.TYPESCRIPT_PATH
    generated.write_text(generated.read_text().replace('"update"', '"updated"'))
    assert vocabulary.main(["--check", "--root", str(tmp_path)]) == 1
    assert "vocabulary.ts is out of date" in capsys.readouterr().err
    # The payload contracts' copy too.
    assert vocabulary.main(["--root", str(tmp_path)]) == 0
    schema_copy = tmp_path / vocabulary.SCHEMA_PATH
    schema_copy.write_text(schema_copy.read_text().replace('"backward"', '"backwards"'))
    assert vocabulary.main(["--check", "--root", str(tmp_path)]) == 1
    assert "vocabulary.schema.json is out of date" in capsys.readouterr().err


def test_the_schemas_vocabulary_holds_every_served_word_and_unknown():
    import json

    definitions = json.loads(vocabulary.json_schema())["$defs"]
    assert definitions["nan_phase"]["enum"] == [*vocabulary.NAN_PHASES, "unknown"]
    assert definitions["nan_action"]["enum"] == [*vocabulary.NAN_ACTIONS, "unknown"]
    assert definitions["severity"]["enum"] == ["error", "warning", "info"]
    assert definitions["health_status"]["enum"] == ["error", "warning", "info", "ok"]
    assert definitions["matrix_encoding"]["const"] == vocabulary.MATRIX_ENCODING


def test_the_typescript_file_holds_every_word_with_its_value():
    text = vocabulary.typescript()
    assert 'export const NAN_PHASES = ["input", "forward", "loss", "backward", "update"] as const;' in text
    assert "export type NanAction = (typeof NAN_ACTIONS)[number];" in text
    assert f"export const HELD_WRITE_MAX_ELEMENTS = {vocabulary.HELD_WRITE_MAX_ELEMENTS};" in text
    assert "export const NOT_SAMPLED = -1;" in text
    assert 'export const MATRIX_ENCODING = "float32-base64";' in text


def test_both_python_sides_read_the_same_words():
    from tb_diag.plugin.diagnostics import gradients as gradients_view
    from tb_diag.plugin.diagnostics import nonfinite as nonfinite_view
    from tb_diag.probes import nonfinite as nonfinite_probe

    assert nonfinite_probe.NAN_PHASES is nonfinite_view.NAN_PHASES is vocabulary.NAN_PHASES
    assert nonfinite_view.NAN_ACTIONS is vocabulary.NAN_ACTIONS
    assert nonfinite_probe.NAN_STATS is vocabulary.NAN_STATS
    assert nonfinite_probe.HELD_WRITE_MAX_ELEMENTS == vocabulary.HELD_WRITE_MAX_ELEMENTS
    assert gradients_view.MATRIX_ENCODING is vocabulary.MATRIX_ENCODING
    assert schema.NOT_SAMPLED == vocabulary.NOT_SAMPLED
    assert vocabulary.HELD_WRITE_LIMIT_TEXT == "4M values"


@pytest.mark.subprocess
def test_the_vocabulary_imports_neither_tensorflow_nor_numpy():
    code = "import sys, tb_diag.vocabulary; print(sorted({'tensorflow', 'numpy', 'keras'} & set(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert result.stdout.strip() == "[]"


@pytest.mark.subprocess
def test_the_nan_origin_reader_both_sides_share_imports_no_tensorflow():
    code = "import sys, tb_diag.nonfinite_origin; print(sorted({'tensorflow', 'numpy', 'keras'} & set(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert result.stdout.strip() == "[]"


@pytest.mark.subprocess
def test_the_training_side_never_imports_the_viewer():
    code = "import sys, tb_diag.callback; print(sorted(m for m in sys.modules if m.startswith('tb_diag.plugin')))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert result.stdout.strip() == "[]"
