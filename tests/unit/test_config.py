"""Stack config: every bad value fails before any resource exists, with one line naming the key."""

from __future__ import annotations

import json

import pytest

from mlops_platform_offline.config import ConfigError, load_stack_config

TAGS = {"cost-center": "ml-platform", "owner": "ml-infra", "environment": "dev", "project": "mlops"}
GOOD = {"mlops:name": "mlops-dev", "mlops:cloud": "aws", "mlops:region": "eu-west-1", "mlops:tags": json.dumps(TAGS),
        "mlops:images": json.dumps({"registry": "123456789012.dkr.ecr.eu-west-1.amazonaws.com"})}


def config(**changes: object) -> dict[str, str]:
    """GOOD with keys replaced (``None`` removes one); keys use '__' for ':'."""
    result = dict(GOOD)
    for key, value in changes.items():
        full_key = key.replace("__", ":")
        if value is None:
            result.pop(full_key, None)
        else:
            result[full_key] = value if isinstance(value, str) else json.dumps(value)
    return result


def test_a_good_config_is_read_with_defaults_filled():
    loaded = load_stack_config(GOOD)
    assert loaded.settings.cloud == "aws"
    assert loaded.settings.region == "eu-west-1"
    assert loaded.settings.tags.values["managed-by"] == "pulumi"
    assert loaded.settings.cloud_layer.artifacts.name_prefix == "mlops-dev-artifacts-"
    assert loaded.settings.cloud_layer.artifacts.noncurrent_days == 30


def test_the_program_supplies_the_base_name_when_the_stack_sets_none():
    without_name = {key: value for key, value in GOOD.items() if key != "mlops:name"}
    assert load_stack_config(without_name, default_name="mlops-aws-dev").settings.cloud_layer.artifacts.name_prefix == (
        "mlops-aws-dev-artifacts-")
    assert load_stack_config(GOOD, default_name="ignored").args["name"] == "mlops-dev"


def test_objects_arrive_json_encoded_as_the_cli_passes_them():
    loaded = load_stack_config(config(mlops__artifacts={"noncurrent_days": 14}))
    assert loaded.settings.cloud_layer.artifacts.noncurrent_days == 14


def test_keys_of_other_programs_namespaces_are_left_alone():
    assert load_stack_config({**GOOD, "other-project:setting": "x"}).settings.cloud == "aws"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"mlops__cloud": "openstack"}, r"^mlops:cloud: 'openstack' is not allowed; use one of aws, azure, gcp, local"),
        ({"mlops__name": None}, r"^mlops:name: missing"),
        ({"mlops__name": "Mlops_Dev"}, r"^mlops:name: 'Mlops_Dev' is not allowed; use 2 to 24 lowercase letters"),
        ({"mlops__name": "a" * 25}, r"^mlops:name: 'a{25}' is not allowed"),
        ({"mlops__name": "ml--dev"}, r"^mlops:name: 'ml--dev' is not allowed; use .* single '-'"),
        ({"mlops__artifacts": '{"noncurrent_days": 14,}'},
         r"^mlops:artifacts: .* is not allowed; it looks like an object or a list but is not valid JSON"),
        ({"mlops__cloud": "AWS"}, r"^mlops:cloud: 'AWS' is not allowed"),
        ({"mlops__cloud": None}, r"^mlops:cloud: missing"),
        ({"mlops__region": "eu-west"}, r"^mlops:region: 'eu-west' is not allowed; use an AWS region"),
        ({"mlops__region": "EU-WEST-1"}, r"^mlops:region: 'EU-WEST-1' is not allowed"),
        ({"mlops__region": "westeurope"}, r"^mlops:region: 'westeurope' is not allowed"),
        ({"mlops__region": None}, r"^mlops:region: missing; use an AWS region"),
        ({"mlops__tags": None}, r"^mlops:tags: missing"),
        ({"mlops__tags": "ml-platform"}, r"^mlops:tags: 'ml-platform' is not allowed; use a mapping"),
        ({"mlops__tags": {**TAGS, "owner": "ML Infra"}}, r"^mlops:tags\.owner: 'ML Infra' is not allowed"),
        ({"mlops__tags": {**TAGS, "owner": "x" * 64}}, r"^mlops:tags\.owner: value of 64 characters"),
        ({"mlops__tags": {k: v for k, v in TAGS.items() if k != "environment"}},
         r"^mlops:tags: missing required tag\(s\) environment"),
        ({"mlops__tags": {**TAGS, "Cost_Center": "x"}}, r"^mlops:tags\.Cost_Center: key 'Cost_Center'"),
        ({"mlops__tags": {**TAGS, "environment": 3}}, r"^mlops:tags\.environment: 3 is not allowed"),
        ({"mlops__clouds": "aws"}, r"^mlops:clouds: unknown key; allowed are mlops:name, mlops:cloud, "),
        ({"aws__region": "eu-west-1"}, r"^aws:region: provider config is not read; .* set mlops:region"),
        ({"kubernetes__context": "prod"}, r"^kubernetes:context: provider config is not read"),
        ({"mlops__artifacts": "fast"}, r"^mlops:artifacts: 'fast' is not allowed; use a mapping"),
        ({"mlops__artifacts": {"retention": 3}}, r"^mlops:artifacts\.retention: unknown key; allowed are "),
        ({"mlops__artifacts": {"noncurrent_days": 0}},
         r"^mlops:artifacts\.noncurrent_days: 0 is not allowed; use an integer from 1 to 3650"),
        ({"mlops__artifacts": {"noncurrent_days": "30"}}, r"^mlops:artifacts\.noncurrent_days: '30' is not allowed"),
        ({"mlops__artifacts": {"noncurrent_days": True}}, r"^mlops:artifacts\.noncurrent_days: True is not allowed"),
        ({"mlops__artifacts": {"incomplete_upload_days": 400}},
         r"^mlops:artifacts\.incomplete_upload_days: 400 is not allowed; use an integer from 1 to 365"),
        ({"mlops__artifacts": {"kms_key_arn": "alias/mlops"}},
         r"^mlops:artifacts\.kms_key_arn: 'alias/mlops' is not allowed; use a KMS key ARN"),
        ({"mlops__artifacts": {"kms_key_arn": "arn:aws:kms:eu-west-1:123456789012:alias/mlops"}},
         r"^mlops:artifacts\.kms_key_arn: .* aliases cannot be granted in IAM policies"),
        ({"mlops__artifacts": {"name_prefix": "My_Bucket"}}, r"^mlops:artifacts\.name_prefix: 'My_Bucket' is not allowed"),
        ({"mlops__artifacts": {"name_prefix": "x" * 38}}, r"^mlops:artifacts\.name_prefix: 'x{38}' is not allowed"),
        ({"mlops__local": {"context": "kind-mlops"}},
         r"^mlops:local: not allowed with cloud 'aws'; it configures the local layer only"),
        ({"mlops__cloud": "local", "mlops__region": "local", "mlops__local": {"context": "kind-mlops"},
          "mlops__network": {"zone_count": 2}},
         r"^mlops:network: not allowed with cloud 'local'; it configures the aws and azure and gcp layers only"),
        ({"mlops__cloud": "local", "mlops__region": "local", "mlops__local": {"context": "kind-mlops"},
          "mlops__artifacts": {"noncurrent_days": 3}},
         r"^mlops:artifacts: not allowed with cloud 'local'; it configures the aws and azure and gcp layers only"),
        ({"mlops__gcp": {"project": "acme-mlops"}},
         r"^mlops:gcp: not allowed with cloud 'aws'; it configures the gcp layer only"),
        ({"mlops__karpenter": {"enabled": True}, "mlops__cloud": "gcp", "mlops__region": "europe-west1",
          "mlops__gcp": {"project": "acme-mlops"}},
         r"^mlops:karpenter: not allowed with cloud 'gcp'; it configures the aws layer only"),
    ],
)
def test_a_bad_value_fails_with_one_line_naming_the_key_the_value_and_what_is_allowed(changes, message):
    with pytest.raises(ConfigError, match=message) as raised:
        load_stack_config(config(**changes))
    assert "\n" not in str(raised.value)
