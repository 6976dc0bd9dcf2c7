"""The required-cost-tags rule, driven through the pack's real analyzer interface (gRPC), as the CLI drives it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlops_platform_offline.analyzer import PolicyConfigError, PolicyPackProcess, reconcile_config
from mlops_platform_offline.harness import SECRET_MARKER, SECRET_SIG, UNKNOWN, Preview, RecordedResource

PACK = Path(__file__).resolve().parent.parent / "policies"
TAGS = {"cost-center": "ml-platform", "owner": "ml-infra", "environment": "dev", "project": "mlops",
        "managed-by": "pulumi"}
PROVIDER_URN = "urn:pulumi:dev::mlops::pulumi:providers:{cloud}::default"


@pytest.fixture(scope="module")
def pack():
    with PolicyPackProcess(PACK, project="mlops", stack="dev") as running:
        yield running


def analyze(pack, resources, file_config=None, providers=()):
    policies, initial = pack.info()
    pack.configure(reconcile_config(policies, initial, file_config or {}))
    preview = Preview("mlops", "dev", list(providers) + list(resources), {},
                      providers={p.urn: p for p in providers})
    return [v for v in pack.analyze(preview) if v.policy == "required-cost-tags"]


def resource(type_, inputs, provider="", urn=None, name="r"):
    return RecordedResource(
        urn=urn or f"urn:pulumi:dev::mlops::{type_}::{name}", type=type_, name=name, parent="", provider=provider,
        custom=True, protect=False, inputs=inputs, dependencies=(), property_dependencies={}, outputs={},
    )


def provider(cloud, inputs):
    return resource(f"pulumi:providers:{cloud}", inputs, urn=PROVIDER_URN.format(cloud=cloud), name="default")


AWS_DEFAULTS = provider("aws", {"region": "eu-west-1", "defaultTags": json.dumps({"tags": TAGS})})
GCP_DEFAULTS = provider("gcp", {"project": "p", "defaultLabels": json.dumps(TAGS)})
AWS_BARE = provider("aws", {"region": "eu-west-1"})


def test_aws_resources_pass_on_provider_default_tags(pack):
    bucket = resource("aws:s3/bucket:Bucket", {"bucketPrefix": "m-"}, f"{AWS_DEFAULTS.urn}::id")
    assert analyze(pack, [bucket], providers=[AWS_DEFAULTS]) == []


def test_an_untagged_aws_resource_fails_naming_the_missing_tags_and_the_resource(pack):
    bucket = resource("aws:s3/bucket:Bucket", {"tags": {"owner": "ml-infra"}}, f"{AWS_BARE.urn}::id")
    [violation] = analyze(pack, [bucket], providers=[AWS_BARE])
    assert violation.level == "mandatory" and violation.urn == bucket.urn
    assert violation.message == "missing required cost tag(s): cost-center, environment, project, managed-by"


def test_own_tags_complete_the_provider_defaults(pack):
    partial = provider("aws", {"defaultTags": json.dumps({"tags": {"managed-by": "pulumi"}})})
    tags = {k: v for k, v in TAGS.items() if k != "managed-by"}
    bucket = resource("aws:s3/bucket:Bucket", {"tags": tags}, f"{partial.urn}::id")
    assert analyze(pack, [bucket], providers=[partial]) == []


def test_resources_that_cannot_carry_tags_are_not_judged(pack):
    policy = resource("aws:s3/bucketPolicy:BucketPolicy", {"policy": "{}"}, f"{AWS_BARE.urn}::id")
    release = resource("kubernetes:helm.sh/v3:Release", {"chart": "x"})
    assert analyze(pack, [policy, release], providers=[AWS_BARE]) == []


@pytest.mark.parametrize(
    ("type_", "tagged", "untagged"),
    [
        ("gcp:storage/bucket:Bucket", {"labels": TAGS}, {"labels": {}}),
        ("azure-native:storage:StorageAccount", {"tags": TAGS}, {}),
        ("azure-native:storage/v20230101:StorageAccount", {"tags": TAGS}, {"tags": {"owner": "x"}}),
        ("kubernetes:core/v1:Namespace", {"metadata": {"labels": TAGS}}, {"metadata": {"name": "ns"}}),
        ("kubernetes:apps/v1:Deployment", {"metadata": {"labels": TAGS}}, {}),
    ],
)
def test_every_cloud_and_kubernetes_is_checked(pack, type_, tagged, untagged):
    assert analyze(pack, [resource(type_, tagged)]) == []
    [violation] = analyze(pack, [resource(type_, untagged)])
    assert violation.message.startswith("missing required cost tag(s): cost-center")


def test_gcp_provider_default_labels_count(pack):
    bucket = resource("gcp:storage/bucket:Bucket", {"location": "EU"}, f"{GCP_DEFAULTS.urn}::id")
    assert analyze(pack, [bucket], providers=[GCP_DEFAULTS]) == []


def test_tags_unknown_during_preview_are_not_a_violation(pack):
    assert analyze(pack, [resource("aws:s3/bucket:Bucket", {"tags": UNKNOWN}, f"{AWS_BARE.urn}::id")],
                   providers=[AWS_BARE]) == []
    unknown_value = {**TAGS, "owner": UNKNOWN}
    assert analyze(pack, [resource("kubernetes:core/v1:Namespace", {"metadata": {"labels": unknown_value}})]) == []


def test_unknown_values_do_not_hide_a_tag_that_is_missing(pack):
    labels = {k: v for k, v in TAGS.items() if k != "owner"} | {"project": UNKNOWN}
    [violation] = analyze(pack, [resource("kubernetes:core/v1:Namespace", {"metadata": {"labels": labels}})])
    assert violation.message == "missing required cost tag(s): owner"


def test_secret_tag_values_are_read_like_plain_ones(pack):
    secret_owner = {SECRET_SIG: SECRET_MARKER, "value": "ML Infra"}
    [violation] = analyze(pack, [resource("azure-native:resources:ResourceGroup",
                                          {"tags": {**TAGS, "owner": secret_owner}})])
    assert "cost tag owner='ML Infra' does not match" in violation.message


def test_a_malformed_value_fails(pack):
    [violation] = analyze(pack, [resource("kubernetes:core/v1:Namespace",
                                          {"metadata": {"labels": {**TAGS, "environment": "Dev_"}}})])
    assert violation.message.startswith("cost tag environment='Dev_' does not match")


def test_the_required_keys_and_allowed_values_are_configurable(pack):
    namespace = resource("kubernetes:core/v1:Namespace", {"metadata": {"labels": {"team": "ml", "tier": "gold"}}})
    config = {"required-cost-tags": {"requiredTags": ["team", "tier"], "allowedValues": {"tier": "bronze|silver"}}}
    [violation] = analyze(pack, [namespace], file_config=config)
    assert violation.message == "cost tag tier='gold' is not allowed; it must match bronze|silver"


def test_all_sets_every_policy_level_and_a_policy_entry_overrides_it(pack):
    untagged = resource("kubernetes:core/v1:Namespace", {})
    [advisory] = analyze(pack, [untagged], file_config={"all": "advisory"})
    assert advisory.level == "advisory"
    assert analyze(pack, [untagged], file_config={"all": "advisory", "required-cost-tags": "disabled"}) == []


@pytest.mark.parametrize(
    ("file_config", "message"),
    [
        ({"no-such-rule": "advisory"}, r"'no-such-rule' is not a policy of this pack"),
        ({"all": "strict"}, r"all\.enforcementLevel: 'strict' is not allowed; use one of advisory, mandatory"),
        ({"required-cost-tags": {"requiredTags": "owner"}}, r"required-cost-tags\.requiredTags: 'owner' is not of type"),
    ],
)
def test_a_bad_policy_config_is_rejected_before_analysis(pack, file_config, message):
    policies, initial = pack.info()
    with pytest.raises(PolicyConfigError, match=message):
        reconcile_config(policies, initial, file_config)
