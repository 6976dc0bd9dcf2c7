"""The GPU node daemons: the device plugin chart pinned to the reference chart with values keys that exist in it,
placed by the GPU nodes' labels and taints, and installed only where the cloud layer reports GPU capacity."""

from __future__ import annotations

import pytest
import yaml

from mlops_platform.kubernetes.gpu_node_daemons import (
    DEVICE_PLUGIN_VERSION,
    dcgm_exporter_values,
    device_plugin_values,
    validate_gpu_node_daemons_args,
)
from mlops_platform.validation import ArgumentError
from tests.kubernetes.test_prometheus_stack import _unknown_keys

NODES = {"node_labels": {"cloud.example.com/accelerator": "nvidia-l4"},
         "taints": [{"key": "gpu", "value": "present", "effect": "NoSchedule"}]}


def test_device_plugin_chart_version_and_values_keys_match_the_pinned_chart(reference):
    chart = yaml.safe_load((reference / "nvidia-device-plugin" / "Chart.yaml").read_text())
    values = yaml.safe_load((reference / "nvidia-device-plugin" / "values.yaml").read_text())
    assert DEVICE_PLUGIN_VERSION == chart["version"]
    assert _unknown_keys(device_plugin_values(validate_gpu_node_daemons_args({"gpu_nodes": NODES})), values) == []


def test_both_daemons_select_exactly_the_gpu_nodes_and_tolerate_exactly_their_taints():
    settings = validate_gpu_node_daemons_args({"gpu_nodes": NODES})
    toleration = [{"key": "gpu", "operator": "Equal", "value": "present", "effect": "NoSchedule"}]
    for values in (device_plugin_values(settings), dcgm_exporter_values(settings)):
        assert values["nodeSelector"] == NODES["node_labels"]
        assert values["tolerations"] == toleration
    # the chart's default affinity (node-feature-discovery labels) is replaced by the GPU nodes' own labels
    terms = device_plugin_values(settings)["affinity"]["nodeAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert terms == [{"matchExpressions": [{"key": "cloud.example.com/accelerator", "operator": "In",
                                            "values": ["nvidia-l4"]}]}]


def test_the_exporter_is_scraped_with_the_workloads_pod_labels():
    monitor = dcgm_exporter_values(validate_gpu_node_daemons_args({"gpu_nodes": NODES}))["serviceMonitor"]
    assert monitor["enabled"] is True and monitor["honorLabels"] is True


@pytest.mark.parametrize("stack, present", [("aws-dev", False), ("aws-prod", True), ("local", False)])
def test_the_daemons_exist_exactly_where_the_cloud_layer_reports_gpu_capacity(preview, stack, present):
    releases = {r.inputs["chart"] for r in preview(stack).all("kubernetes:helm.sh/v3:Release")}
    assert ({"nvidia-device-plugin", "dcgm-exporter"} <= releases) is present
    assert ("nvidia-device-plugin" in releases) is present


def test_a_cloud_that_runs_its_own_device_plugin_gets_the_exporter_alone():
    from mlops_platform.kubernetes.gpu_node_daemons import GpuNodeDaemons
    from tests.kubernetes.rendering import render

    plan = render(lambda opts: GpuNodeDaemons("gpu", {"gpu_nodes": NODES, "device_plugin": False}, opts=opts))
    assert [r.inputs["chart"] for r in plan.all("kubernetes:helm.sh/v3:Release")] == ["dcgm-exporter"]


@pytest.mark.parametrize("nodes, message", [
    ({"node_labels": {}}, r"^gpu\.gpu_nodes\.node_labels: \{\} is not allowed"),
    ({"node_labels": {"a": "b"}, "taints": [{"key": "gpu", "value": "x", "effect": "Sometimes"}]},
     r"^gpu\.gpu_nodes\.taints\[0\]\.effect: 'Sometimes' is not allowed"),
])
def test_bad_gpu_nodes_are_refused_with_the_field_path(nodes, message):
    with pytest.raises(ArgumentError, match=message):
        validate_gpu_node_daemons_args({"gpu_nodes": nodes})
