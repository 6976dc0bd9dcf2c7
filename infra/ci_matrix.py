"""The stacks the CI workflows run on, read from ``stacks/``: ``python -m mlops_platform_offline.ci_matrix [--github-output PATH]``.

Every ``stacks/Pulumi.<stack>.yaml`` is one entry, so a stack file added to the folder is previewed on the next pull
request without touching a workflow. For each stack it says:

- ``cloud``: ``aws``, ``gcp``, ``azure`` or ``local`` (the stack's ``mlops:cloud``, or its ``mlops:ci_identity``
  section's ``cloud``);
- ``kind``: ``platform``, or ``ci-identity`` for the one-time stacks of the CI's own cloud identities;
- ``policy_config``: the file in ``policies/config/`` whose ``cost-tag-values.allowedEnvironments`` lists the
  stack's ``environment`` tag (exactly one must), which is what ``pulumi preview --policy-pack-config`` gets;
- ``production``: whether that config is ``prod.json``; production stacks deploy behind the ``production`` GitHub
  environment (required reviewers).

Output (JSON lists of those entries): ``offline`` every stack; ``cloud`` those with a cloud account to preview
against (not ``local``); ``deploy`` the non-production platform stacks of a cloud; ``deploy-production`` the
production ones. ``ci-identity`` stacks are never deployed by CI: a team applies them once with its own admin
credentials (the CI's roles cannot grant themselves trust).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TextIO

from .harness import ProjectFiles, StackConfigError, read_stack_config

POLICY_CONFIG_DIR = Path("policies") / "config"
PRODUCTION_CONFIG = "prod.json"
CI_IDENTITY_KEY = "mlops:ci_identity"


class MatrixError(ValueError):
    """A stack file does not say enough to place it in the matrix. The message names the file and the key."""


@dataclass(frozen=True)
class StackEntry:
    stack: str
    cloud: str
    kind: str
    policy_config: str
    """Relative to the project root, e.g. ``policies/config/dev.json``."""
    production: bool


def stack_entries(project_dir: Path = Path(".")) -> list[StackEntry]:
    """One entry per stack file of the project, sorted by stack name."""
    project = ProjectFiles.load(project_dir)
    environments = _policy_config_environments(project_dir)
    entries = []
    for stack in project.stacks():
        try:
            config = read_stack_config(project, stack)
        except StackConfigError as error:
            raise MatrixError(str(error)) from None
        path = project.stack_file(stack).relative_to(project_dir.resolve())
        if CI_IDENTITY_KEY in config:
            section = _object(config, CI_IDENTITY_KEY, path)
            cloud, kind = section.get("cloud"), "ci-identity"
            where = f"{CI_IDENTITY_KEY}.cloud"
        else:
            cloud, kind, where = config.get("mlops:cloud"), "platform", "mlops:cloud"
        if not isinstance(cloud, str) or not cloud:
            raise MatrixError(f"{path}: {where} is missing; every stack names its cloud")
        environment = _object(config, "mlops:tags", path).get("environment")
        matching = sorted(name for name, allowed in environments.items() if environment in allowed)
        if len(matching) != 1:
            raise MatrixError(
                f"{path}: mlops:tags.environment {environment!r} is allowed by {len(matching)} policy configs "
                f"({', '.join(matching) or 'none'}); it must be listed in the cost-tag-values.allowedEnvironments "
                f"of exactly one of {', '.join(sorted(environments))}")
        entries.append(StackEntry(stack=stack, cloud=cloud, kind=kind,
                                  policy_config=(POLICY_CONFIG_DIR / matching[0]).as_posix(),
                                  production=matching[0] == PRODUCTION_CONFIG))
    return entries


def matrices(entries: list[StackEntry]) -> dict[str, list[dict[str, Any]]]:
    """The lists each workflow job runs over (see the module docstring)."""
    platform_on_cloud = [e for e in entries if e.kind == "platform" and e.cloud != "local"]
    return {
        "offline": [asdict(e) for e in entries],
        "cloud": [asdict(e) for e in entries if e.cloud != "local"],
        "deploy": [asdict(e) for e in platform_on_cloud if not e.production],
        "deploy-production": [asdict(e) for e in platform_on_cloud if e.production],
    }


def _policy_config_environments(project_dir: Path) -> dict[str, list[str]]:
    found = {}
    for path in sorted((project_dir / POLICY_CONFIG_DIR).glob("*.json")):
        document = json.loads(path.read_text())
        rule = document.get("cost-tag-values")
        allowed = rule.get("allowedEnvironments") if isinstance(rule, dict) else None
        if isinstance(allowed, list):
            found[path.name] = allowed
    if not found:
        raise MatrixError(f"{POLICY_CONFIG_DIR}: no policy config sets cost-tag-values.allowedEnvironments")
    return found


def _object(config: dict[str, str], key: str, path: Path) -> dict[str, Any]:
    try:
        value = json.loads(config.get(key) or "{}")
    except json.JSONDecodeError:
        value = None
    if not isinstance(value, dict):
        raise MatrixError(f"{path}: {key} must be a mapping")
    return value


def main(argv: list[str] | None = None, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    parser = argparse.ArgumentParser(prog="python -m mlops_platform_offline.ci_matrix", description=__doc__.split("\n\n")[0])
    parser.add_argument("--project", type=Path, default=Path("."),
                        help="project directory (default: the current one, the repository's root in CI)")
    parser.add_argument("--github-output", type=Path, metavar="PATH",
                        help="append name=<json> lines for each list to this file ($GITHUB_OUTPUT)")
    args = parser.parse_args(argv)
    try:
        lists = matrices(stack_entries(args.project))
    except (MatrixError, StackConfigError) as error:
        err.write(f"error: {error}\n")
        return 2
    out.write(json.dumps(lists, indent=2) + "\n")
    if args.github_output:
        with args.github_output.open("a") as output:
            for name, entries in lists.items():
                output.write(f"{name}={json.dumps(entries, separators=(',', ':'))}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
