"""What the cloud layers' tests share: a stack's config, a preview of it with some sections changed, the recorded
values of the inputs that force a resource's replacement, and a layer's outputs resolved inside an offline run."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from mlops_platform_offline.harness import Preview, ProjectFiles, read_stack_config, run_program

ROOT = Path(__file__).resolve().parent.parent


def stack_config(stack: str) -> dict[str, str]:
    return read_stack_config(ProjectFiles.load(ROOT), stack)


def config_sections(stack: str, sections: Iterable[str]) -> dict[str, Any]:
    """The named ``mlops:<section>`` values of a stack, parsed."""
    wanted = set(sections)
    return {key.removeprefix("mlops:"): json.loads(value) for key, value in stack_config(stack).items()
            if key.removeprefix("mlops:") in wanted}


def preview_with(stack: str, **sections: Any) -> Preview:
    """Preview ``stack`` with some config sections replaced (values as mappings)."""
    config = stack_config(stack)
    for key, value in sections.items():
        config[f"mlops:{key}"] = json.dumps(value)
    project = ProjectFiles.load(ROOT)
    return run_program(project.program, project=project.name, stack=stack, config=config)


def every_tag_changed(stack: str) -> dict[str, str]:
    """The stack's cost tags with every value changed and one tag added: project and environment included, since
    physical names derive from ``mlops:name``, never from tags."""
    return {**json.loads(stack_config(stack)["mlops:tags"]), "cost-center": "research", "owner": "someone-else",
            "team": "vision", "project": "mlplatform", "environment": "production"}


def at(inputs: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted path of recorded inputs (None where a step is missing)."""
    value: Any = inputs
    for step in path.split("."):
        value = value.get(step) if isinstance(value, dict) else None
    return value


def forcing_inputs(plan: Preview, replace_forcing: Mapping[str, Iterable[str]]) -> dict[tuple[str, str], dict[str, Any]]:
    """Per resource of each type in ``replace_forcing``, the values of the inputs that force its replacement."""
    return {(r.type, r.name): {path: at(r.inputs, path) for path in paths}
            for type_, paths in replace_forcing.items() for r in plan.all(type_)}


def record_outputs(outputs: Mapping[str, Any], seen: dict[str, object]) -> None:
    """Inside a program: store each output's resolved value in ``seen`` under its key."""
    import pulumi

    for key, output in outputs.items():
        pulumi.Output.from_input(output).apply(lambda value, key=key: seen.__setitem__(key, value))
