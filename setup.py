"""Packaging for tb_diag: a Keras callback plus a TensorBoard "Diagnostics" tab."""

from setuptools import find_packages, setup

setup(
    name="tb-diag",
    version="0.1.0",
    description="Training diagnostics for Keras, shown in a TensorBoard 'Diagnostics' tab.",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["tb_diag", "tb_diag.*"]),
    # The bundled frontend (built by `make frontend`) ships inside the package.
    package_data={"tb_diag.plugin": ["static/*"]},
    # Viewing a log dir needs only these: no TensorFlow.
    install_requires=["tensorboard>=2.21,<3", "werkzeug>=2.0", "numpy>=1.23"],
    extras_require={
        "train": ["tensorflow>=2.21,<3", "keras>=3.15,<4"],
        "gpu": ["nvidia-ml-py>=12.535"],
        "test": ["pytest>=8", "hypothesis>=6.100"],
    },
    entry_points={
        "tensorboard_plugins": ["tb_diag = tb_diag.plugin.loader:DiagnosticsLoader"],
        "console_scripts": ["tb-diag = tb_diag.cli:main"],
    },
)
