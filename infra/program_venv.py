"""Run an offline tool with the program's own virtualenv, as the Pulumi CLI runs the program with it.

A project's ``Pulumi.yaml`` may name a virtualenv (``runtime.options.virtualenv``, or ``.venv`` with the ``uv``
toolchain); the program's dependencies live there, not in the environment the tool was started from. When the tool
runs under another interpreter, it runs itself again with that virtualenv's Python, which must have
``pulumi-mlops-platform[testing]`` installed, so the program imports exactly what ``pulumi preview`` would give it.
``MLOPS_CURRENT_PYTHON=1`` (or the tools' ``--current-python``) keeps the running interpreter instead; the second
run sets it, so it never starts a third.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import TextIO

from .harness import ProjectFiles

CURRENT_PYTHON_ENV = "MLOPS_CURRENT_PYTHON"
DISTRIBUTION = "pulumi-mlops-platform[testing]"


class VirtualenvError(Exception):
    """The project names a virtualenv that does not exist or lacks the offline tools. One line, naming the path."""


def program_python(project: ProjectFiles) -> Path | None:
    """The Python of the project's virtualenv when the tool should run there instead; None when the project names
    no virtualenv, it is the running one, or ``MLOPS_CURRENT_PYTHON=1``."""
    venv = project.virtualenv
    if venv is None or os.environ.get(CURRENT_PYTHON_ENV) == "1":
        return None
    if Path(sys.prefix).resolve() == venv.resolve():
        return None
    python = venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    where = f"{project.root / 'Pulumi.yaml'} runtime.options.virtualenv"
    if not python.exists():
        raise VirtualenvError(
            f"{where}: {venv} is not a virtualenv; create it with the program's dependencies and "
            f"{DISTRIBUTION} (python -m venv {venv} && {python} -m pip install \"{DISTRIBUTION}\"), or pass "
            f"--current-python to run with {sys.executable}")
    probe = subprocess.run([str(python), "-c", "import mlops_platform_offline.preview"], capture_output=True)
    if probe.returncode != 0:
        raise VirtualenvError(
            f"{where}: {venv} does not have the offline tools; install them there: {python} -m pip install "
            f"\"{DISTRIBUTION}\" (or pass --current-python to run with {sys.executable})")
    return python


def run_with(python: Path, module: str, argv: list[str], out: TextIO, err: TextIO) -> int:
    """Run ``python -m module argv`` (with ``MLOPS_CURRENT_PYTHON=1``), copy its output, and return its status."""
    completed = subprocess.run([str(python), "-m", module, *argv], capture_output=True, text=True,
                               env={**os.environ, CURRENT_PYTHON_ENV: "1"})
    out.write(completed.stdout)
    err.write(completed.stderr)
    return completed.returncode
