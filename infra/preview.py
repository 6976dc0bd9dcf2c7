"""Offline preview of a stack: ``mlops-preview STACK`` (or ``python -m mlops_platform_offline.preview STACK``).

Runs the Pulumi Python program of the project in ``--program`` (default: the current directory) under the offline
harness with the project's ``Pulumi.STACK.yaml``, as the Pulumi CLI would run it (its directory on ``sys.path``,
``secure:`` values as secrets, its own virtualenv: ``mlops_platform_offline.program_venv``), prints the resource
tree, the counts by type, the stack outputs and the policy verdict, and optionally writes all of it as JSON. The
policy pack is the project's ``policies/`` when it has one, else the installed mlopsguard.

With ``--compare BASE.json`` (the preview JSON of the same stack on the base branch) it also prints the plan diff
(``mlops_platform_offline.plan_diff``) and writes it as Markdown (``--diff-markdown``) and JSON (``--diff-json``).

Exit status: 0 when no mandatory policy is violated, 1 when one is, 2 when the program, its config, the policy
config or the base document is bad (with a one-line message, not a traceback), 3 when the plan diff deletes,
replaces or irreversibly upgrades a stateful resource and neither ``--allow-stateful-changes`` nor
``MLOPS_ALLOW_STATEFUL_CHANGES=1`` is given (a mandatory violation takes precedence: 1).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any, TextIO

from .analyzer import PolicyConfigError, Violation, run_policy_pack
from .harness import Preview, ProgramError, ProjectFiles, preview_stack, redacted
from .plan_diff import PlanDiffError, compare, render_json, render_markdown
from .policy_pack import PolicyPackMissing, default_policy_pack
from .program_venv import CURRENT_PYTHON_ENV, VirtualenvError, program_python, run_with

EXIT_OK, EXIT_VIOLATIONS, EXIT_BAD_INPUT, EXIT_STATEFUL_CHANGE = 0, 1, 2, 3
OVERRIDE_ENV = "MLOPS_ALLOW_STATEFUL_CHANGES"
"""Set to 1 (the pull-request workflow does when the pull request has the ``allow-stateful-change`` label) to let
a plan diff delete or replace a stateful resource without failing."""


def preview_document(preview: Preview, violations: list[Violation]) -> dict[str, Any]:
    """The preview as the JSON document other tools read (shape fixed by the README)."""
    return {
        "project": preview.project,
        "stack": preview.stack,
        "resources": [
            {
                "urn": r.urn,
                "type": r.type,
                "name": r.name,
                "parent": r.parent,
                "provider": r.provider,
                "custom": r.custom,
                "protect": r.protect,
                "inputs": redacted(r.inputs),
                "dependsOn": sorted(r.dependencies),  # the SDK gathers them in no fixed order
            }
            for r in sorted(preview.resources, key=lambda r: r.urn)
        ],
        "outputs": preview.outputs,
        "violations": [v.as_json() for v in violations],
    }


def print_report(preview: Preview, violations: list[Violation] | None, seconds: float, out: TextIO) -> None:
    out.write(f"Previewing stack {preview.stack} of project {preview.project} (offline)\n\n")
    _print_tree(preview, out)
    counts = Counter(r.type for r in preview.resources)
    out.write(f"\nResources: {len(preview.resources)} ({sum(1 for r in preview.resources if r.custom)} custom)\n")
    for type_, count in sorted(counts.items()):
        out.write(f"  {count:4d}  {type_}\n")
    _print_cost_tags(preview, out)
    out.write("\nOutputs:\n")
    for key, value in sorted(preview.outputs.items()):
        out.write(f"  {key}: {json.dumps(value)}\n")
    out.write("\n")
    if violations is None:
        out.write("Policies: not run (--no-policy)\n")
    elif not violations:
        out.write("Policies: passed, no violations\n")
    else:
        mandatory = sum(1 for v in violations if v.level == "mandatory")
        if mandatory:
            out.write(f"Policies: FAILED, {mandatory} mandatory and {len(violations) - mandatory} other violation(s)\n")
        else:
            out.write(f"Policies: passed with {len(violations)} advisory violation(s)\n")
        for violation in violations:
            where = violation.urn.rsplit("::", 1)[-1] if violation.urn else "(stack)"
            out.write(f"  [{violation.level}] {violation.policy} on {where}: {violation.message}\n")
            if violation.urn:
                out.write(f"      {violation.urn}\n")
    out.write(f"\nPreviewed in {seconds:.2f}s\n")


_PROVIDER_DEFAULT_TAGS = {"pulumi:providers:aws": ("defaultTags", "default_tags"),
                          "pulumi:providers:gcp": ("defaultLabels", "default_labels")}


def _print_cost_tags(preview: Preview, out: TextIO) -> None:
    """The tags each provider applies by default, and the labels Kubernetes objects carry (from the transform)."""
    lines = []
    for provider in preview.providers.values():
        keys = _PROVIDER_DEFAULT_TAGS.get(provider.type)
        raw = provider.inputs.get(keys[0]) if keys else None
        if not raw:
            continue
        tags = json.loads(raw) if isinstance(raw, str) else raw
        tags = tags.get("tags", tags) if provider.type == "pulumi:providers:aws" else tags
        users = sum(1 for r in preview.resources if r.provider.rsplit("::", 1)[0] == provider.urn)
        lines.append(f"  {provider.name} {keys[1]} (the cloud tags every taggable one of its {users} resources): "
                     f"{_pairs(tags)}")
    labelled = [r for r in preview.resources if r.type.startswith("kubernetes:") and
                isinstance((r.inputs.get("metadata") or {}).get("labels"), dict)]
    if labelled:
        common = set(labelled[0].inputs["metadata"]["labels"].items())
        for resource in labelled[1:]:
            common &= set(resource.inputs["metadata"]["labels"].items())
        lines.append(f"  kubernetes labels shared by all {len(labelled)} labelled objects: {_pairs(dict(common))}")
    if lines:
        out.write("\nCost tags:\n" + "\n".join(lines) + "\n")


def _pairs(tags: dict[str, Any]) -> str:
    return " ".join(f"{key}={value}" for key, value in sorted(tags.items()))


def _print_tree(preview: Preview, out: TextIO) -> None:
    children: dict[str, list] = {}
    for resource in preview.resources:
        children.setdefault(resource.parent, []).append(resource)

    def walk(parent: str, depth: int) -> None:
        for resource in children.get(parent, []):
            marker = " [protected]" if resource.protect else ""
            out.write(f"{'  ' * depth}+ {resource.type}  {resource.name}{marker}\n")
            walk(resource.urn, depth + 1)

    out.write(f"{preview.stack_urn or 'stack'}\n")
    walk(preview.stack_urn, 1)


def main(argv: list[str] | None = None, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    parser = argparse.ArgumentParser(prog="mlops-preview", description=__doc__.split("\n\n")[0])
    parser.add_argument("stack", help="stack name: previews <stackConfigDir>/Pulumi.STACK.yaml")
    parser.add_argument("--program", type=Path, default=Path("."),
                        help="directory of the Pulumi project (its Pulumi.yaml) to preview (default: the current one)")
    parser.add_argument("--json", type=Path, dest="json_path", help="also write the preview as JSON to this path")
    parser.add_argument("--policy-pack", type=Path,
                        help="policy pack directory (default: the project's policies/ when it is a pack, else the "
                             "installed mlopsguard)")
    parser.add_argument("--policy-config", type=Path, help="policy pack config file (JSON)")
    parser.add_argument("--no-policy", action="store_true", help="skip the policy pack")
    parser.add_argument("--compare", type=Path, metavar="BASE.json",
                        help="the preview JSON of this stack on the base branch: print the plan diff against it")
    parser.add_argument("--diff-markdown", type=Path, metavar="PATH", help="with --compare: write the diff as Markdown")
    parser.add_argument("--diff-json", type=Path, metavar="PATH", help="with --compare: write the diff as JSON")
    parser.add_argument("--allow-stateful-changes", action="store_true",
                        help=f"with --compare: do not fail on a stateful deletion or replacement (or {OVERRIDE_ENV}=1)")
    parser.add_argument("--current-python", action="store_true",
                        help=f"run the program with this interpreter, not the virtualenv its Pulumi.yaml names (or "
                             f"{CURRENT_PYTHON_ENV}=1)")
    args = parser.parse_args(argv)
    if (args.diff_markdown or args.diff_json or args.allow_stateful_changes) and not args.compare:
        err.write("error: --diff-markdown, --diff-json and --allow-stateful-changes need --compare BASE.json\n")
        return EXIT_BAD_INPUT
    try:
        base = _base_document(args.compare) if args.compare else None
    except PlanDiffError as error:
        err.write(f"error: {error}\n")
        return EXIT_BAD_INPUT

    try:
        python = None if args.current_python else program_python(ProjectFiles.load(args.program))
    except (ProgramError, VirtualenvError) as error:
        err.write(f"error: {_one_line(error)}\n")
        return EXIT_BAD_INPUT
    if python is not None:
        return run_with(python, "mlops_platform_offline.preview", sys.argv[1:] if argv is None else argv, out, err)

    started = time.perf_counter()
    try:
        preview = preview_stack(args.program, args.stack)
        violations = None if args.no_policy else run_policy_pack(
            preview, args.policy_pack or default_policy_pack(args.program), args.policy_config)
    except (ProgramError, PolicyConfigError, PolicyPackMissing) as error:
        err.write(f"error: {_one_line(error)}\n")
        return EXIT_BAD_INPUT
    seconds = time.perf_counter() - started

    print_report(preview, violations, seconds, out)
    document = preview_document(preview, violations or [])
    if args.json_path:
        args.json_path.write_text(json.dumps(document, indent=2, sort_keys=False) + "\n")
        out.write(f"Wrote {args.json_path}\n")
    blocking = False
    if base is not None:
        override = args.allow_stateful_changes or os.environ.get(OVERRIDE_ENV, "") == "1"
        try:
            diff = compare(base, document, override=override)
        except PlanDiffError as error:
            err.write(f"error: {args.compare}: {error}\n")
            return EXIT_BAD_INPUT
        markdown = render_markdown(diff)
        out.write("\n" + markdown)
        for path, text in ((args.diff_markdown, markdown), (args.diff_json, render_json(diff))):
            if path:
                path.write_text(text)
                out.write(f"Wrote {path}\n")
        blocking = diff.blocking
    if any(v.level == "mandatory" for v in violations or []):
        return EXIT_VIOLATIONS
    return EXIT_STATEFUL_CHANGE if blocking else EXIT_OK


def _base_document(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except OSError as error:
        raise PlanDiffError(f"--compare {path}: cannot be read ({error.strerror})") from None
    except json.JSONDecodeError as error:
        raise PlanDiffError(f"--compare {path}: not valid JSON ({error.msg} at line {error.lineno})") from None


def _one_line(error: Exception) -> str:
    """The user's mistake in one line: the innermost error that says what was wrong."""
    cause = error.__cause__ if isinstance(error, ProgramError) and error.__cause__ else error
    return " ".join(str(cause).split()) or type(cause).__name__


if __name__ == "__main__":
    sys.exit(main())
