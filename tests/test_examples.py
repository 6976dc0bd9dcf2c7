"""Every program in examples/ works as shown: each Python example previews offline, with the consumer's pytest
fixture ``mlops_preview``, with no mandatory violation of the policy pack and doing what its README says; the
YAML example declares only types and properties the component provider serves, and its store, built through the
provider's Construct, registers what the Python class registers."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml

from mlops_platform.aws.artifact_store import ArtifactStore
from mlops_platform.provider import PACKAGE, MlopsComponentProvider
from mlops_platform_offline.harness import run_function
from mlops_platform_offline.program_check import CheckedPreview
from tests.provider.test_construct import _registrations, _through_provider
from tests.provider.test_schema import served_schema  # noqa: F401 (the fixture: the schema GetSchema serves)
from tests.unit.test_standalone_components import tags_of

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
STACK = "dev"
YAML_EXAMPLE = EXAMPLES / "yaml-consumer"


def _stack_config(example: Path) -> dict[str, Any]:
    """The example's ``Pulumi.dev.yaml`` values by key without the project prefix."""
    project = yaml.safe_load((example / "Pulumi.yaml").read_text())["name"]
    values = yaml.safe_load((example / f"Pulumi.{STACK}.yaml").read_text())["config"]
    return {key.removeprefix(f"{project}:"): value for key, value in values.items()}


def check_aws_artifact_store(plan: CheckedPreview, config: dict[str, Any]) -> None:
    expected = {**config["tags"], "managed-by": "pulumi"}
    bucket = plan.one("aws:s3/bucket:Bucket", "models-bucket")
    role = plan.one("aws:iam/role:Role", "trainer-role")
    # The components' own `tags` argument, not provider default tags: the program's (default) provider has none.
    provider = plan.provider_of(bucket)
    assert provider is None or "defaultTags" not in provider.inputs
    assert tags_of(bucket) == expected
    assert tags_of(role) == expected
    assert "runs/" in str(plan.one("aws:iam/rolePolicy:RolePolicy", "trainer-artifacts").inputs["policy"])
    assert plan.outputs["service_account_annotations"]["eks.amazonaws.com/role-arn"].startswith(
        "arn:aws:iam::123456789012:role/trainer-role")


def check_mlflow_on_existing_cluster(plan: CheckedPreview, config: dict[str, Any]) -> None:
    objects = [r for r in plan.resources if r.custom and r.type.startswith("kubernetes:")]
    # Everything goes to the program's own cluster: no component makes a Kubernetes provider of its own.
    [cluster] = plan.all("pulumi:providers:kubernetes")
    assert cluster.name == "cluster" and cluster.inputs["context"] == config["context"]
    assert {plan.provider_of(r).urn for r in objects} == {cluster.urn}
    assert {"mlops:kubernetes:MlflowServer", "mlops:kubernetes:BlueGreenModelEndpoint", "mlops:local:LocalLayer",
            "mlops:kubernetes:PrometheusStack"} <= {r.type for r in plan.resources}
    expected = {**config["tags"], "managed-by": "pulumi"}
    assert [r.name for r in objects if r.type == "kubernetes:apps/v1:Deployment"
            and tags_of(r) is not None and not expected.items() <= tags_of(r).items()] == []
    assert plan.outputs["mlflow_admin_password"] == "[secret]"
    assert plan.outputs["endpoint_url"] == "http://churn.models.svc.cluster.local"


def check_whole_platform(plan: CheckedPreview, config: dict[str, Any]) -> None:
    assert {"mlops:aws:Cluster", "aws:rds/instance:Instance", "mlops:kubernetes:MlflowServer",
            "mlops:kubernetes:BlueGreenModelEndpoint"} <= {r.type for r in plan.resources}
    bucket = plan.all("aws:s3/bucket:Bucket")[0]
    default_tags = plan.provider_of(bucket).inputs["defaultTags"]
    tags = (json.loads(default_tags) if isinstance(default_tags, str) else default_tags)["tags"]
    assert config["tags"].items() <= tags.items()
    assert set(plan.outputs["endpoint_urls"]) == {endpoint["name"] for endpoint in config["endpoints"]}
    assert plan.outputs["kubeconfig"] == "[secret]"


CHECKS: dict[str, Callable[[CheckedPreview, dict[str, Any]], None]] = {
    "aws-artifact-store": check_aws_artifact_store,
    "mlflow-on-existing-cluster": check_mlflow_on_existing_cluster,
    "whole-platform": check_whole_platform,
}


def _runtime(example: Path) -> str:
    runtime = yaml.safe_load((example / "Pulumi.yaml").read_text())["runtime"]
    return runtime if isinstance(runtime, str) else runtime["name"]


def test_every_python_example_is_checked():
    examples = {path.parent.name for path in EXAMPLES.glob("*/Pulumi.yaml") if _runtime(path.parent) == "python"}
    assert examples == set(CHECKS)


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_the_example_previews_with_no_mandatory_violation(mlops_preview, name):
    example = EXAMPLES / name
    plan = mlops_preview(example, STACK)
    assert plan.mandatory_violations == []
    CHECKS[name](plan, _stack_config(example))


# --- the YAML consumer ----------------------------------------------------------------------------------------------

REFERENCE = re.compile(r"\$\{([^}]+)\}")


@pytest.fixture(scope="module")
def yaml_program() -> dict[str, Any]:
    return yaml.safe_load((YAML_EXAMPLE / "Pulumi.yaml").read_text())


def test_the_yaml_example_uses_the_component_provider_of_this_repository(yaml_program):
    assert yaml_program["runtime"] == "yaml"
    assert (YAML_EXAMPLE / yaml_program["packages"][PACKAGE] / "PulumiPlugin.yaml").is_file()


def _references(value: Any) -> list[str]:
    if isinstance(value, str):
        return REFERENCE.findall(value)
    if isinstance(value, dict):
        return [ref for item in value.values() for ref in _references(item)]
    if isinstance(value, list):
        return [ref for item in value for ref in _references(item)]
    return []


def test_every_yaml_resource_is_a_served_type_with_served_properties(yaml_program, served_schema):  # noqa: F811
    resources = yaml_program["resources"]
    assert resources
    for name, resource in resources.items():
        served = served_schema["resources"].get(resource["type"])
        assert served is not None, f"{name}: {resource['type']} is not served"
        assert set(resource["properties"]) <= set(served["inputProperties"]), name
        assert set(served.get("requiredInputs", [])) <= set(resource["properties"]), name


def test_every_yaml_reference_names_a_variable_config_value_or_served_output(yaml_program, served_schema):  # noqa: F811
    resources = yaml_program["resources"]
    known = set(yaml_program.get("variables", {})) | set(yaml_program.get("config", {}))
    stack_keys = set(_stack_config(YAML_EXAMPLE))
    assert set(yaml_program.get("config", {})) <= stack_keys, "the stack file sets every declared config value"
    references = _references(resources) + _references(yaml_program.get("outputs", {}))
    assert references
    for reference in references:
        if reference in known:
            continue
        resource, _, output = reference.partition(".")
        assert resource in resources, reference
        assert output in served_schema["resources"][resources[resource]["type"]]["properties"], reference


def _camel_to_snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def test_the_yaml_store_constructs_what_the_python_class_registers(yaml_program):
    variables = yaml_program["variables"]
    store = yaml_program["resources"]["store"]
    assert store["type"] == f"{PACKAGE}:index:AwsArtifactStore"

    def resolved(value: Any) -> Any:
        whole = REFERENCE.fullmatch(value) if isinstance(value, str) else None
        return variables[whole[1]] if whole else value

    inputs = {key: resolved(value) for key, value in store["properties"].items()}
    constructed = _through_provider(MlopsComponentProvider(), "AwsArtifactStore", "store", lambda: inputs,
                                    pulumi.ResourceOptions)
    python = run_function(lambda: ArtifactStore("store", {_camel_to_snake(k): v for k, v in inputs.items()}))
    assert _registrations(constructed) == _registrations(python)
    bucket = constructed.one("aws:s3/bucket:Bucket", "store-bucket")
    assert tags_of(bucket) == {**variables["tags"], "managed-by": "pulumi"}
