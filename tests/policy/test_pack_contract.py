"""The pack as the Pulumi CLI runs it (``python -m pulumi.policy`` as a subprocess, spoken to over gRPC): what it
declares, how it is configured, and the remediation of missing cost tags through the ``Remediate`` RPC."""

from __future__ import annotations


import pytest

from mlops_platform_offline.analyzer import PolicyConfigError, load_policy_config, reconcile_config, remediate
from mlops_platform_offline.harness import Preview
from tests.policy.conftest import PACK_DIR, resource

CONFIG_DIR = PACK_DIR / "config"
FRAMEWORKS = {"NIST SP 800-53", "ISO/IEC 27001", "PCI DSS", "CIS AWS Foundations Benchmark", "CIS Kubernetes Benchmark",
              "CIS Google Cloud Platform Foundation Benchmark"}

PURE_COST_RULES = {"cost-spot-non-production"}
"""Rules about money alone: NIST SP 800-53 has no control for them, ISO 27001 A.8.6 (capacity) fits."""


def test_the_pack_declares_at_least_44_rules_with_unique_names(pack):
    names = [policy.name for policy in pack.policies]
    assert len(names) >= 44 and len(set(names)) == len(names)


def test_every_rule_declares_severity_level_description_and_nist_and_iso_controls(pack):
    for policy in pack.policies:
        controls = [t for t in policy.tags if t.startswith("control:")]
        frameworks = {t.removeprefix("control:").split("|")[0] for t in controls}
        assert policy.severity in ("low", "medium", "high", "critical"), policy.name
        assert policy.level in ("advisory", "mandatory"), policy.name
        assert len(policy.description) > 40, policy.name
        assert frameworks <= FRAMEWORKS and "ISO/IEC 27001" in frameworks, policy.name
        if policy.name not in PURE_COST_RULES:
            assert "NIST SP 800-53" in frameworks, policy.name
        assert any(t.startswith("applies-to:") for t in policy.tags), policy.name


@pytest.mark.parametrize("name", ["dev", "prod"])
def test_the_shipped_config_files_are_accepted_by_every_schema(pack, name):
    config = load_policy_config(CONFIG_DIR / f"{name}.json")
    reconciled = reconcile_config(pack.policies, pack.initial, config)
    assert set(reconciled) == {policy.name for policy in pack.policies}


def test_prod_config_turns_advisory_cost_and_logging_rules_mandatory(pack):
    reconciled = reconcile_config(pack.policies, pack.initial, load_policy_config(CONFIG_DIR / "prod.json"))
    assert reconciled["storage-access-logging"]["enforcementLevel"] == "mandatory"
    assert reconciled["database-high-availability"]["productionStacks"]


def test_a_config_value_outside_its_schema_is_rejected(pack):
    with pytest.raises(PolicyConfigError, match="database-backups.minimumBackupDays"):
        reconcile_config(pack.policies, pack.initial, {"database-backups": {"minimumBackupDays": 0}})


def _remediate(pack, bucket, tags_config):
    pack.configure({"required-cost-tags": {"enforcementLevel": "remediate", **tags_config}})
    preview = Preview("mlops", "policy-test", [bucket], {})
    return [r for r in remediate(pack.process, preview, bucket) if r.policy == "required-cost-tags"]


def test_remediation_adds_missing_cost_tags_from_the_configured_defaults(pack):
    bucket = resource("aws:s3/bucket:Bucket", "b", {"bucketPrefix": "m-", "tags": {"owner": "me"}})
    defaults = {"cost-center": "ml-platform", "owner": "nobody", "environment": "dev", "project": "mlops",
                "managed-by": "pulumi"}
    [fix] = _remediate(pack, bucket, {"defaultTags": defaults})
    assert fix.properties["tags"] == {**defaults, "owner": "me"}  # what the program set is never overwritten
    assert fix.properties["bucketPrefix"] == "m-"


def test_remediation_never_invents_a_tag_it_has_no_default_for(pack):
    bucket = resource("kubernetes:core/v1:ConfigMap", "cm", {"metadata": {"name": "x", "labels": {}}})
    [fix] = _remediate(pack, bucket, {"defaultTags": {"managed-by": "pulumi"}})
    assert fix.properties["metadata"]["labels"] == {"managed-by": "pulumi"}


def test_remediation_leaves_unknown_tags_and_untaggable_resources_alone(pack):
    unknown = resource("aws:s3/bucket:Bucket", "u", {"tags": "04da6b54-80e4-46f7-96ec-b56ff0331ba9"})
    untaggable = resource("aws:s3/bucketPolicy:BucketPolicy", "p", {"bucket": "b", "policy": "{}"})
    config = {"defaultTags": {"managed-by": "pulumi"}}
    assert _remediate(pack, unknown, config) == [] and _remediate(pack, untaggable, config) == []
