"""The component provider's virtualenv gets every cloud SDK the provider imports: `pulumi package add` installs
only ``provider/requirements.txt`` there, so an extra missing from it is an ``ImportError`` at the provider's start."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _distribution(requirement: str) -> str:
    return re.split(r"[<>=!~\[; ]", requirement, maxsplit=1)[0].replace("-", "_")


def test_provider_requirements_install_the_extras_of_every_cloud_sdk_the_provider_imports():
    lines = [line.strip() for line in (ROOT / "provider" / "requirements.txt").read_text().splitlines()
             if line.strip() and not line.lstrip().startswith("#")]
    [checkout] = [line for line in lines if line.startswith("..")]
    installed_extras = set((re.fullmatch(r"\.\.(?:\[([a-z,]*)\])?", checkout)[1] or "").split(",")) - {""}
    optional = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    extra_of = {_distribution(requirement): extra for extra in ("aws", "gcp", "azure")
                for requirement in optional[extra]}
    imported = subprocess.run(
        [sys.executable, "-c", "import sys, mlops_platform.provider; print(' '.join(sys.modules))"],
        capture_output=True, text=True, check=True, cwd=ROOT).stdout.split()
    needed = {extra for package, extra in extra_of.items() if package in imported}
    assert needed == {"aws", "gcp", "azure"}
    assert needed <= installed_extras
