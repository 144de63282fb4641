"""Runs the real `tensorboard` program on a free loopback port for end-to-end tests."""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from typing import Iterator


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get(url: str, timeout: float = 10) -> tuple[int, bytes, str]:
    """(status, body, content type) of a GET; 4xx/5xx are returned, not raised."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read(), response.headers.get("Content-Type", "")
    except urllib.error.HTTPError as error:
        return error.code, error.read(), error.headers.get("Content-Type", "")


@contextlib.contextmanager
def running_tensorboard(
    logdir: str, *extra_flags: str, ready_run: str | None = None, timeout: float = 90, python: str = sys.executable,
    environment: dict | None = None,
) -> Iterator[str]:
    """Starts `tensorboard --logdir logdir` and yields its base URL once tb_diag data is served.

    Waits until the plugin lists ``ready_run`` (TensorBoard loads data in the background).
    ``python``: the interpreter whose TensorBoard runs (e.g. a virtualenv's, without TensorFlow).
    ``environment``: its environment variables (default: this process's), e.g. an S3 endpoint.
    """
    port = free_port()
    process = subprocess.Popen(
        [python, "-m", "tensorboard.main", "--logdir", logdir, "--host", "127.0.0.1", "--port", str(port), *extra_flags],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=environment,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"tensorboard exited with {process.returncode}:\n{process.stdout.read()}")
            try:
                status, body, _ = get(f"{base}/data/plugin/tb_diag/runs", timeout=5)
                if status == 200 and (ready_run is None or ready_run in [r["run"] for r in json.loads(body)["runs"]]):
                    break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"tensorboard did not serve tb_diag data for {ready_run!r} within {timeout}s")
            time.sleep(0.5)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
