"""Every rule of the pack, through the analyzer interface: a compliant case passes, one change fails it, the same
property unknown (as during preview) neither crashes nor fails it, and a secret value is judged like a plain one."""

from __future__ import annotations

import pytest

from tests.policy.cases import CASES as DOMAIN_CASES
from tests.policy.cases import Case
from tests.policy.conftest import REMOVE, UNKNOWN, patched, secret
from tests.policy.public_access_cases import PUBLIC_ACCESS_CASES

CASES = DOMAIN_CASES + PUBLIC_ACCESS_CASES


def _ids(case: Case) -> str:
    return case.id


@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_the_compliant_case_passes(pack, case):
    assert pack.violations(case.rule, case.good, case.config) == []


@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_the_breaking_change_fails_with_a_message_naming_the_resource(pack, case):
    resources = patched(case.good, case.index, case.path, case.bad)
    found = pack.violations(case.rule, resources, case.config)
    assert found, f"{case.rule} did not flag {case.path} = {case.bad!r}"
    assert all(v.message and v.level in ("mandatory", "advisory") for v in found)
    assert {v.urn for v in found} <= {r.urn for r in resources}, "a violation must name a resource of the stack"


@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_an_unknown_value_is_not_a_violation(pack, case):
    index, path = case.unknown_path or (case.index, case.path)
    assert pack.violations(case.rule, patched(case.good, index, path, UNKNOWN), case.config) == []


@pytest.mark.parametrize("case", [c for c in CASES if c.path and c.path != ("__type__",) and c.bad is not REMOVE],
                         ids=_ids)
def test_a_secret_value_is_judged_like_a_plain_one(pack, case):
    plain = pack.violations(case.rule, patched(case.good, case.index, case.path, case.bad), case.config)
    hidden = pack.violations(case.rule, patched(case.good, case.index, case.path, secret(case.bad)), case.config)
    assert [v.message for v in hidden] == [v.message for v in plain]


def test_every_rule_of_the_pack_has_a_case(pack):
    assert {policy.name for policy in pack.policies} == {case.rule for case in CASES}


def test_no_rule_crashes_on_a_wholly_unknown_resource(pack):
    """Every property of every resource unknown: the pack answers, and only rules whose finding is about something
    absent (a missing resource, a missing tag key, a key resource type) report anything."""
    resources = []
    for case in CASES:
        for resource in case.good:
            unknown_inputs = {key: UNKNOWN for key in resource.inputs}
            resources.append(type(resource)(**{**resource.__dict__, "inputs": unknown_inputs,
                                               "urn": resource.urn + "-u", "protect": True}))
    found = pack.analyze(resources)
    assert [v for v in found if "can't run policy" in v.message] == []
    assert [v.policy for v in found if v.policy not in ("required-cost-tags", "k8s-no-default-namespace", "storage-access-logging",
                                                         "storage-lifecycle-rules", "storage-versioning",
                                                         "storage-encryption-at-rest", "storage-no-public-access",
                                                         "storage-tls-only", "storage-uniform-access",
                                                         "cluster-workload-identity", "monitoring-stack-present",
                                                         "endpoint-monitoring", "iam-no-static-keys")] == []
