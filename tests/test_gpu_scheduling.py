"""A scheduling check across objects, on every stack: each pod that requests a GPU can land on at least one GPU
pool (it selects that pool's labels and tolerates its taints), no CPU workload tolerates a GPU taint, every other
pod can land on every CPU pool meant for workloads (tolerating, say, AKS's Spot taint), and wherever a stack has GPU
pools, the NVIDIA device plugin and the DCGM exporter run on every one of them (without the device plugin no node
advertises ``nvidia.com/gpu``, so no GPU pod would ever schedule)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mlops_platform_offline.harness import Preview, ProjectFiles, RecordedResource, plain_form, read_stack_config, run_program

ROOT = Path(__file__).resolve().parent.parent
STACKS = ProjectFiles.load(ROOT).stacks()
GPU_RESOURCES = ("nvidia.com/gpu", "amd.com/gpu")
WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "Pod"}
GPU_DAEMON_CHARTS = ("nvidia-device-plugin", "dcgm-exporter")
CHART_PODS = {"kube-prometheus-stack": (("prometheus", "prometheusSpec"), ("alertmanager", "alertmanagerSpec"),
                                         ("grafana",), ("kube-state-metrics",), ("prometheusOperator",),
                                         ("prometheusOperator", "admissionWebhooks", "patch"))}
"""Where a chart's values place each of its pods (the node exporter is off)."""
SYSTEM_POOL_SUFFIX = "-system"
"""Every cloud names its system pool ``<cluster>-system``: the pool for the cloud's own add-ons."""
_CLOUD_EFFECTS = {"NO_SCHEDULE": "NoSchedule", "PREFER_NO_SCHEDULE": "PreferNoSchedule", "NO_EXECUTE": "NoExecute"}


@dataclass(frozen=True)
class NodePool:
    name: str
    gpu: bool
    labels: dict[str, str]
    taints: tuple[tuple[str, str, str], ...]
    """``(key, value, effect)`` in Kubernetes' spelling."""


@dataclass(frozen=True)
class Workload:
    name: str
    gpus: int
    node_selector: dict[str, str]
    affinity_terms: tuple[tuple[tuple[str, str, tuple[str, ...]], ...], ...]
    """Required node affinity: OR of terms, each an AND of ``(key, operator, values)``."""
    tolerations: tuple[dict[str, str], ...]


def _effect(effect: str) -> str:
    return _CLOUD_EFFECTS.get(effect, effect)


def node_pools(plan: Preview) -> list[NodePool]:
    """Every node pool of the stack, whichever cloud or autoscaler declares it."""
    pools = []
    for resource in plan.resources:
        props = plain_form(resource.inputs, redact=False)
        if resource.type == "aws:eks/nodeGroup:NodeGroup":
            pools.append(NodePool(resource.name, "NVIDIA" in str(props.get("amiType", "")), props.get("labels") or {},
                                  tuple((t["key"], t.get("value", ""), _effect(t["effect"]))
                                        for t in props.get("taints") or [])))
        elif resource.type == "kubernetes:karpenter.sh/v1:NodePool":
            template = props["spec"]["template"]
            gpu = any(key in GPU_RESOURCES for key in props["spec"].get("limits", {})) or any(
                r["key"] == "karpenter.k8s.aws/instance-category" and set(r["values"]) <= {"g", "p"}
                for r in template["spec"]["requirements"])
            pools.append(NodePool(resource.name, gpu, template.get("metadata", {}).get("labels") or {},
                                  tuple((t["key"], t.get("value", ""), t["effect"])
                                        for t in template["spec"].get("taints") or [])))
        elif resource.type == "gcp:container/nodePool:NodePool":
            config = props.get("nodeConfig") or {}
            pools.append(NodePool(resource.name, bool(config.get("guestAccelerators")), config.get("labels") or {},
                                  tuple((t["key"], t.get("value", ""), _effect(t["effect"]))
                                        for t in config.get("taints") or [])))
        elif resource.type == "azure-native:containerservice:AgentPool":
            taints = []
            for taint in props.get("nodeTaints") or []:
                match = re.fullmatch(r"(?P<key>[^=:]+)(=(?P<value>[^:]*))?:(?P<effect>\w+)", taint)
                taints.append((match["key"], match["value"] or "", match["effect"]))
            pools.append(NodePool(resource.name, str(props.get("vmSize", "")).lower().startswith("standard_n"),
                                  props.get("nodeLabels") or {}, tuple(taints)))
    return pools


def _pod_spec(kind: str, spec: dict[str, Any]) -> dict[str, Any]:
    if kind == "Pod":
        return spec
    if kind == "CronJob":
        return spec["jobTemplate"]["spec"]["template"]["spec"]
    return spec["template"]["spec"]


def _workload(name: str, pod: dict[str, Any]) -> Workload:
    containers = [*pod.get("containers", []), *pod.get("initContainers", [])]
    gpus = sum(int((c.get("resources") or {}).get("limits", {}).get(gpu, 0)) for c in containers
               for gpu in GPU_RESOURCES)
    terms = (((pod.get("affinity") or {}).get("nodeAffinity") or {})
             .get("requiredDuringSchedulingIgnoredDuringExecution") or {}).get("nodeSelectorTerms") or []
    return Workload(name, gpus, dict(pod.get("nodeSelector") or {}),
                    tuple(tuple((e["key"], e["operator"], tuple(e.get("values") or ()))
                                for e in term.get("matchExpressions") or []) for term in terms),
                    tuple(pod.get("tolerations") or ()))


def workloads(plan: Preview) -> list[Workload]:
    """Every pod template the stack renders, and the pods of the GPU daemon charts (from their values)."""
    found = []
    for resource in plan.resources:
        if resource.type.startswith("kubernetes:") and resource.type.rsplit(":", 1)[1] in WORKLOAD_KINDS:
            props = plain_form(resource.inputs, redact=False)
            found.append(_workload(resource.name, _pod_spec(resource.type.rsplit(":", 1)[1], props["spec"])))
        elif resource.type == "kubernetes:helm.sh/v3:Release":
            inputs = plain_form(resource.inputs, redact=False)
            values = inputs.get("values") or {}
            if inputs.get("chart") in CHART_PODS:
                for path in CHART_PODS[inputs["chart"]]:
                    pod = values
                    for key in path:
                        pod = pod.get(key) or {}
                    found.append(_workload(f"{resource.name}/{'.'.join(path)}", pod))
            elif values.get("nodeSelector") or values.get("tolerations") or values.get("affinity"):
                found.append(_workload(resource.name, values))
    return found


def _tolerates(workload: Workload, taint: tuple[str, str, str]) -> bool:
    key, value, effect = taint
    for toleration in workload.tolerations:
        if toleration.get("effect") not in (None, "", effect):
            continue
        if toleration.get("operator") == "Exists" and toleration.get("key") in (None, "", key):
            return True
        if toleration.get("key") == key and toleration.get("operator", "Equal") == "Equal" \
                and toleration.get("value", "") == value:
            return True
    return False


def _selects(workload: Workload, pool: NodePool) -> bool:
    if any(pool.labels.get(key) != value for key, value in workload.node_selector.items()):
        return False
    if not workload.affinity_terms:
        return True

    def holds(key: str, operator: str, values: tuple[str, ...]) -> bool:
        present = key in pool.labels
        return {"In": present and pool.labels[key] in values, "NotIn": not present or pool.labels[key] not in values,
                "Exists": present, "DoesNotExist": not present}.get(operator, False)

    return any(all(holds(*expression) for expression in term) for term in workload.affinity_terms)


def can_schedule(workload: Workload, pool: NodePool) -> bool:
    """Whether the workload's pods may land on the pool's nodes: selected, and every hard taint tolerated."""
    return _selects(workload, pool) and all(_tolerates(workload, taint) for taint in pool.taints
                                            if taint[2] in ("NoSchedule", "NoExecute"))


def runs_on_gpu_pools_only(workload: Workload, pools: list[NodePool]) -> bool:
    """A GPU daemon: it selects GPU pools and no CPU pool."""
    return any(_selects(workload, p) for p in pools if p.gpu) and not any(
        _selects(workload, p) for p in pools if not p.gpu)


def scheduling_problems(plan: Preview) -> list[str]:
    pools = node_pools(plan)
    gpu_pools = [p for p in pools if p.gpu]
    cpu_pools = [p for p in pools if not p.gpu]
    # A taint CPU pools carry too (AKS's Spot taint on a Spot GPU pool) is one every pod may tolerate.
    cpu_taints = {taint for pool in cpu_pools for taint in pool.taints}
    gpu_taints = ({taint for pool in gpu_pools for taint in pool.taints} | {("nvidia.com/gpu", "", "NoSchedule")}) \
        - cpu_taints
    problems = []
    for workload in workloads(plan):
        if workload.gpus:
            if not any(can_schedule(workload, pool) for pool in gpu_pools):
                problems.append(f"{workload.name} requests {workload.gpus} GPU(s) but fits no GPU pool "
                                f"({', '.join(p.name for p in gpu_pools) or 'there is none'})")
            continue
        tolerated = sorted(key for key, value, effect in gpu_taints
                           if _tolerates(workload, (key, value or "true", effect)))
        if tolerated and not runs_on_gpu_pools_only(workload, pools):
            problems.append(f"{workload.name} requests no GPU but tolerates the GPU taint {tolerated[0]}")
    return problems


def cpu_scheduling_problems(plan: Preview) -> list[str]:
    """Each pod that requests no GPU (and is no GPU daemon) fits every CPU pool but the system pool."""
    pools = node_pools(plan)
    workload_pools = [p for p in pools if not p.gpu and not p.name.endswith(SYSTEM_POOL_SUFFIX)]
    problems = []
    for workload in workloads(plan):
        if workload.gpus or runs_on_gpu_pools_only(workload, pools):
            continue
        problems += [f"{workload.name} does not fit CPU pool {pool.name} (taints {list(pool.taints)})"
                     for pool in workload_pools if not can_schedule(workload, pool)]
    return problems


def cloud_manages_device_plugin(plan: Preview) -> bool:
    """GKE installs the NVIDIA driver and device plugin itself on pools with a managed driver installation."""
    pools = plan.all("gcp:container/nodePool:NodePool")
    gpu_pools = [p for p in pools if (p.inputs.get("nodeConfig") or {}).get("guestAccelerators")]
    return bool(gpu_pools) and all(
        accelerator.get("gpuDriverInstallationConfig")
        for p in gpu_pools for accelerator in p.inputs["nodeConfig"]["guestAccelerators"])


def gpu_daemon_problems(plan: Preview) -> list[str]:
    """Each GPU pool runs the device plugin and the DCGM exporter; neither runs on a CPU pool."""
    pools = node_pools(plan)
    releases = {chart: [r for r in plan.all("kubernetes:helm.sh/v3:Release") if r.inputs.get("chart") == chart]
                for chart in GPU_DAEMON_CHARTS}
    problems = []
    for chart, found in releases.items():
        daemons = [_workload(r.name, plain_form(r.inputs, redact=False).get("values") or {}) for r in found]
        if not found and chart == "nvidia-device-plugin" and cloud_manages_device_plugin(plan):
            continue
        for pool in pools:
            running = any(can_schedule(daemon, pool) for daemon in daemons)
            if pool.gpu and not running:
                problems.append(f"{chart} does not run on GPU pool {pool.name}")
            if not pool.gpu and running:
                problems.append(f"{chart} would run on CPU pool {pool.name}")
    return problems


@pytest.mark.parametrize("stack", STACKS)
def test_every_gpu_pod_fits_a_gpu_pool_and_no_cpu_workload_tolerates_the_gpu_taint(preview, stack):
    assert scheduling_problems(preview(stack)) == []


@pytest.mark.parametrize("stack", STACKS)
def test_every_other_pod_fits_every_cpu_pool_the_spot_pool_included(preview, stack):
    assert cpu_scheduling_problems(preview(stack)) == []


@pytest.mark.parametrize("stack", ["azure-dev", "azure-prod"])
def test_aks_spot_pools_are_tainted_so_the_cpu_check_above_bites(preview, stack):
    spot = ("kubernetes.azure.com/scalesetpriority", "spot", "NoSchedule")
    pools = [p for p in node_pools(preview(stack)) if not p.gpu and not p.name.endswith(SYSTEM_POOL_SUFFIX)]
    assert pools and all(spot in p.taints for p in pools)
    assert {w.name for w in workloads(preview(stack))} >= {"mlops-kubernetes-mlflow-server",
                                                            "mlops-kubernetes-monitoring-release/grafana"}


@pytest.mark.parametrize("stack", ["aws-dev", "aws-prod", "gcp-dev", "gcp-prod", "local"])
def test_clouds_whose_cpu_nodes_carry_no_taint_render_no_toleration_on_cpu_pods(preview, stack):
    plan = preview(stack)
    pools = node_pools(plan)
    assert [w.name for w in workloads(plan) if not w.gpus and w.tolerations
            and not runs_on_gpu_pools_only(w, pools)] == []


@pytest.mark.parametrize("stack", STACKS)
def test_every_gpu_pool_runs_the_device_plugin_and_the_dcgm_exporter(preview, stack):
    assert gpu_daemon_problems(preview(stack)) == []


def test_aws_prod_has_gpu_pods_and_gpu_pools_so_the_checks_above_bite(preview):
    plan = preview("aws-prod")
    assert {p.name for p in node_pools(plan) if p.gpu} == {"mlops-cluster-gpu", "mlops-karpenter-gpu"}
    assert any(w.gpus for w in workloads(plan))


def _with_gpu_pool_only_in_karpenter() -> Preview:
    config = read_stack_config(ProjectFiles.load(ROOT), "aws-prod")
    cluster = json.loads(config["mlops:cluster"])
    cluster.pop("gpu_pool")
    config["mlops:cluster"] = json.dumps(cluster)
    project = ProjectFiles.load(ROOT)
    return run_program(project.program, project=project.name, stack="aws-prod", config=config)


def test_gpu_pods_schedule_when_karpenter_is_the_only_gpu_capacity():
    """The Karpenter GPU NodePool alone must carry the labels GPU pods select on."""
    plan = _with_gpu_pool_only_in_karpenter()
    assert [p.name for p in node_pools(plan) if p.gpu] == ["mlops-karpenter-gpu"]
    assert scheduling_problems(plan) == [] and gpu_daemon_problems(plan) == []


# --- the check itself catches what it must ------------------------------------------------------------------------

GPU_POOL = NodePool("gpu", True, {"nvidia.com/gpu.present": "true"}, (("nvidia.com/gpu", "true", "NoSchedule"),))
CPU_POOL = NodePool("cpu", False, {"mlops.io/pool": "cpu"}, ())
GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Equal", "value": "true", "effect": "NoSchedule"}


@pytest.mark.parametrize("workload, fits", [
    (Workload("ok", 1, {"nvidia.com/gpu.present": "true"}, (), (GPU_TOLERATION,)), True),
    (Workload("no-toleration", 1, {"nvidia.com/gpu.present": "true"}, (), ()), False),
    (Workload("wrong-label", 1, {"mlops.io/pool": "karpenter-gpu"}, (), (GPU_TOLERATION,)), False),
    (Workload("wrong-value", 1, {}, (), ({"key": "nvidia.com/gpu", "operator": "Equal", "value": "yes",
                                          "effect": "NoSchedule"},)), False),
    (Workload("exists-all", 1, {}, (), ({"operator": "Exists"},)), True),
    (Workload("affinity", 1, {}, ((("nvidia.com/gpu.present", "In", ("true",)),),), (GPU_TOLERATION,)), True),
    (Workload("affinity-miss", 1, {}, ((("gpu", "Exists", ()),),), (GPU_TOLERATION,)), False),
])
def test_can_schedule_reads_selectors_affinity_and_tolerations(workload, fits):
    assert can_schedule(workload, GPU_POOL) is fits
