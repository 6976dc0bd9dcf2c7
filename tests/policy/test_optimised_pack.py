"""The pack as shipped (its servicer decodes each request once, its stack rules share one index) finds exactly the
violations that the same rules find when pulumi-policy's own servicer runs them (every policy decoding for
itself, stack rules scanning plain lists), on a large synthetic stack: every case of every rule, compliant, broken
and unknown, several times over, beside the benchmark's mix."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from benchmarks.policy_benchmark import synthetic_stack
from mlops_platform_offline.analyzer import PolicyPackProcess, reconcile_config
from mlops_platform_offline.harness import Preview, RecordedResource
from tests.policy.conftest import PACK_DIR, PROJECT, STACK, UNKNOWN, patched
from tests.policy.test_rules import CASES

BASELINE_PACK = Path(__file__).with_name("unoptimised_pack")
COPIES = 1
MIX = 600


def _renamed(resources: list[RecordedResource], suffix: str) -> list[RecordedResource]:
    """The resources under new names (and URNs), their dependencies following; inputs, and so references by
    name, unchanged."""
    urns = {r.urn: r.urn + suffix for r in resources}
    return [RecordedResource(**{
        **r.__dict__, "name": r.name + suffix, "urn": urns[r.urn],
        "dependencies": tuple(urns.get(u, u) for u in r.dependencies),
        "property_dependencies": {k: tuple(urns.get(u, u) for u in us) for k, us in r.property_dependencies.items()},
    }) for r in resources]


def large_stack() -> Preview:
    resources: list[RecordedResource] = []
    for copy in range(COPIES):
        for number, case in enumerate(CASES):
            unknown_index, unknown_path = case.unknown_path or (case.index, case.path)
            variants = {"good": case.good, "bad": patched(case.good, case.index, case.path, case.bad),
                        "unknown": patched(case.good, unknown_index, unknown_path, UNKNOWN)}
            for variant, members in variants.items():
                resources += _renamed(members, f"-{copy}-{number}-{variant}")
    resources += synthetic_stack(MIX).resources
    return Preview(PROJECT, STACK, resources, {})


def _violations(pack_dir: Path, preview: Preview) -> Counter:
    with PolicyPackProcess(pack_dir, project=PROJECT, stack=STACK) as pack:
        policies, initial = pack.info()
        pack.configure(reconcile_config(policies, initial, {}))
        pack.configure_stack(PROJECT, STACK)
        return Counter((v.policy, v.level, v.urn, v.message) for v in pack.analyze(preview))


def test_the_optimised_pack_finds_exactly_what_the_plain_rules_find(pack):
    stack = large_stack()
    assert len(stack.resources) > 1500
    optimised = _violations(PACK_DIR, stack)
    # endpoint-monitoring stays silent: a ServiceMonitor with an unknown selector may scrape any endpoint
    silenced = {"endpoint-monitoring"}
    assert {policy for policy, *_ in optimised} == {policy.name for policy in pack.policies} - silenced
    assert optimised == _violations(BASELINE_PACK, stack)
