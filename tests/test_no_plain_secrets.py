"""No secret in plain sight, in any stack: no password, token or key in a pod spec's plain values, a command line
or an annotation of any rendered Kubernetes object, only in Secrets (and referenced from there).

Every value the program marks secret (generated passwords, keys, the admin's) is collected from all registrations of
the stack, then looked for in every Kubernetes object that is not a Secret; a connection URI with a password in it
and a plain env value named like a credential are refused too, whatever their origin."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from mlops_platform_offline.ci_matrix import CI_IDENTITY_KEY
from mlops_platform_offline.harness import SECRET_MARKER, SECRET_SIG, ProjectFiles, plain_form, read_stack_config
from tests.test_stacks import ROOT, STACKS

URI_WITH_PASSWORD = re.compile(r"[a-z][a-z0-9+.-]*://[^/\s:@]+:[^@\s/]+@")
CREDENTIAL_NAME = re.compile(r"PASSWORD|PASSWD|TOKEN|SECRET|ACCESS_KEY|PRIVATE_KEY|_KEY$", re.IGNORECASE)
NOT_A_CREDENTIAL = {"AWS_WEB_IDENTITY_TOKEN_FILE", "AZURE_FEDERATED_TOKEN_FILE", "MLOPS_DB_SECRET_ID",
                    "MLOPS_DB_TOKEN_SOURCE", "MLOPS_DB_TOKEN_SCOPE"}
"""Names that say where a credential is found, not the credential."""


def secret_values(plan) -> set[str]:
    """Every secret string of the stack: generated passwords, each credential of a Kubernetes Secret, and each input the
    program marked secret as a whole string."""
    found: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            if value.get(SECRET_SIG) == SECRET_MARKER and isinstance(value.get("value"), str):
                found.add(value["value"])
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    for resource in plan.resources:
        walk(resource.inputs)
        if resource.type == "random:index/randomPassword:RandomPassword":
            found.add(resource.outputs["result"])
        if resource.type == "kubernetes:core/v1:Secret":
            data = plain_form(resource.inputs, redact=False).get("stringData") or {}
            found.update(v for k, v in data.items() if isinstance(v, str) and CREDENTIAL_NAME.search(k))
    # Short or structural strings (a user name, "Opaque") are no secret worth the name.
    return {value for value in found if len(value) >= 12 and not value.startswith(("[", "{"))}


def containers(value: Any):
    """Every container and init container of any pod spec nested in ``value``."""
    if isinstance(value, dict):
        for key in ("containers", "initContainers"):
            if isinstance(value.get(key), list):
                yield from value[key]
        for item in value.values():
            yield from containers(item)
    elif isinstance(value, list):
        for item in value:
            yield from containers(item)


def annotations(value: Any):
    if isinstance(value, dict):
        if isinstance(value.get("annotations"), dict):
            yield from value["annotations"].items()
        for item in value.values():
            yield from annotations(item)
    elif isinstance(value, list):
        for item in value:
            yield from annotations(item)


PLATFORM_STACKS = [stack for stack in STACKS
                   if CI_IDENTITY_KEY not in read_stack_config(ProjectFiles.load(ROOT), stack)]
"""The stacks that build a platform (the CI identity stacks render no Kubernetes object and generate no secret)."""


@pytest.mark.parametrize("stack", PLATFORM_STACKS)
def test_no_rendered_object_carries_a_secret_outside_a_secret(preview, stack):
    plan = preview(stack)
    secrets = secret_values(plan)
    assert secrets, "the stack generates no secret at all, so this test would check nothing"
    objects = [r for r in plan.resources if r.custom and r.type.startswith("kubernetes:")
               and r.type != "kubernetes:core/v1:Secret" and not r.type.startswith("pulumi:providers")]
    assert any(list(containers(plain_form(r.inputs, redact=False))) for r in objects)
    for resource in objects:
        rendered = plain_form(resource.inputs, redact=False)
        text = json.dumps(rendered)
        leaked = [s for s in secrets if s in text]
        assert not leaked, f"{resource.type} {resource.name} holds a secret value in plain text"
        for container in containers(rendered):
            where = f"{resource.name}/{container['name']}"
            for part in [*container.get("command", []), *container.get("args", [])]:
                assert not URI_WITH_PASSWORD.search(str(part)), f"{where}: a password on the command line"
            for entry in container.get("env", []):
                if "value" in entry:
                    assert not URI_WITH_PASSWORD.search(str(entry["value"])), f"{where}: {entry['name']}"
                    assert entry["name"] in NOT_A_CREDENTIAL or not CREDENTIAL_NAME.search(entry["name"]), \
                        f"{where}: {entry['name']} is a credential in a plain value; reference a Secret"
        for key, value in annotations(rendered):
            assert not URI_WITH_PASSWORD.search(str(value)), f"{resource.name}: annotation {key}"
