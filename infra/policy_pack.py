"""Which policy pack the offline tools run when none is named: the project's own, or mlopsguard as installed.

The analyzer starts a pack as the Pulumi CLI does, ``python -m pulumi.policy ADDRESS PACK_DIR``, which needs a
directory with ``PulumiPolicy.yaml`` and a ``__main__.py``. A project that keeps a pack in ``policies/`` (this
repository does) gets that one; any other program gets the pack of the installed ``mlopsguard``, written once per
process into a temporary directory whose ``__main__.py`` only calls :func:`mlopsguard.pack.serve`.
"""

from __future__ import annotations

import atexit
import functools
import importlib.util
import json
import shutil
import tempfile
from pathlib import Path

PROJECT_PACK = "policies"


class PolicyPackMissing(Exception):
    """No pack was named, the project has none, and mlopsguard's dependencies are not installed."""


def default_policy_pack(project_dir: Path) -> Path:
    """``<project_dir>/policies`` when it is a policy pack, else the installed mlopsguard's pack directory."""
    own = project_dir / PROJECT_PACK
    if (own / "PulumiPolicy.yaml").is_file():
        return own
    return installed_pack_dir()


@functools.cache
def installed_pack_dir() -> Path:
    """A pack directory that serves the installed mlopsguard (created on first use, removed when the process ends)."""
    if importlib.util.find_spec("pulumi_policy") is None:
        raise PolicyPackMissing("the policy pack needs pulumi-policy, which is not installed; install the testing "
                                "extra: pip install \"pulumi-mlops-platform[testing]\"")
    from mlopsguard import PACK_DESCRIPTION, PACK_VERSION

    directory = Path(tempfile.mkdtemp(prefix="mlopsguard-pack-"))
    atexit.register(shutil.rmtree, directory, ignore_errors=True)
    # JSON is YAML: the description is quoted whatever characters it holds.
    (directory / "PulumiPolicy.yaml").write_text(
        f"description: {json.dumps(PACK_DESCRIPTION)}\nruntime: python\nversion: {PACK_VERSION}\n")
    (directory / "__main__.py").write_text("from mlopsguard.pack import serve\n\nserve()\n")
    return directory
