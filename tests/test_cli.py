"""`tb-diag report` and `tb-diag check` on real training logs, through the installed console script."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

TB_DIAG = shutil.which("tb-diag")


def tb_diag(*args: str) -> subprocess.CompletedProcess:
    assert TB_DIAG, "the tb-diag console script is installed by `pip install -e .`"
    return subprocess.run([TB_DIAG, *args], capture_output=True, text=True, timeout=120)


def test_report_prints_each_run_and_its_findings(demo_logdir):
    result = tb_diag("report", str(demo_logdir))
    assert result.returncode == 0
    assert "run healthy/train: 116 steps, 4 layers" in result.stdout
    assert "ERROR learning_rate_too_high at step 2" in result.stdout
    assert "consequence of learning_rate_too_high: ERROR exploding_gradients at step 24" in result.stdout
    assert "WARNING vanishing_gradients" in result.stdout and "fix: " in result.stdout
    # The model check names the cause before any step: 8 sigmoid layers without normalisation.
    assert "  WARNING deep_saturating_stack in 'sigmoid_1'" in result.stdout
    assert "consequence of deep_saturating_stack: WARNING vanishing_gradients" in result.stdout
    assert "input: highly input-bound" in result.stdout and "WARNING input_bound" in result.stdout
    assert "NaN/Inf: first at step 41 (forward, 'log_features'); update stopped; 1 step(s) with NaN/Inf" in result.stdout


def test_report_json_follows_the_documented_shape(demo_logdir):
    result = tb_diag("report", str(demo_logdir), "--json")
    assert result.returncode == 0
    document = json.loads(result.stdout)  # strict JSON: non-finite floats are strings
    assert document["schema"] == 1
    runs = {run["run"]: run for run in document["runs"]}
    assert set(runs) == {"exploding/train", "healthy/train", "nan/train", "starved/train", "unscaled/train", "vanishing/train"}
    healthy = runs["healthy/train"]
    assert set(healthy) >= {"run", "steps", "layers", "gradients", "findings"}
    # A healthy run has nothing to say: no warning, and no info note that shows on every run.
    assert healthy["steps"] == 116 and healthy["findings"] == []
    assert set(healthy["gradients"]["output"]) == {"last", "min", "max"}
    assert runs["exploding/train"]["gradients"]["hidden_1"]["max"] == "NaN"
    finding = runs["exploding/train"]["findings"][0]
    assert set(finding) == {"id", "severity", "step", "layer", "title", "detail", "remedy", "diagnostic", "caused_by"}
    # Root cause first: updates of 5-8% of the weights per step (SGD at 0.1) from step 2; the
    # explosion at step 24, the NaN/Inf it ends in and the dead units after it follow from them.
    assert finding["id"] == "learning_rate_too_high" and finding["caused_by"] is None
    assert finding["diagnostic"] == "gradients" and finding["severity"] == "error"  # the cause of an error
    consequences = runs["exploding/train"]["findings"][1:]
    assert [f["id"] for f in consequences[:2]] == ["exploding_gradients", "nonfinite"]
    assert {f["caused_by"] for f in consequences} == {"learning_rate_too_high"}
    # The health summary: one line per diagnostic, worst first.
    overview = runs["nan/train"]["overview"]
    assert overview[0] == {"diagnostic": "nonfinite", "label": "NaN/Inf", "status": "error", "findings": 1, "root_causes": 1,
                           "text": "first at step 41 (forward, 'log_features'); update stopped; 1 step(s) with NaN/Inf"}
    assert [line["status"] for line in overview] == sorted((line["status"] for line in overview), key=["error", "warning", "info", "ok"].index)
    assert {"diagnostic": "nonfinite", "label": "NaN/Inf", "status": "ok", "findings": 0, "root_causes": 0, "text": "no NaN/Inf"} in healthy["overview"]
    unscaled = runs["unscaled/train"]
    assert set(unscaled["activations"]["input"]) == {"mean", "std", "zero_fraction", "dead_fraction", "saturation", "step"}
    assert {"unnormalized_inputs", "dead_relu"} <= {f["id"] for f in unscaled["findings"]}
    starved = runs["starved/train"]["input"]
    assert {"wait_fraction", "verdict", "step_p50_s", "step_p95_s"} <= set(starved)
    assert starved["verdict"] == "highly" and starved["pipeline"]["python"] is True
    assert [f["id"] for f in runs["starved/train"]["findings"]] == ["input_bound"]
    assert runs["starved/train"]["environment"]["seed"] == 0  # the demo seeds; op determinism is off
    assert document["not_reproducible"]["starved/train"] == "op determinism is off"
    assert healthy["nonfinite"] is None
    nan = runs["nan/train"]["nonfinite"]
    assert {key: nan[key] for key in ("step", "epoch", "phase", "layer", "action")} == {
        "step": 41, "epoch": 0, "phase": "forward", "layer": "log_features", "action": "stopped"
    }
    assert "returned 1 -Inf" in nan["detail"] and runs["nan/train"]["steps"] == 41


def test_check_fails_only_on_error_level_root_causes(demo_logdir, tmp_path):
    result = tb_diag("check", str(demo_logdir))
    # exploding (its NaN and dead units are consequences) and nan: two root causes, not six errors.
    assert result.returncode == 1 and "2 error-level root cause(s)" in result.stdout
    for name in ("healthy", "vanishing"):  # a warning alone does not fail the gate
        shutil.copytree(demo_logdir / name, tmp_path / name)
    result = tb_diag("check", str(tmp_path))
    assert result.returncode == 0 and "0 error-level root cause(s)" in result.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (("check", "/nonexistent/logs"), "cannot read log dir"),
        (("report",), "the following arguments are required: logdir"),
        (("frobnicate", "x"), "invalid choice"),
    ],
)
def test_bad_usage_exits_2_with_a_message(args, message):
    result = tb_diag(*args)
    assert result.returncode == 2 and message in result.stderr


def test_a_log_dir_without_tb_diag_data_is_not_a_pass(tmp_path):
    (tmp_path / "empty_run").mkdir()
    result = tb_diag("check", str(tmp_path))
    assert result.returncode == 2 and "no tb_diag data" in result.stderr


def test_viewer_side_works_without_tensorflow(demo_logdir, tmp_path):
    """A teammate with only tensorboard installed can read the logs: importing TF is blocked here."""
    blocker = tmp_path / "sitecustomize.py"
    blocker.write_text(
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'tensorflow' or name.startswith('tensorflow.') or name == 'keras' or name.startswith('keras.'):\n"
        "            raise ImportError('blocked: ' + name)\n"
        "sys.meta_path.insert(0, Block())\n"
    )
    env = dict(os.environ, PYTHONPATH=f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    script = (
        "import sys; from tb_diag.cli import main; from tb_diag.plugin.loader import DiagnosticsLoader;"
        "import tb_diag.plugin.plugin; code = main(['check', sys.argv[1]]);"
        "assert 'tensorflow' not in sys.modules; sys.exit(code)"
    )
    import sys

    result = subprocess.run([sys.executable, "-c", script, str(demo_logdir)], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1, result.stderr[-2000:]
    assert "ERROR exploding_gradients" in result.stdout
