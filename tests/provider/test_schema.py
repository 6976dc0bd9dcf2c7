"""The schema the component provider serves: what `pulumi package add` generates every language's SDK from.

It is read over gRPC from the provider started as the CLI starts it, and checked against Pulumi's own package
metaschema (../shared/reference/pulumi/package-metaschema.json) and for untyped (``Any``) properties.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import grpc
import pytest
from jsonschema import validators
from jsonschema._keywords import pattern as _pattern_keyword
from pulumi.runtime.proto import provider_pb2, provider_pb2_grpc

from mlops_platform.provider import PACKAGE, PUBLIC_COMPONENTS, VERSION
from tests.provider.served import served_provider

ANY = "pulumi.json#/Any"
ANY_EXCEPTIONS: dict[str, str] = {}
"""Schema paths allowed to be untyped, each with the reason its structure is unknown. None today: every input and
output of the served components has a known structure. Add a path only with a reason."""


@pytest.fixture(scope="module")
def served_schema() -> dict[str, Any]:
    with served_provider() as address, grpc.insecure_channel(address) as channel:
        provider = provider_pb2_grpc.ResourceProviderStub(channel)
        response = provider.GetSchema(provider_pb2.GetSchemaRequest(version=0), timeout=60)
    return json.loads(response.schema)


@pytest.fixture(scope="module")
def metaschema_validator(reference: Path):
    path = reference / "pulumi" / "package-metaschema.json"
    if not path.is_file():
        pytest.skip(f"Pulumi's package metaschema not found at {path}")
    metaschema = json.loads(path.read_text())
    base = validators.validator_for(metaschema)
    # The metaschema's patterns use ECMA-262 named groups, (?<name>...), which Python's re spells (?P<name>...).
    validator = validators.extend(base, {"pattern": lambda v, pattern, instance, schema: _pattern_keyword(
        v, re.sub(r"\(\?<(?=[A-Za-z_])", "(?P<", pattern), instance, schema)})
    return validator(metaschema)


def _errors(validator, document: dict[str, Any]) -> list[str]:
    return [f"{'/'.join(map(str, error.absolute_path))}: {error.message[:300]}"
            for error in validator.iter_errors(document)]


def test_the_served_schema_satisfies_pulumis_package_metaschema(served_schema, metaschema_validator):
    assert _errors(metaschema_validator, served_schema) == []


def test_the_metaschema_check_rejects_a_mistyped_property(served_schema, metaschema_validator):
    broken = copy.deepcopy(served_schema)
    broken["resources"][f"{PACKAGE}:index:AwsArtifactStore"]["inputProperties"]["namePrefix"]["type"] = "str"
    broken["name"] = "not a package name"
    errors = _errors(metaschema_validator, broken)
    assert any(e.startswith("name:") for e in errors)
    assert any("namePrefix" in e for e in errors)


def test_every_public_component_is_served_with_its_version(served_schema):
    assert served_schema["name"] == PACKAGE and served_schema["version"] == VERSION
    assert sorted(served_schema["resources"]) == sorted(f"{PACKAGE}:index:{c.__name__}" for c in PUBLIC_COMPONENTS)
    assert all(resource["isComponent"] for resource in served_schema["resources"].values())


def _untyped(node: Any, path: str) -> list[str]:
    """Paths of properties that are ``Any``, or that have neither a type nor a reference."""
    found: list[str] = []
    if isinstance(node, dict):
        if node.get("$ref") == ANY:
            found.append(path)
        for key, value in node.items():
            if key in ("properties", "inputProperties") and isinstance(value, dict):
                found += [f"{path}/{key}/{name}" for name, prop in value.items()
                          if "type" not in prop and "$ref" not in prop]
            found += _untyped(value, f"{path}/{key}")
    return found


def test_no_property_is_untyped_where_its_structure_is_known(served_schema):
    untyped = _untyped({"resources": served_schema["resources"], "types": served_schema["types"]}, "")
    assert sorted(set(untyped) - set(ANY_EXCEPTIONS)) == []
    assert sorted(set(ANY_EXCEPTIONS) - set(untyped)) == [], "an exception no longer needed"


def test_the_untyped_check_finds_an_any_property(served_schema):
    broken = copy.deepcopy(served_schema)
    endpoint = broken["resources"][f"{PACKAGE}:index:BlueGreenModelEndpoint"]["inputProperties"]
    endpoint["compute"] = {"$ref": ANY}
    assert _untyped({"resources": broken["resources"]}, "") == [
        f"/resources/{PACKAGE}:index:BlueGreenModelEndpoint/inputProperties/compute"]


def test_descriptions_come_from_each_clouds_own_docstrings(served_schema):
    resources = served_schema["resources"]
    uri = {cloud: resources[f"{PACKAGE}:index:{cloud}ArtifactStore"]["properties"]["uri"]["description"]
           for cloud in ("Aws", "Gcp", "Azure")}
    assert uri["Aws"].startswith("``s3://") and uri["Gcp"].startswith("``gs://")
    assert "wasbs://" in uri["Azure"]
    prefixes = {cloud: resources[f"{PACKAGE}:index:{cloud}ArtifactStore"]["inputProperties"]["namePrefix"]
                ["description"] for cloud in ("Aws", "Gcp", "Azure")}
    assert len(set(prefixes.values())) == 3


def test_the_endpoint_inputs_are_typed_objects(served_schema):
    endpoint = served_schema["resources"][f"{PACKAGE}:index:BlueGreenModelEndpoint"]["inputProperties"]
    for name, type_name in (("compute", "ComputeArgs"), ("readinessProbe", "ProbeArgs"), ("slo", "EndpointSloArgs"),
                            ("autoscaling", "EndpointAutoscalingArgs"), ("storageEgress", "EgressTargetArgs"),
                            ("tracking", "EndpointTrackingArgs"), ("blue", "ColourArgs")):
        assert endpoint[name]["$ref"] == f"#/types/{PACKAGE}:index:{type_name}", name
    egress = served_schema["types"][f"{PACKAGE}:index:EgressTargetArgs"]
    assert egress["properties"]["ports"]["items"]["type"] == "integer"
    assert egress["required"] == ["ports"]
