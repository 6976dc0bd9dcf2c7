"""Which policy pack the offline tools run when none is named: the project's own, or mlopsguard as installed.

The analyzer starts a pack as the Pulumi CLI does, ``python -m pulumi.policy ADDRESS PACK_DIR``, which needs a
directory with ``PulumiPolicy.yaml`` and a ``__main__.py``. A project that keeps a pack in ``policies/`` (this
repository does) gets that one; any other program gets the pack of the installed ``mlopsguard``, written once per
process into a temporary directory whose ``__main__.py`` only calls :func:`mlopsguard.pack.serve`.

``mlops-policy-pack DIR`` (``python -m mlops_platform_offline.policy_pack DIR``) writes the same directory for the
Pulumi CLI, ``pulumi preview --policy-pack DIR``, naming the running virtualenv (where mlopsguard is installed) as
the pack's own.
"""

from __future__ import annotations

import argparse
import atexit
import functools
import importlib.util
import json
import shutil
import sys
import tempfile
from pathlib import Path

PROJECT_PACK = "policies"


class PolicyPackMissing(Exception):
    """No pack was named, the project has none, and mlopsguard's dependencies are not installed."""

    MESSAGE = ("the policy pack needs pulumi-policy, which is not installed; install the testing extra: "
               "pip install \"pulumi-mlops-platform[testing]\"")


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
        raise PolicyPackMissing(PolicyPackMissing.MESSAGE)
    directory = Path(tempfile.mkdtemp(prefix="mlopsguard-pack-"))
    atexit.register(shutil.rmtree, directory, ignore_errors=True)
    return write_pack_dir(directory)


def write_pack_dir(directory: Path, virtualenv: Path | None = None) -> Path:
    """Write ``PulumiPolicy.yaml`` and ``__main__.py`` of the installed mlopsguard's pack into ``directory``;
    ``virtualenv`` is the environment the Pulumi CLI should run it with."""
    from mlopsguard import PACK_DESCRIPTION, PACK_VERSION

    runtime = {"name": "python", "options": {"virtualenv": str(virtualenv)}} if virtualenv else "python"
    directory.mkdir(parents=True, exist_ok=True)
    # JSON is YAML: the description and the path are quoted whatever characters they hold.
    (directory / "PulumiPolicy.yaml").write_text(
        f"description: {json.dumps(PACK_DESCRIPTION)}\nruntime: {json.dumps(runtime)}\nversion: {PACK_VERSION}\n")
    (directory / "__main__.py").write_text("from mlopsguard.pack import serve\n\nserve()\n")
    return directory


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mlops-policy-pack", description="Write the installed mlopsguard's pack "
                                     "directory for `pulumi preview --policy-pack DIR`.")
    parser.add_argument("directory", type=Path, help="where to write PulumiPolicy.yaml and __main__.py")
    args = parser.parse_args(argv)
    if importlib.util.find_spec("pulumi_policy") is None:
        print(f"error: {PolicyPackMissing.MESSAGE}", file=sys.stderr)
        return 2
    write_pack_dir(args.directory, virtualenv=Path(sys.prefix))
    print(f"wrote {args.directory}: pulumi preview --policy-pack {args.directory}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
