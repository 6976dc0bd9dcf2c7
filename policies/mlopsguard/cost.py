"""Cost rules: every taggable resource carries the cost tags, with values a cost report can group by."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import EnforcementLevel, PolicyConfigSchema, ResourceValidationArgs, Severity

from .resources import (PRODUCTION_SCHEMA_PROPERTIES, UNKNOWN, cloud_of, current_stack, effective_tags, get,
                        is_production, is_taggable, items, known, string_map)
from .rule import Control, by_type, iso, nist, resource_rule

DEFAULT_REQUIRED_TAGS = ["cost-center", "owner", "environment", "project", "managed-by"]
CANONICAL_VALUE = r"[a-z0-9]([a-z0-9_-]{0,61}[a-z0-9])?"
"""Legal as an AWS tag, a GCP label, an Azure tag and a Kubernetes label value alike."""

_REQUIRED_TAGS_SCHEMA = PolicyConfigSchema(
    properties={
        "requiredTags": {
            "type": "array",
            "items": {"type": "string"},
            "default": DEFAULT_REQUIRED_TAGS,
            "description": "Tag keys every taggable resource must carry.",
        },
        "valuePattern": {
            "type": "string",
            "default": CANONICAL_VALUE,
            "description": "Regular expression every required tag's value must match in full.",
        },
        "allowedValues": {
            "type": "object",
            "additionalProperties": {"type": "string"},
            "default": {},
            "description": "Per tag key, a regular expression its value must match in full (on top of valuePattern).",
        },
        "defaultTags": {
            "type": "object",
            "additionalProperties": {"type": "string", "pattern": f"^{CANONICAL_VALUE}$"},
            "default": {},
            "description": "Values the remediation adds for missing cost tags (at level `remediate`); a tag without "
                           "a default here is never invented.",
        },
    }
)


def _validate_required_tags(args: ResourceValidationArgs, report_violation) -> None:
    if not is_taggable(args.resource_type):
        return
    provider_props = args.provider.props if args.provider is not None else None
    tags = effective_tags(args.resource_type, args.props, provider_props)
    if tags is UNKNOWN:
        return  # decided at deployment; previews must not guess
    config = args.get_config()
    problems = tag_problems(tags, config["requiredTags"], config["valuePattern"], config["allowedValues"])
    if problems:
        report_violation("; ".join(problems))


def tag_problems(tags: dict[str, Any], required: list[str], value_pattern: str, allowed: dict[str, str]) -> list[str]:
    """What is wrong with ``tags``: missing keys, and values that break the patterns (unknown values pass)."""
    problems = []
    missing = [key for key in required if key not in tags]
    if missing:
        problems.append(f"missing required cost tag(s): {', '.join(missing)}")
    for key in required:
        value = tags.get(key)
        if value is None or value is UNKNOWN:
            continue
        if not isinstance(value, str) or not re.fullmatch(value_pattern, value):
            problems.append(f"cost tag {key}={value!r} does not match {value_pattern}")
        elif key in allowed and not re.fullmatch(allowed[key], value):
            problems.append(f"cost tag {key}={value!r} is not allowed; it must match {allowed[key]}")
    return problems


def _remediate_required_tags(args: ResourceValidationArgs) -> dict[str, Any] | None:
    """Add the missing cost tags from ``defaultTags``. Only where it is safe: a taggable resource whose own tags are
    known (so nothing the program set is overwritten) and only keys the effective tags lack; None otherwise."""
    if not is_taggable(args.resource_type):
        return None
    defaults = args.get_config().get("defaultTags") or {}
    provider_props = args.provider.props if args.provider is not None else None
    tags = effective_tags(args.resource_type, args.props, provider_props)
    if not defaults or tags is UNKNOWN:
        return None
    missing = {key: value for key, value in defaults.items()
               if key in args.get_config()["requiredTags"] and key not in tags}
    if not missing:
        return None
    props = {key: args.props[key] for key in args.props}
    own_key = "labels" if cloud_of(args.resource_type) == "gcp" else "tags"
    own = (props.get("metadata") or {}).get("labels") if cloud_of(args.resource_type) == "kubernetes" else props.get(
        own_key)
    if own is not None and not isinstance(own, Mapping):
        return None  # an unknown (the engine's sentinel arrives raw in Remediate): nothing safe to merge into
    if cloud_of(args.resource_type) == "kubernetes":
        metadata = dict(known(lambda: props.get("metadata")) or {})
        metadata["labels"] = {**dict(metadata.get("labels") or {}), **missing}
        props["metadata"] = metadata
    else:
        key = "labels" if cloud_of(args.resource_type) == "gcp" else "tags"
        props[key] = {**dict(props.get(key) or {}), **missing}
    return props


REQUIRED_COST_TAGS = resource_rule(
    name="required-cost-tags",
    description=(
        "Every taggable AWS, GCP, Azure and Kubernetes resource carries the cost tags (provider default tags count), "
        "so that every cost can be attributed to a team, an owner and an environment."
    ),
    severity=Severity.MEDIUM,
    level=EnforcementLevel.MANDATORY,
    controls=[
        Control("NIST SP 800-53", "rev5", "CM-8"),
        Control("ISO/IEC 27001", "2022", "A.5.9"),
    ],
    validate=_validate_required_tags,
    remediate=_remediate_required_tags,
    config_schema=_REQUIRED_TAGS_SCHEMA,
    remediation_steps="Set the missing tags in the stack's mlops:tags, or in the resource's own tags/labels.",
    applies_to=("aws:*", "gcp:*", "azure-native:*", "kubernetes:*"),
)


# --- allowed values for environment and cost-center ---------------------------------------------------------------

_VALUES_SCHEMA = PolicyConfigSchema(properties={
    "allowedEnvironments": {
        "type": "array", "items": {"type": "string"}, "default": ["dev", "test", "staging", "prod", "local"],
        "description": "Values the `environment` tag may take.",
    },
    "allowedCostCenters": {
        "type": "array", "items": {"type": "string"}, "default": [],
        "description": "Values the `cost-center` tag may take; empty allows any canonical value.",
    },
})


def _validate_values(args: ResourceValidationArgs, report_violation) -> None:
    if not is_taggable(args.resource_type):
        return
    provider_props = args.provider.props if args.provider is not None else None
    tags = effective_tags(args.resource_type, args.props, provider_props)
    if tags is UNKNOWN:
        return
    config = args.get_config()
    environment, cost_center = tags.get("environment"), tags.get("cost-center")
    if isinstance(environment, str) and environment not in config["allowedEnvironments"]:
        report_violation(f"environment={environment!r} is not one of {', '.join(config['allowedEnvironments'])}")
    allowed = config["allowedCostCenters"]
    if allowed and isinstance(cost_center, str) and cost_center not in allowed:
        report_violation(f"cost-center={cost_center!r} is not one of {', '.join(allowed)}")


COST_TAG_VALUES = resource_rule(
    name="cost-tag-values",
    description="The environment and cost-center tags take only the agreed values, so cost reports group into the "
                "right buckets instead of one per typo.",
    severity=Severity.LOW,
    level=EnforcementLevel.MANDATORY,
    controls=[nist("CM-8"), iso("A.5.9")],
    validate=_validate_values,
    config_schema=_VALUES_SCHEMA,
    applies_to=("aws:*", "gcp:*", "azure-native:*", "kubernetes:*"),
)


# --- node pools: GPU allow-list, node caps, spot outside production -----------------------------------------------

EKS_NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
GKE_NODE_POOL = "gcp:container/nodePool:NodePool"
AKS_AGENT_POOL = "azure-native:containerservice:AgentPool"
AKS = "azure-native:containerservice:ManagedCluster"
NODE_POOLS = (EKS_NODE_GROUP, GKE_NODE_POOL, AKS_AGENT_POOL, AKS)
_AWS_GPU = re.compile(r"^(p\d|g\d|inf\d|trn\d|dl\d)[a-z0-9-]*\.")
_GCP_GPU = re.compile(r"^(a2|a3|a4|g2|g4)-")
_AZURE_GPU = re.compile(r"^Standard_N", re.IGNORECASE)

_GPU_SCHEMA = PolicyConfigSchema(properties={
    "allowedGpuInstanceTypes": {
        "type": "array", "items": {"type": "string"},
        "default": ["g5.xlarge", "g5.2xlarge", "g6.xlarge", "g6.2xlarge", "g2-standard-4", "g2-standard-8",
                    "nvidia-l4", "nvidia-tesla-t4", "Standard_NC4as_T4_v3", "Standard_NC8as_T4_v3"],
        "description": "GPU instance types, GCP machine types and GCP accelerator types a node pool may use.",
    },
})


def _pools(props: Any, resource_type: str) -> list[dict[str, Any]]:
    """Each node pool of a resource as ``{name, instances, accelerators, max, spot, system, labels}``."""
    if resource_type == EKS_NODE_GROUP:
        return [{"name": get(props, "nodeGroupName"), "instances": items(get(props, "instanceTypes")),
                 "accelerators": [], "max": get(props, "scalingConfig", "maxSize"),
                 "spot": get(props, "capacityType"), "labels": get(props, "labels")}]
    if resource_type == GKE_NODE_POOL:
        node = get(props, "nodeConfig")
        spot = get(node, "spot")
        if spot is not True and get(node, "preemptible") is True:
            spot = True
        maximum = get(props, "autoscaling", "maxNodeCount")
        if maximum is None:
            maximum = get(props, "autoscaling", "totalMaxNodeCount")
        if maximum is None:
            maximum = get(props, "nodeCount")
        return [{"name": get(props, "name"), "instances": [get(node, "machineType")],
                 "accelerators": [get(a, "type") for a in items(get(node, "guestAccelerators"))],
                 "max": maximum, "spot": "SPOT" if spot is True else spot, "labels": get(node, "labels")}]
    profiles = items(get(props, "agentPoolProfiles")) if resource_type == AKS else [props]
    pools = []
    for pool in profiles:
        maximum = get(pool, "maxCount")
        pools.append({"name": get(pool, "name") or get(props, "agentPoolName"), "instances": [get(pool, "vmSize")],
                      "accelerators": [], "max": get(pool, "count") if maximum is None else maximum,
                      "spot": "SPOT" if get(pool, "scaleSetPriority") == "Spot" else get(pool, "scaleSetPriority"),
                      "labels": get(pool, "nodeLabels"), "mode": get(pool, "mode")})
    return pools


def _is_gpu(pool: dict[str, Any]) -> bool:
    if any(isinstance(a, str) for a in pool["accelerators"]):
        return True
    return any(isinstance(i, str) and (_AWS_GPU.match(i) or _GCP_GPU.match(i) or _AZURE_GPU.match(i))
               for i in pool["instances"])


def _gpu_allow_list(props: Any, args: ResourceValidationArgs) -> Iterator[str]:
    allowed = set(args.get_config()["allowedGpuInstanceTypes"])
    for pool in _pools(props, args.resource_type):
        if not _is_gpu(pool):
            continue
        used = [t for t in pool["instances"] + pool["accelerators"] if isinstance(t, str)]
        gpu_types = [t for t in used if t in allowed or _AWS_GPU.match(t) or _GCP_GPU.match(t) or _AZURE_GPU.match(t)
                     or t in pool["accelerators"]]
        refused = sorted({t for t in gpu_types if t not in allowed})
        if refused:
            yield f"node pool {pool['name']} uses GPU type(s) {', '.join(refused)} outside allowedGpuInstanceTypes"


GPU_ALLOW_LIST = resource_rule(
    name="cost-gpu-allow-list",
    description="GPU node pools use only the allow-listed GPU types, so nobody starts an 8-GPU instance by editing "
                "one string.",
    severity=Severity.MEDIUM,
    level=EnforcementLevel.MANDATORY,
    controls=[nist("CM-7"), iso("A.8.6")],
    validate=by_type({t: _gpu_allow_list for t in NODE_POOLS}),
    config_schema=_GPU_SCHEMA,
    applies_to=NODE_POOLS,
)

_CAPS_SCHEMA = PolicyConfigSchema(properties={
    **PRODUCTION_SCHEMA_PROPERTIES,
    "nodeCaps": {
        "type": "object", "additionalProperties": {"type": "integer", "minimum": 0},
        "default": {"dev": 10, "test": 10, "local": 5, "staging": 20, "prod": 100, "default": 20},
        "description": "Maximum nodes per pool by `environment` tag; `default` applies to any other environment.",
    },
})


def _environment(args: ResourceValidationArgs) -> Any:
    provider_props = args.provider.props if args.provider is not None else None
    tags = effective_tags(args.resource_type, args.props, provider_props)
    environment = UNKNOWN if tags is UNKNOWN else tags.get("environment")
    if environment is None and current_stack() in args.get_config().get("productionStacks", ()):
        return "prod"
    return environment


def _node_caps(props: Any, args: ResourceValidationArgs) -> Iterator[str]:
    environment = _environment(args)
    if environment is UNKNOWN:
        return
    caps = args.get_config()["nodeCaps"]
    cap = caps.get(environment, caps.get("default"))
    if cap is None:
        return
    for pool in _pools(props, args.resource_type):
        if isinstance(pool["max"], (int, float)) and pool["max"] > cap:
            yield f"node pool {pool['name']} may grow to {int(pool['max'])} nodes; the cap for {environment} is {cap}"


NODE_CAPS = resource_rule(
    name="cost-node-caps",
    description="Node pools cannot grow past the configured cap for their environment, so a runaway autoscaler or "
                "a typo does not buy a hundred nodes in dev.",
    severity=Severity.MEDIUM,
    level=EnforcementLevel.MANDATORY,
    controls=[nist("SC-6"), iso("A.8.6")],
    validate=by_type({t: _node_caps for t in NODE_POOLS}),
    config_schema=_CAPS_SCHEMA,
    applies_to=NODE_POOLS,
)


def _system_pool(pool: dict[str, Any]) -> bool:
    labels = string_map(pool["labels"]) if pool["labels"] is not UNKNOWN else {}
    return pool.get("mode") == "System" or "system" in str(pool["name"] or "") or "system" in map(str, labels.values())


def _spot(props: Any, args: ResourceValidationArgs) -> Iterator[str]:
    provider_props = args.provider.props if args.provider is not None else None
    if is_production(args.resource_type, args.props, provider_props, args.get_config()) is not False:
        return
    for pool in _pools(props, args.resource_type):
        if _is_gpu(pool) or _system_pool(pool) or pool["spot"] in ("SPOT", UNKNOWN):
            continue
        yield f"non-production CPU node pool {pool['name']} runs on on-demand capacity; use spot"


SPOT_OUTSIDE_PRODUCTION = resource_rule(
    name="cost-spot-non-production",
    description="CPU node pools outside production run on spot capacity, which costs a fraction of on-demand for "
                "workloads that tolerate interruption. System pools and GPU pools are exempt.",
    severity=Severity.LOW,
    level=EnforcementLevel.ADVISORY,
    controls=[iso("A.8.6")],
    validate=by_type({t: _spot for t in NODE_POOLS}),
    config_schema=PolicyConfigSchema(properties=dict(PRODUCTION_SCHEMA_PROPERTIES)),
    applies_to=NODE_POOLS,
)

POLICIES = [REQUIRED_COST_TAGS, COST_TAG_VALUES, GPU_ALLOW_LIST, NODE_CAPS, SPOT_OUTSIDE_PRODUCTION]
