"""Reading resource properties the way every rule needs: which cloud a type belongs to, its effective tags, and
values that may be unknown during a preview.

During ``pulumi preview`` many properties are unknown; pulumi-policy raises ``UnknownValueError`` when a rule reads
one. A rule must neither crash on that nor report a violation that only an unknown value caused, so rules read
through :func:`known`, which turns an unknown into :data:`UNKNOWN`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

from pulumi_policy.proxy import UnknownValueError

T = TypeVar("T")


class _Unknown:
    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN: Any = _Unknown()
"""Stands for a value that is unknown until the deployment runs."""

_AZURE_VERSION = re.compile(r"^(azure-native:[^:/]+)/v[^:]+(:.+)$")
_KUBERNETES_TYPE = re.compile(r"kubernetes:(?P<group>[^:]+):(?P<kind>\w+)")
_KUBERNETES_UNLABELLED_GROUPS = ("helm.sh/", "yaml", "kustomize")


def known(read: Callable[[], T]) -> T | Any:
    """``read()``, or :data:`UNKNOWN` when it touches a value that is unknown during preview."""
    try:
        return read()
    except UnknownValueError:
        return UNKNOWN


@lru_cache(maxsize=1)
def _taggable_types() -> dict[str, frozenset[str]]:
    data = json.loads((Path(__file__).parent / "taggable_types.json").read_text())
    return {cloud: frozenset(types) for cloud, types in data.items()}


def cloud_of(resource_type: str) -> str | None:
    """``aws``, ``gcp``, ``azure-native`` or ``kubernetes`` for a provider resource type; None for anything else."""
    package = resource_type.split(":", 1)[0]
    return package if package in ("aws", "gcp", "azure-native", "kubernetes") else None


def is_taggable(resource_type: str) -> bool:
    """Whether the cloud lets this resource type carry tags (labels on GCP and Kubernetes)."""
    cloud = cloud_of(resource_type)
    if cloud == "kubernetes":
        match = _KUBERNETES_TYPE.fullmatch(resource_type)
        return bool(match) and not match["group"].startswith(_KUBERNETES_UNLABELLED_GROUPS) and not match[
            "kind"].endswith("List")
    if cloud is None:
        return False
    return _AZURE_VERSION.sub(r"\1\2", resource_type) in _taggable_types()[cloud]


def effective_tags(resource_type: str, props: Mapping[str, Any], provider_props: Mapping[str, Any] | None) -> Any:
    """The tags the cloud will apply: the resource's own over the provider's defaults (AWS ``defaultTags``, GCP
    ``defaultLabels``). Returns :data:`UNKNOWN` when they cannot be known before deployment."""
    cloud = cloud_of(resource_type)
    if cloud == "kubernetes":
        own = known(lambda: (props.get("metadata") or {}).get("labels"))
        return UNKNOWN if own is UNKNOWN else _string_map(own)
    own_key, default_key = ("labels", "defaultLabels") if cloud == "gcp" else ("tags", "defaultTags")
    own = known(lambda: props.get(own_key))
    defaults = known(lambda: _provider_defaults(cloud, provider_props or {}, default_key))
    if own is UNKNOWN or defaults is UNKNOWN:
        return UNKNOWN
    return {**defaults, **_string_map(own)}


def _provider_defaults(cloud: str | None, provider_props: Mapping[str, Any], key: str) -> dict[str, Any]:
    value = provider_props.get(key)
    if isinstance(value, str):  # provider inputs travel JSON-encoded
        value = json.loads(value) if value.strip() else None
    if cloud == "aws" and isinstance(value, Mapping):
        value = value.get("tags")
    return _string_map(value)


def _string_map(value: Any) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        return {}
    return {str(k): known(lambda k=k: value[k]) for k in value}
