"""Checks that component arguments share, each raising an :class:`ArgumentError` that names the field, the value
given and what is allowed, in one line: ``<field path>: <value> is not allowed; use <what is allowed>``."""

import inspect
import ipaddress
import re
from collections.abc import Mapping
from typing import Any

import pulumi


class ArgumentError(ValueError):
    """A component argument is invalid. Raised before any resource is created."""


def shown(value: Any) -> str:
    """A value as an error message shows it: its repr, or for an Output (or another awaitable), what it is, since its
    value is only known at deployment and its repr says nothing."""
    if isinstance(value, pulumi.Output) or inspect.isawaitable(value):
        return "an Output (known only at deployment)"
    return repr(value)


def is_output(value: Any) -> bool:
    """Whether ``value`` is only known at deployment (an Output or another awaitable)."""
    return isinstance(value, pulumi.Output) or inspect.isawaitable(value)


DNS_LABEL = r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?"
"""A Kubernetes namespace or object name segment (RFC 1123 label)."""
DNS_SUBDOMAIN = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
"""A Kubernetes ServiceAccount name (RFC 1123 subdomain; at most 253 characters, checked separately)."""
OBJECT_KEY_PREFIX = r"([A-Za-z0-9!_.'()-]+/)+"
"""An object key prefix ending in '/', with safe characters only: '*' and '?' would widen an S3 resource pattern,
and a quote or backslash would break a GCS IAM condition, beyond one prefix."""
STORAGE_SIZE = r"[1-9]\d*(Mi|Gi|Ti)"
"""A volume size such as ``10Gi``."""
_IMAGE_NAME = r"[a-z0-9][a-z0-9._/-]*(:[0-9]+)?/?[a-z0-9._/-]*"
_IMAGE_TAG = r":[A-Za-z0-9._-]+"
_IMAGE_DIGEST = r"@sha256:[0-9a-f]{64}"


def pinned_image(value: Any, field: str, *, tag_required: bool = False, digest_field: str | None = None) -> str:
    """A container image pinned by tag or digest (``tag_required``: by tag), never ``:latest``, so a deployment
    always runs the image it was reviewed with. ``digest_field`` names the sibling argument that takes a digest."""
    pattern = _IMAGE_NAME + (f"{_IMAGE_TAG}({_IMAGE_DIGEST})?" if tag_required
                             else f"(({_IMAGE_TAG})({_IMAGE_DIGEST})?|{_IMAGE_DIGEST})")
    if tag_required and isinstance(value, str) and not re.fullmatch(pattern, value) \
            and re.fullmatch(_IMAGE_NAME + _IMAGE_DIGEST, value):
        name, digest = value.split("@", 1)
        where = f"and {digest} in {digest_field}" if digest_field else f"followed by @{digest}"
        raise ArgumentError(f"{field}: {value!r} is not allowed without a tag; use {name}:<tag> {where}")
    if not isinstance(value, str) or not re.fullmatch(pattern, value) or value.split("@")[0].endswith(":latest"):
        pinned = "by tag" if tag_required else "by tag or digest"
        raise ArgumentError(f"{field}: {shown(value)} is not allowed; use an image pinned {pinned} "
                            f"(registry/name:tag, not :latest)")
    return value


def optional_mapping(args: Mapping[str, Any], key: str, field: str, meaning: str) -> Any:
    """The value of an optional mapping of strings to strings (or an Output of one, unchecked)."""
    value = args.get(key)
    if value is None or is_output(value):
        return value
    if not isinstance(value, Mapping) or not all(
            isinstance(k, str) and (isinstance(v, str) or is_output(v)) for k, v in value.items()):
        raise ArgumentError(f"{field}.{key}: {shown(value)} is not allowed; use a mapping of strings to strings "
                            f"({meaning})")
    return value


WIRED_INPUTS: Mapping[str, str] = {
    "region": "the region every regional resource lives in, such as eu-west-1 or europe-west1",
    "project": "the id of the GCP project the resources live in",
    "location": "the Azure location, such as westeurope (ResourceGroup.location)",
    "resource_group_name": "the resource group's name (ResourceGroup.name)",
    "log_workspace_id": "the Log Analytics workspace's id (ResourceGroup.log_workspace_id)",
    "vpc_id": "the VPC's id (Network.vpc_id)",
    "subnet_ids": "the private subnets' ids (Network.private_subnet_ids)",
    "client_security_group_id": "the security group of the pods' nodes (Cluster.security_group_id)",
    "security_group_id": "the cluster's node security group (Cluster.security_group_id)",
    "cluster_name": "the EKS cluster's name (Cluster.name)",
    "cluster_endpoint": "the EKS API endpoint (Cluster.endpoint)",
    "oidc_provider_arn": "the cluster's IAM OIDC provider ARN (Cluster.oidc_provider_arn)",
    "oidc_issuer": "the cluster's OIDC issuer URL (Cluster.oidc_issuer)",
    "network_id": "the VPC network's id (Network.network_id)",
    "subnet_id": "the subnet's id (Network.subnet_id, or Network.database_subnet_id on Azure)",
    "pods_range_name": "the subnet's secondary range for pods (Network.pods_range_name)",
    "services_range_name": "the subnet's secondary range for Services (Network.services_range_name)",
    "private_network_id": "the network with Private Service Access (Network.private_network_id)",
    "node_subnet_id": "the node subnet's id (Network.node_subnet_id)",
    "api_server_subnet_id": "the API server subnet's id (Network.api_server_subnet_id)",
    "dns_zone_id": "the database's private DNS zone id (Network.database_dns_zone_id)",
    "allowed_subnet_ids": "the ids of the subnets allowed to reach the store (Network.node_subnet_id)",
}
"""What each input a cloud layer wires holds, and which output of a sibling component gives it, so a program that
wires a component by hand is told what to pass."""


def require_wired(args: Mapping[str, Any], keys: Any, field: str) -> None:
    """Raise for the first of ``keys`` missing from ``args``, saying what it holds (``WIRED_INPUTS``)."""
    for key in keys:
        if args.get(key) is None:
            raise ArgumentError(f"{field_path(field, key)}: missing; use {WIRED_INPUTS[key]}")


def field_path(field: str, key: str) -> str:
    """``field.key``, or ``field key`` joined without a dot when ``field`` is a config namespace (``mlops:``)."""
    return f"{field}{key}" if field.endswith(":") else f"{field}.{key}"


def config_section(args: Mapping[str, Any], key: str, prefix: str) -> dict[str, Any]:
    """A copy of the mapping ``args[key]`` (absent means empty); errors name ``<prefix><key>``."""
    value = args.get(key)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ArgumentError(f"{prefix}{key}: {shown(value)} is not allowed; use a mapping of {key} settings")
    return dict(value)


def reject_unknown_keys(args: Mapping[str, Any], allowed: set[str] | frozenset[str], field: str) -> None:
    """Raise for the first key of ``args`` that is not in ``allowed``."""
    if not isinstance(args, Mapping):
        raise ArgumentError(f"{field.rstrip(':')}: {shown(args)} is not allowed; use a mapping")
    for key in args:
        if key not in allowed:
            raise ArgumentError(
                f"{field_path(field, str(key))}: unknown key; allowed are {', '.join(sorted(allowed))}"
            )


def required_text(args: Mapping[str, Any], key: str, field: str, pattern: str, meaning: str, *,
                  plain: bool = False) -> Any:
    """The value of a required string argument that must match ``pattern``. An Output passes unchecked unless
    ``plain`` says the value must be known now (because other names derive from it)."""
    if key not in args or args[key] is None:
        raise ArgumentError(f"{field}.{key}: missing; it is required ({meaning})")
    if plain and not isinstance(args[key], str):
        why = " (other names derive from it, so it must be known now)" if is_output(args[key]) else ""
        raise ArgumentError(f"{field}.{key}: {shown(args[key])} is not allowed; use a plain string, {meaning}{why}")
    return optional_text(args, key, field, pattern, meaning)


def optional_text(args: Mapping[str, Any], key: str, field: str, pattern: str, meaning: str) -> Any:
    """The value of an optional string argument that must match ``pattern`` when it is a plain string."""
    value = args.get(key)
    if value is None or is_output(value):
        return value  # absent, or only known at deployment time
    if not isinstance(value, str) or not re.fullmatch(pattern, value):
        raise ArgumentError(f"{field}.{key}: {shown(value)} is not allowed; use {meaning}")
    return value


def optional_int(args: Mapping[str, Any], key: str, field: str, default: int, low: int, high: int) -> int:
    """The value of an optional whole-number argument within ``low``..``high``."""
    value = args.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ArgumentError(f"{field}.{key}: {shown(value)} is not allowed; use an integer from {low} to {high}")
    return value


def optional_bool(args: Mapping[str, Any], key: str, field: str, default: bool) -> bool:
    """The value of an optional true/false argument."""
    value = args.get(key, default)
    if not isinstance(value, bool):
        raise ArgumentError(f"{field}.{key}: {shown(value)} is not allowed; use true or false")
    return value


def public_access_cidrs(cidrs: Any, public: bool, path: str, private_default: str) -> tuple[str, ...]:
    """The allow-list of a public Kubernetes API endpoint: required and narrower than 0.0.0.0/0 when ``public``,
    refused when not (``private_default`` says what the endpoint is then, e.g. "the endpoint is private")."""
    if not public:
        if cidrs:
            raise ArgumentError(f"{path}: {shown(cidrs)} is not allowed without public_endpoint: true; "
                                f"{private_default} "
                                f"by default")
        return ()
    allowed = "a non-empty list of IPv4 CIDRs narrower than 0.0.0.0/0, such as 203.0.113.0/24"
    if not isinstance(cidrs, (list, tuple)) or not cidrs:
        raise ArgumentError(f"{path}: {shown(cidrs)} is not allowed with public_endpoint: true; use {allowed}")
    for cidr in cidrs:
        try:
            network = ipaddress.IPv4Network(cidr)
        except (ValueError, TypeError):
            raise ArgumentError(f"{path}: {shown(cidr)} is not allowed; use {allowed}") from None
        if network.prefixlen == 0:
            raise ArgumentError(f"{path}: {shown(cidr)} is not allowed; use {allowed}")
    return tuple(cidrs)
