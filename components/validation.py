"""Checks that component arguments share, each raising an :class:`ArgumentError` that names the field, the value
given and what is allowed, in one line (see STYLE.md, "An error")."""

import ipaddress
import re
from collections.abc import Mapping
from typing import Any


class ArgumentError(ValueError):
    """A component argument is invalid. Raised before any resource is created."""


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


def pinned_image(value: Any, field: str, *, tag_required: bool = False) -> str:
    """A container image pinned by tag or digest (``tag_required``: by tag), never ``:latest``, so a deployment
    always runs the image it was reviewed with."""
    pattern = _IMAGE_NAME + (f"{_IMAGE_TAG}({_IMAGE_DIGEST})?" if tag_required
                             else f"(({_IMAGE_TAG})({_IMAGE_DIGEST})?|{_IMAGE_DIGEST})")
    if not isinstance(value, str) or not re.fullmatch(pattern, value) or value.split("@")[0].endswith(":latest"):
        pinned = "by tag" if tag_required else "by tag or digest"
        raise ArgumentError(f"{field}: {value!r} is not allowed; use an image pinned {pinned} "
                            f"(registry/name:tag, not :latest)")
    return value


def field_path(field: str, key: str) -> str:
    """``field.key``, or ``field key`` joined without a dot when ``field`` is a config namespace (``mlops:``)."""
    return f"{field}{key}" if field.endswith(":") else f"{field}.{key}"


def config_section(args: Mapping[str, Any], key: str, prefix: str) -> dict[str, Any]:
    """A copy of the mapping ``args[key]`` (absent means empty); errors name ``<prefix><key>``."""
    value = args.get(key)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ArgumentError(f"{prefix}{key}: {value!r} is not allowed; use a mapping of {key} settings")
    return dict(value)


def reject_unknown_keys(args: Mapping[str, Any], allowed: set[str] | frozenset[str], field: str) -> None:
    """Raise for the first key of ``args`` that is not in ``allowed``."""
    if not isinstance(args, Mapping):
        raise ArgumentError(f"{field.rstrip(':')}: {args!r} is not allowed; use a mapping")
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
        raise ArgumentError(f"{field}.{key}: {args[key]!r} is not allowed; use a plain string, {meaning}")
    return optional_text(args, key, field, pattern, meaning)


def optional_text(args: Mapping[str, Any], key: str, field: str, pattern: str, meaning: str) -> Any:
    """The value of an optional string argument that must match ``pattern`` when it is a plain string."""
    value = args.get(key)
    if value is None or not isinstance(value, (str, int, float, bool, list, dict, tuple)):
        return value  # absent, or an Output/awaitable that is only known at deployment time
    if not isinstance(value, str) or not re.fullmatch(pattern, value):
        raise ArgumentError(f"{field}.{key}: {value!r} is not allowed; use {meaning}")
    return value


def optional_int(args: Mapping[str, Any], key: str, field: str, default: int, low: int, high: int) -> int:
    """The value of an optional whole-number argument within ``low``..``high``."""
    value = args.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ArgumentError(f"{field}.{key}: {value!r} is not allowed; use an integer from {low} to {high}")
    return value


def optional_bool(args: Mapping[str, Any], key: str, field: str, default: bool) -> bool:
    """The value of an optional true/false argument."""
    value = args.get(key, default)
    if not isinstance(value, bool):
        raise ArgumentError(f"{field}.{key}: {value!r} is not allowed; use true or false")
    return value


def public_access_cidrs(cidrs: Any, public: bool, path: str, private_default: str) -> tuple[str, ...]:
    """The allow-list of a public Kubernetes API endpoint: required and narrower than 0.0.0.0/0 when ``public``,
    refused when not (``private_default`` says what the endpoint is then, e.g. "the endpoint is private")."""
    if not public:
        if cidrs:
            raise ArgumentError(f"{path}: {cidrs!r} is not allowed without public_endpoint: true; {private_default} "
                                f"by default")
        return ()
    allowed = "a non-empty list of IPv4 CIDRs narrower than 0.0.0.0/0, such as 203.0.113.0/24"
    if not isinstance(cidrs, (list, tuple)) or not cidrs:
        raise ArgumentError(f"{path}: {cidrs!r} is not allowed with public_endpoint: true; use {allowed}")
    for cidr in cidrs:
        try:
            network = ipaddress.IPv4Network(cidr)
        except (ValueError, TypeError):
            raise ArgumentError(f"{path}: {cidr!r} is not allowed; use {allowed}") from None
        if network.prefixlen == 0:
            raise ArgumentError(f"{path}: {cidr!r} is not allowed; use {allowed}")
    return tuple(cidrs)
