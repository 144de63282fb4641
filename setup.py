"""Packaging for tb_diag: a Keras callback plus a TensorBoard "Diagnostics" tab.

The tab's bundle (``tb_diag/plugin/static/index.js``) is a build output, not committed: building a
wheel or an sdist from a source checkout builds it from ``frontend/`` first (Node >= 20 and npm),
or stops with a message naming what is missing. An sdist carries the built bundle, so installing
from it needs no Node.
"""

import os
import re
import shutil
import subprocess

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist

ROOT = os.path.dirname(os.path.abspath(__file__))
FRONTEND = os.path.join(ROOT, "frontend")
BUNDLE = os.path.join(ROOT, "tb_diag", "plugin", "static", "index.js")
SCHEMAS = os.path.join(ROOT, "tb_diag", "plugin", "schemas")
MIN_NODE_MAJOR = 20


def read_version() -> str:
    """The version, from its one place: ``tb_diag.__version__`` (read as text: importing the
    package here would need its dependencies)."""
    with open(os.path.join(ROOT, "tb_diag", "__init__.py"), encoding="utf-8") as source:
        return re.search(r'^__version__ = "([^"]+)"', source.read(), re.MULTILINE).group(1)


def _newest_source_mtime() -> float:
    newest = 0.0
    # The tab's sources, and the payload schemas its contracts are generated from (frontend/scripts).
    for root in (os.path.join(FRONTEND, "src"), os.path.join(FRONTEND, "scripts"), SCHEMAS):
        for directory, subdirectories, files in os.walk(root):
            newest = max([newest] + [os.path.getmtime(os.path.join(directory, name)) for name in files])
    for name in ("package.json", "package-lock.json", "tsconfig.json"):
        path = os.path.join(FRONTEND, name)
        if os.path.isfile(path):
            newest = max(newest, os.path.getmtime(path))
    return newest


def build_frontend() -> None:
    """Makes sure the bundle exists and is newer than the frontend sources; builds it if not."""
    if not os.path.isdir(os.path.join(FRONTEND, "src")):
        if os.path.isfile(BUNDLE):
            return  # an sdist: the bundle was built when it was made
        raise SystemExit(f"tb-diag: neither the frontend sources ({FRONTEND}/src) nor a built bundle ({BUNDLE}) is here")
    if os.path.isfile(BUNDLE) and os.path.getmtime(BUNDLE) >= _newest_source_mtime():
        return
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        raise SystemExit(
            f"tb-diag: building the Diagnostics tab needs Node.js >= {MIN_NODE_MAJOR} and npm, and "
            f"{'node' if node is None else 'npm'} is not on PATH. Install Node.js (e.g. `apt-get install nodejs npm`), "
            "or build the bundle once elsewhere with `make frontend`."
        )
    version = subprocess.run([node, "--version"], capture_output=True, text=True, check=True).stdout.strip()
    if int(version.lstrip("v").split(".")[0]) < MIN_NODE_MAJOR:
        raise SystemExit(f"tb-diag: building the Diagnostics tab needs Node.js >= {MIN_NODE_MAJOR}; found {version}")
    if not os.path.isdir(os.path.join(FRONTEND, "node_modules")):
        subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=FRONTEND, check=True)
    subprocess.run([npm, "run", "build"], cwd=FRONTEND, check=True)


class BuildPyWithFrontend(build_py):
    """``build_py`` that builds the tab's bundle first, so every wheel carries it."""

    def run(self) -> None:
        build_frontend()
        super().run()


class SdistWithFrontend(sdist):
    """``sdist`` that builds the tab's bundle first, so the sdist carries it (see MANIFEST.in)."""

    def run(self) -> None:
        build_frontend()
        super().run()


setup(
    name="tb-diag",
    version=read_version(),
    description="Training diagnostics for Keras, shown in a TensorBoard 'Diagnostics' tab.",
    long_description=open(os.path.join(ROOT, "README.md"), encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["tb_diag", "tb_diag.*"]),
    # The bundled frontend ships inside the package, with the payload contracts it was built from.
    package_data={"tb_diag.plugin": ["static/*", "schemas/*.json"]},
    # Viewing a log dir needs only these: no TensorFlow.
    install_requires=["tensorboard>=2.21,<3", "werkzeug>=2.0", "numpy>=1.23"],
    extras_require={
        "train": ["tensorflow>=2.21,<3", "keras>=3.15,<4"],
        "gpu": ["nvidia-ml-py>=12.535"],
        # Viewing s3:// log dirs without TensorFlow: TensorBoard's own filesystem layer reads S3 with boto3.
        "s3": ["boto3>=1.28"],
        "test": ["pytest>=8", "pytest-xdist>=3.5", "hypothesis>=6.100", "build>=1.0", "moto[server]>=5", "boto3>=1.28", "jsonschema>=4.18"],
    },
    entry_points={
        "tensorboard_plugins": ["tb_diag = tb_diag.plugin.loader:DiagnosticsLoader"],
        "console_scripts": ["tb-diag = tb_diag.cli:main"],
    },
    cmdclass={"build_py": BuildPyWithFrontend, "sdist": SdistWithFrontend},
)
