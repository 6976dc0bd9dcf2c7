"""The blue-green endpoint: promotion by `active` alone, identical colours, and clear errors for bad input."""

from __future__ import annotations

import pytest

from mlops_platform.kubernetes.model_endpoint import BlueGreenModelEndpoint, validate_endpoint_args
from mlops_platform.validation import ArgumentError
from mlops_platform_offline.harness import ProgramError
from tests.kubernetes.rendering import endpoint_args, inputs, render


def _render(**overrides):
    return render(lambda opts: BlueGreenModelEndpoint("churn", endpoint_args(**overrides), opts=opts))


def test_flipping_active_changes_only_the_live_and_preview_service_selectors():
    blue, green = _render(active="blue"), _render(active="green")
    before = {r.urn: r.inputs for r in blue.resources}
    after = {r.urn: r.inputs for r in green.resources}
    assert before.keys() == after.keys()
    changed = {urn.rsplit("::", 1)[1] for urn in before if before[urn] != after[urn]}
    assert changed == {"churn-live", "churn-preview"}
    live_before, live_after = (inputs(p.one("kubernetes:core/v1:Service", "churn-live")) for p in (blue, green))
    assert live_before["spec"]["selector"]["mlops.dev/colour"] == "blue"
    assert live_after["spec"]["selector"]["mlops.dev/colour"] == "green"
    assert {k: v for k, v in live_before["spec"].items() if k != "selector"} == {
        k: v for k, v in live_after["spec"].items() if k != "selector"}


def test_blue_and_green_carry_identical_security_settings():
    plan = _render(compute={"gpus": 1, "cpu_limit": "4", "memory_limit": "8Gi"}, gpu_nodes=GPU_NODES)
    pods = {colour: inputs(plan.one("kubernetes:apps/v1:Deployment", f"churn-{colour}"))["spec"]["template"]["spec"]
            for colour in ("blue", "green")}
    for key in ("securityContext", "automountServiceAccountToken", "serviceAccountName", "volumes", "tolerations",
                "nodeSelector", "terminationGracePeriodSeconds"):
        assert pods["blue"][key] == pods["green"][key], key
    blue, green = pods["blue"]["containers"][0], pods["green"]["containers"][0]
    for key in ("securityContext", "resources", "readinessProbe", "livenessProbe", "lifecycle", "volumeMounts",
                "command", "ports"):
        assert blue[key] == green[key], key
    assert blue["securityContext"]["readOnlyRootFilesystem"] is True
    assert blue["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert blue["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert pods["blue"]["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Equal", "value": "true",
                                            "effect": "NoSchedule"}]
    assert pods["blue"]["nodeSelector"] == {"nvidia.com/gpu.present": "true"}


GPU_NODES = {"node_labels": {"nvidia.com/gpu.present": "true"},
             "taints": [{"key": "nvidia.com/gpu", "value": "true", "effect": "NoSchedule"}]}


def test_a_gpu_colour_alone_selects_and_tolerates_the_gpu_nodes():
    plan = _render(gpu_nodes=GPU_NODES, green={"model_uri": "models:/churn-classifier/2", "model_version": "2",
                                               "image": "ghcr.io/example/serving:0.1.1", "gpus": 1})
    pods = {colour: inputs(plan.one("kubernetes:apps/v1:Deployment", f"churn-{colour}"))["spec"]["template"]["spec"]
            for colour in ("blue", "green")}
    assert pods["green"]["nodeSelector"] == GPU_NODES["node_labels"]
    assert pods["green"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert "nodeSelector" not in pods["blue"] and "tolerations" not in pods["blue"]
    assert "nvidia.com/gpu" not in pods["blue"]["containers"][0]["resources"]["limits"]


SPOT = {"key": "kubernetes.azure.com/scalesetpriority", "value": "spot", "effect": "NoSchedule"}


def test_both_colours_tolerate_the_cpu_taints_and_a_gpu_colour_the_gpu_taints_too_each_once():
    spot_gpu = {**GPU_NODES, "taints": [*GPU_NODES["taints"], SPOT]}
    plan = _render(tolerated_taints=[SPOT], gpu_nodes=spot_gpu, green={
        "model_uri": "models:/churn-classifier/2", "model_version": "2", "image": "ghcr.io/example/serving:0.1.1",
        "gpus": 1})
    pods = {colour: inputs(plan.one("kubernetes:apps/v1:Deployment", f"churn-{colour}"))["spec"]["template"]["spec"]
            for colour in ("blue", "green")}
    assert pods["blue"]["tolerations"] == [{**SPOT, "operator": "Equal"}]
    assert pods["green"]["tolerations"] == [{**SPOT, "operator": "Equal"},
                                            {**GPU_NODES["taints"][0], "operator": "Equal"}]


def test_a_gpu_request_without_gpu_nodes_is_refused_before_anything_exists():
    from mlops_platform.kubernetes.model_endpoint import validate_endpoint_args
    from mlops_platform.validation import ArgumentError

    green = {"model_uri": "models:/churn-classifier/2", "model_version": "2", "image": "ghcr.io/example/s:1",
             "gpus": 1}
    with pytest.raises(ArgumentError, match=r"^churn\.green\.gpus: 1 is not allowed; the cluster has no GPU nodes"):
        validate_endpoint_args(endpoint_args(green=green), field="churn")


def test_a_registry_digest_output_is_appended_to_the_colour_image():
    import pulumi

    plan = render(lambda opts: BlueGreenModelEndpoint("churn", endpoint_args(green={
        "model_uri": "models:/churn-classifier/2", "model_version": "2", "image": "ghcr.io/example/serving:0.1.1",
        "image_digest": pulumi.Output.from_input("sha256:" + "ab12cd34" * 8)}), opts=opts))
    green = inputs(plan.one("kubernetes:apps/v1:Deployment", "churn-green"))
    assert green["spec"]["template"]["spec"]["containers"][0]["image"] == (
        "ghcr.io/example/serving:0.1.1@sha256:" + "ab12cd34" * 8)


def test_each_colour_serves_its_own_model_and_carries_model_labels():
    plan = _render()
    green = inputs(plan.one("kubernetes:apps/v1:Deployment", "churn-green"))
    env = {e["name"]: e["value"] for e in green["spec"]["template"]["spec"]["containers"][0]["env"] if "value" in e}
    assert env["MODEL_URI"] == "models:/churn-classifier/2" and env["MODEL_VERSION"] == "2"
    labels = green["spec"]["template"]["metadata"]["labels"]
    assert labels["mlops.dev/colour"] == "green" and labels["mlops.dev/model-version"] == "2"
    assert labels["mlops.dev/model-name"] == "churn-classifier"
    assert green["spec"]["template"]["spec"]["containers"][0]["image"] == "ghcr.io/example/serving:0.1.1"


def test_canary_weight_and_shadow_send_traffic_to_the_idle_colour_through_the_route():
    plan = _render(canary_weight=20, shadow=True)
    rule = inputs(plan.one("kubernetes:gateway.networking.k8s.io/v1:HTTPRoute"))["spec"]["rules"][0]
    assert rule["backendRefs"] == [{"name": "churn", "port": 80, "weight": 80},
                                   {"name": "churn-preview", "port": 80, "weight": 20}]
    assert rule["filters"] == [{"type": "RequestMirror",
                                "requestMirror": {"backendRef": {"name": "churn-preview", "port": 80}}}]


def test_an_idle_colour_scaled_to_zero_gets_no_autoscaler_and_zero_replicas():
    plan = _render(green={"model_uri": "models:/churn-classifier/2", "model_version": "2",
                          "image": "ghcr.io/example/serving:0.1.1", "replicas": 0})
    assert inputs(plan.one("kubernetes:apps/v1:Deployment", "churn-green"))["spec"]["replicas"] == 0
    assert [r.name for r in plan.all("kubernetes:autoscaling/v2:HorizontalPodAutoscaler")] == ["churn-blue-autoscaler"]
    assert plan.one("kubernetes:apps/v1:Deployment", "churn-blue").ignore_changes == ("spec.replicas",)


def test_one_service_monitor_covers_both_colours():
    plan = _render()
    monitor = inputs(plan.one("kubernetes:monitoring.coreos.com/v1:ServiceMonitor"))
    selector = monitor["spec"]["selector"]["matchLabels"]
    for service in plan.all("kubernetes:core/v1:Service"):
        labels = inputs(service)["metadata"]["labels"]
        assert selector.items() <= labels.items()


GOOD_COLOUR = {"model_uri": "models:/churn-classifier/1", "model_version": "1", "image": "ghcr.io/example/serving:0.1.0"}


def test_an_alias_or_a_run_uri_leaves_the_version_to_the_model_version_setting():
    settings = validate_endpoint_args(endpoint_args(
        blue={**GOOD_COLOUR, "model_uri": "models:/churn-classifier@champion", "model_version": "7"},
        green={**GOOD_COLOUR, "model_uri": "runs:/0a1b2c/model", "model_version": "8"}), field="churn")
    assert (settings.colours["blue"].model_version, settings.colours["green"].model_version) == ("7", "8")


@pytest.mark.parametrize("overrides, message", [
    ({"canary_weight": 101}, "churn.canary_weight: 101 is not allowed; use an integer from 0 to 100"),
    ({"canary_weight": -5}, "churn.canary_weight: -5 is not allowed; use an integer from 0 to 100"),
    ({"canary_weight": "10"}, "churn.canary_weight: '10' is not allowed; use an integer from 0 to 100"),
    ({"active": "red"}, "churn.active: 'red' is not allowed; use blue or green"),
    ({"blue": {**GOOD_COLOUR, "replicas": -1}}, "churn.blue.replicas: -1 is not allowed; use an integer from 0 to 100"),
    ({"blue": {**GOOD_COLOUR, "replicas": 0}}, "churn.blue.replicas: 0 is not allowed for the active colour"),
    ({"green": {**GOOD_COLOUR, "replicas": 0}, "canary_weight": 5}, "churn.green.replicas: 0 is not allowed while"),
    ({"route": None, "canary_weight": 5}, "churn.canary_weight: 5 is not allowed without churn.route"),
    ({"blue": {**GOOD_COLOUR, "image": "ghcr.io/example/serving:latest"}}, "churn.blue.image: "),
    ({"blue": {**GOOD_COLOUR, "model_uri": "ftp://x"}}, "churn.blue.model_uri: 'ftp://x' is not allowed"),
    ({"readiness_probe": {"period_seconds": 0}}, "churn.readiness_probe.period_seconds: 0 is not allowed"),
    ({"liveness_probe": {"timeout_seconds": 10, "period_seconds": 5}},
     "churn.liveness_probe.timeout_seconds: 10 is not allowed; use fewer seconds than period_seconds (5)"),
    ({"compute": {"cpu_request": "2 cores"}}, "churn.compute.cpu_request: '2 cores' is not allowed; use a CPU"),
    ({"compute": {"memory_limit": "512mb"}}, "churn.compute.memory_limit: '512mb' is not allowed; use a memory"),
    ({"compute": {"cpu_request": "4", "cpu_limit": "2"}}, "churn.compute.cpu_limit: '2' is not allowed; use at least"),
    ({"compute": {"gpus": 17}}, "churn.compute.gpus: 17 is not allowed; use an integer from 0 to 16"),
    ({"colour": "blue"}, "churn.colour: unknown key"),
    ({"blue": {**GOOD_COLOUR, "model_uri": "models:/fraud/1"}},
     "churn.blue.model_uri: 'models:/fraud/1' is not allowed with model_name 'churn-classifier'"),
    ({"green": {**GOOD_COLOUR, "model_uri": "models:/churn-classifier@champion"}, "model_name": "churn"},
     "churn.blue.model_uri: 'models:/churn-classifier/1' is not allowed with model_name 'churn'"),
    ({"blue": {**GOOD_COLOUR, "model_version": "2"}},
     "churn.blue.model_version: '2' is not allowed with model_uri 'models:/churn-classifier/1'; use '1'"),
])
def test_bad_endpoint_arguments_are_rejected_with_a_clear_error(overrides, message):
    args = endpoint_args(**overrides)
    if args.get("route") is None:
        args.pop("route")
    with pytest.raises(ArgumentError) as raised:
        validate_endpoint_args(args, field="churn")
    assert str(raised.value).startswith(message)
    assert "\n" not in str(raised.value)


def test_a_bad_endpoint_registers_nothing():
    with pytest.raises(ProgramError) as raised:
        _render(active="purple")
    assert "active: 'purple' is not allowed" in str(raised.value)
    assert not any(r.type.startswith("mlops:kubernetes:BlueGreen") for r in getattr(raised.value, "registered", []))
