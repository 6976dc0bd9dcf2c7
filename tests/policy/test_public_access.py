"""The public-access rules judge each granting resource on its own, in ``Analyze``: every type they cover has a case
(test_rules.py runs each through the analyzer interface, compliant and broken), the README lists the types, and a
resource that is public on purpose can be allow-listed."""

from __future__ import annotations

import json

import pytest

from mlops_platform_offline.compliance import APPLIES_TO_PREFIX
from tests.policy.conftest import PACK_DIR, resource
from tests.policy.public_access_cases import PUBLIC_ACCESS_CASES, PUBLIC_POLICY

RULES = ("storage-no-public-grants", "database-no-public-exposure", "registry-no-public-access",
         "key-no-public-access", "k8s-no-anonymous-rbac")


def _covered(pack, rule: str) -> set[str]:
    [policy] = [p for p in pack.policies if p.name == rule]
    return {t[len(APPLIES_TO_PREFIX):] for t in policy.tags if t.startswith(APPLIES_TO_PREFIX)}


def _failing_types(rule: str) -> set[str]:
    """The types each case turns into a violation: the resource it changes, after the change."""
    return {case.bad if case.path == ("__type__",) else case.good[case.index].type
            for case in PUBLIC_ACCESS_CASES if case.rule == rule}


@pytest.mark.parametrize("rule", RULES)
def test_every_covered_type_has_a_failing_and_a_passing_case(pack, rule):
    assert _covered(pack, rule) == _failing_types(rule)


@pytest.mark.parametrize("rule", RULES)
def test_the_rules_judge_each_resource_in_analyze(pack, rule):
    [policy] = [p for p in pack.policies if p.name == rule]
    assert policy.kind == "resource" and policy.level == "mandatory"


@pytest.mark.parametrize("rule", RULES)
def test_the_readme_lists_the_types_each_rule_covers(pack, rule):
    readme = (PACK_DIR / "README.md").read_text()
    section = readme.split(f"<!-- public-access:{rule} -->", 1)[1].split("<!--", 1)[0]
    listed = {line.strip().strip("-").strip().strip("`") for line in section.splitlines() if line.strip()}
    assert listed == _covered(pack, rule)


def test_a_grant_whose_bucket_lives_in_another_stack_is_flagged(pack):
    policy = resource("aws:s3/bucketPolicy:BucketPolicy", "shared", {"bucket": "bucket-of-another-stack",
                                                                    "policy": PUBLIC_POLICY})
    [violation] = pack.violations("storage-no-public-grants", [policy])
    assert violation.urn == policy.urn and "statement Anyone" in violation.message


def test_an_allow_listed_resource_may_be_public(pack):
    website = resource("azure-native:storage:StorageAccountStaticWebsite", "docs-site", {"accountName": "docs"})
    assert pack.violations("storage-no-public-grants", [website])
    config = {"storage-no-public-grants": {"allowedPublicResources": ["docs-site"]}}
    assert pack.violations("storage-no-public-grants", [website], config) == []


@pytest.mark.parametrize("condition", [
    {"StringEquals": {"aws:SourceAccount": "*"}},
    {"StringNotEquals": {"aws:PrincipalOrgID": "o-abc123"}},
    {"StringEqualsIfExists": {"aws:SourceVpce": "vpce-1"}},
    {"IpAddress": {"aws:SourceIp": "0.0.0.0/0"}},
    {"StringEquals": {"s3:prefix": "models/"}},
])
def test_a_condition_that_does_not_limit_who_calls_leaves_the_statement_public(pack, condition):
    document = {"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "*",
                               "Condition": condition}]}
    policy = resource("aws:s3/bucketPolicy:BucketPolicy", "p", {"bucket": "b", "policy": json.dumps(document)})
    assert pack.violations("storage-no-public-grants", [policy])


def test_allow_with_not_principal_is_public(pack):
    document = {"Statement": [{"Effect": "Allow", "NotPrincipal": {"AWS": "arn:aws:iam::111122223333:root"},
                               "Action": "ecr:*", "Resource": "*"}]}
    policy = resource("aws:ecr/repositoryPolicy:RepositoryPolicy", "p", {"repository": "models",
                                                                         "policy": json.dumps(document)})
    assert pack.violations("registry-no-public-access", [policy])
