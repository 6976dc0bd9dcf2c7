"""The Kubernetes rules against a peer's test suite: checkov's fixtures (../shared/reference/checkov-k8s), each
object converted into the resource pulumi-kubernetes would register and run through the pack over gRPC, compared
with what checkov itself reports on the same object (checkov_expectations.json, derived once with
derive_checkov_expectations.py; the checkov version is recorded there)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.policy.conftest import resource

EXPECTATIONS = json.loads((Path(__file__).with_name("checkov_expectations.json")).read_text())
RULE_CHECKS = {
    "k8s-resource-limits": ("CKV_K8S_10", "CKV_K8S_11", "CKV_K8S_12", "CKV_K8S_13"),
    "k8s-run-as-non-root": ("CKV_K8S_23",),
    "k8s-no-privileged": ("CKV_K8S_16",),
    "k8s-no-privilege-escalation": ("CKV_K8S_20",),
    "k8s-drop-all-capabilities": ("CKV_K8S_37",),
    "k8s-no-host-namespaces": ("CKV_K8S_17", "CKV_K8S_18", "CKV_K8S_19"),
    "k8s-no-host-port": ("CKV_K8S_26",),
    "k8s-seccomp-runtime-default": ("CKV_K8S_31",),
    "k8s-read-only-root-filesystem": ("CKV_K8S_22",),
    "k8s-image-pinned": ("CKV_K8S_14",),
    "k8s-no-default-namespace": ("CKV_K8S_21",),
    "k8s-no-token-automount": ("CKV_K8S_38",),
    "k8s-no-wildcard-rbac": ("CKV_K8S_49",),
}
_NO_CONTAINERS = "the pod spec holds no containers (a malformed fixture the API server would reject): checkov fails " \
    "its pod-level checks, the pack has nothing to judge"
KNOWN_DIFFERENCES: dict[tuple[str, str], str] = {
    (key, rule): _NO_CONTAINERS
    for key in ("AllowedCapabilities/cronjob-UNKOWN.yaml#CronJob.default.hello",
                "AllowedCapabilitiesSysAdmin/pod-FAILED2.yaml#Pod.default.security-context-demo-1",
                "DockerSocketVolume/CronJob-pass.yaml#CronJob.default.nginx-pod",
                "RootContainers/rootContainersFAILED-malformed-spec.yaml#Pod.default.pod1",
                "ServiceAccountTokens/ServiceAccountTokensUNKNOWN.yaml#Deployment.default.myapp-deployment")
    for rule in ("k8s-run-as-non-root", "k8s-seccomp-runtime-default", "k8s-no-token-automount")
}
"""(object, rule) pairs where the pack deliberately judges differently from checkov, with the reason."""


def type_token(api_version: str, kind: str) -> str:
    group, _, version = api_version.rpartition("/")
    return f"kubernetes:{group or 'core'}/{version}:{kind}"


def fixture_objects(directory: Path) -> dict[str, dict]:
    """Every object of every fixture file, keyed the way checkov names it: ``<file>#<Kind>.<namespace>.<name>``."""
    objects = {}
    for path in sorted(directory.rglob("*")):
        if path.suffix not in (".yaml", ".yml", ".json"):
            continue
        text = path.read_text()
        try:
            documents = [json.loads(text)] if path.suffix == ".json" else list(yaml.safe_load_all(text))
        except (yaml.YAMLError, json.JSONDecodeError):
            continue
        for document in documents:
            if not isinstance(document, dict) or "kind" not in document or "apiVersion" not in document:
                continue
            metadata = document.get("metadata") or {}
            key = (f"{path.relative_to(directory)}#{document['kind']}.{metadata.get('namespace', 'default')}."
                   f"{metadata.get('name')}")
            objects[key] = document
    return objects


@pytest.fixture(scope="module")
def verdicts(pack, reference):
    directory = reference / "checkov-k8s"
    if not directory.is_dir():
        pytest.skip(f"checkov fixtures not found in {directory}")
    objects = {key: obj for key, obj in fixture_objects(directory).items() if key in EXPECTATIONS["objects"]}
    resources = {key: resource(type_token(obj["apiVersion"], obj["kind"]), f"o{i}", obj)
                 for i, (key, obj) in enumerate(sorted(objects.items()))}
    by_urn = {r.urn: key for key, r in resources.items()}
    failed: dict[str, set[str]] = {key: set() for key in resources}
    for violation in pack.analyze(resources.values()):
        if violation.urn in by_urn:
            failed[by_urn[violation.urn]].add(violation.policy)
    return failed


def _comparisons():
    for key, checks in EXPECTATIONS["objects"].items():
        for rule, ids in RULE_CHECKS.items():
            if all(i in checks for i in ids):
                yield key, rule, any(checks[i] == "FAILED" for i in ids)


def test_the_fixtures_give_enough_comparisons():
    assert len(list(_comparisons())) > 300


def test_the_pack_flags_the_objects_checkov_flags_and_leaves_the_others(verdicts):
    disagreements = []
    for key, rule, checkov_fails in _comparisons():
        if key not in verdicts or (key, rule) in KNOWN_DIFFERENCES:
            continue
        pack_fails = rule in verdicts[key]
        if pack_fails != checkov_fails:
            disagreements.append(f"{rule} {'missed' if checkov_fails else 'also flagged'} {key}")
    assert disagreements == [], "\n".join(disagreements)
