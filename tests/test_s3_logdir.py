"""Log dirs in an S3 bucket, against a real S3-compatible server on loopback (moto's server).

The path a team takes: runs trained locally are copied to a bucket (``aws s3 sync``); a teammate
with the viewer installed from the wheel, without TensorFlow, points ``tensorboard`` and
``tb-diag report`` at ``s3://``. TensorBoard reads it through its own filesystem layer (boto3), and
tb_diag's writer, which is TensorBoard's event writer, writes it there too. On the training side
TensorFlow 2.21 has no ``s3://`` filesystem: the callback says so and training goes on
(``tests/test_remote_logdir.py``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from tensorboard_server import free_port, running_tensorboard
from test_browser import open_tab
from viewer_install import REPO

pytestmark = [pytest.mark.browser, pytest.mark.subprocess, pytest.mark.slow, pytest.mark.skipif(shutil.which("chromium") is None or shutil.which("git") is None, reason="needs chromium and git")]

BUCKET = "team-logs"


@pytest.fixture(scope="module")
def s3_environment(tmp_path_factory):
    """Starts moto's S3-compatible server on 127.0.0.1; yields the environment a client needs to
    reach it (endpoint for TensorBoard's boto3 layer, dummy credentials, region)."""
    port = free_port()
    log = open(tmp_path_factory.mktemp("moto") / "server.log", "w")
    server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=subprocess.STDOUT)
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(endpoint, timeout=2).read()
            break
        except urllib.error.HTTPError:
            break  # It answers: that is all we wait for.
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"moto's server did not start on {endpoint}")
            time.sleep(0.3)
    environment = {
        **os.environ,
        "S3_ENDPOINT": endpoint,  # TensorBoard's S3 layer passes it to boto3 as endpoint_url.
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    try:
        yield environment
    finally:
        server.terminate()
        server.wait(timeout=10)
        log.close()


def sync_to_bucket(local_dir: str, bucket: str, prefix: str, environment: dict) -> int:
    """What ``aws s3 sync local_dir s3://bucket/prefix`` does, with boto3; returns the file count."""
    import boto3

    client = boto3.client(
        "s3", endpoint_url=environment["S3_ENDPOINT"], region_name=environment["AWS_DEFAULT_REGION"],
        aws_access_key_id=environment["AWS_ACCESS_KEY_ID"], aws_secret_access_key=environment["AWS_SECRET_ACCESS_KEY"],
    )
    if bucket not in [b["Name"] for b in client.list_buckets()["Buckets"]]:
        client.create_bucket(Bucket=bucket)
    count = 0
    for root, _, files in os.walk(local_dir):
        for name in files:
            path = os.path.join(root, name)
            client.upload_file(path, bucket, f"{prefix}/{os.path.relpath(path, local_dir)}")
            count += 1
    return count


def test_a_bucket_of_runs_is_read_by_the_viewer_without_tensorflow(viewer_python, s3_environment, demo_logdir, tmp_path):
    assert sync_to_bucket(str(demo_logdir), BUCKET, "logs", s3_environment) >= 6
    # tb_diag's writer (TensorBoard's event writer) writes a run straight into the bucket.
    written = subprocess.run(
        [viewer_python, os.path.join(REPO, "benchmarks", "synthetic_logdir.py"), f"s3://{BUCKET}/logs", "--layers", "12", "--steps", "400"],
        env=s3_environment, capture_output=True, text=True, timeout=300,
    )
    assert written.returncode == 0, written.stderr[-2000:]

    report = subprocess.run(
        [os.path.join(os.path.dirname(viewer_python), "tb-diag"), "report", f"s3://{BUCKET}/logs"],
        env=s3_environment, capture_output=True, text=True, timeout=300,
    )
    assert report.returncode == 0, report.stderr[-2000:]
    assert "run exploding/train" in report.stdout and "run synthetic/train: 400 steps, 12 layers" in report.stdout
    assert "learning_rate_too_high" in report.stdout  # a finding of a real run, read from the bucket

    missing = subprocess.run(
        [os.path.join(os.path.dirname(viewer_python), "tb-diag"), "report", f"s3://{BUCKET}/nothing-here"],
        env=s3_environment, capture_output=True, text=True, timeout=300,
    )
    assert missing.returncode == 2 and "not a readable directory" in missing.stderr

    with running_tensorboard(f"s3://{BUCKET}/logs", ready_run="synthetic/train", python=viewer_python, environment=s3_environment) as base:
        result = open_tab(base, "exploding/train", 4, str(tmp_path / "tab.png"))
    assert result["findings"][0]["id"] == "learning_rate_too_high"
    assert result["dialogs"] == []
