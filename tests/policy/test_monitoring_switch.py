"""Components built with ``monitoring: false`` meet the pack's monitoring rules (endpoint-monitoring,
monitoring-stack-present), whose messages explain the trade-off, and a stack that accepts it makes them advisory."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s
import pytest

from mlops_platform.kubernetes.model_endpoint import BlueGreenModelEndpoint
from mlops_platform_offline.harness import run_function
from tests.kubernetes.rendering import endpoint_args


def endpoint_resources(monitoring: bool):
    def program():
        provider = k8s.Provider("cluster", context="test")
        BlueGreenModelEndpoint("churn", endpoint_args(monitoring=monitoring),
                               opts=pulumi.ResourceOptions(providers=[provider]))

    return [r for r in run_function(program).resources if r.custom and r.type.startswith("kubernetes:")]


@pytest.fixture(scope="module")
def unmonitored():
    return endpoint_resources(monitoring=False)


def test_a_monitored_endpoint_meets_the_rule(pack):
    assert pack.violations("endpoint-monitoring", endpoint_resources(monitoring=True)) == []


def test_an_unmonitored_endpoint_is_reported_with_the_trade_off_and_the_way_out(pack, unmonitored):
    [violation] = pack.violations("endpoint-monitoring", unmonitored)
    assert violation.level == "mandatory"
    assert "model endpoint churn has no ServiceMonitor and no PrometheusRule alerts" in violation.message
    assert "monitoring: false" in violation.message and "Prometheus Operator" in violation.message
    assert "advisory" in violation.message


def test_a_stack_that_accepts_the_trade_off_makes_the_rule_advisory(pack, unmonitored):
    [violation] = pack.violations("endpoint-monitoring", unmonitored, {"endpoint-monitoring": "advisory"})
    assert violation.level == "advisory"


def test_a_stack_without_any_prometheus_is_told_the_trade_off(pack, unmonitored):
    [violation] = pack.violations("monitoring-stack-present", unmonitored)
    assert violation.message.startswith("the stack runs workloads but has no monitoring stack")
    assert "monitoring: false" in violation.message and "advisory" in violation.message
