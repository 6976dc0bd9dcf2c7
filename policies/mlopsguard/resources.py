"""Reading resource properties the way every rule needs: which cloud a type belongs to, its effective tags, and
values that may be unknown during a preview.

During ``pulumi preview`` many properties are unknown; pulumi-policy raises ``UnknownValueError`` when a rule reads
one. A rule must neither crash on that nor report a violation that only an unknown value caused, so rules read
through :func:`known`, which turns an unknown into :data:`UNKNOWN`.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

from pulumi_policy.proxy import UnknownValueError

from .stack_index import index_of

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


def string_map(value: Any) -> dict[str, Any]:
    """A mapping property as a plain dict, each value read through :func:`known`; {} for anything else."""
    return _string_map(value)


def _string_map(value: Any) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        return {}
    return {str(k): known(lambda k=k: value[k]) for k in value}


def get(props: Any, *path: Any) -> Any:
    """The value at ``path`` (keys and list indexes) inside ``props``: None when any step is missing,
    :data:`UNKNOWN` when any step is unknown during preview. Never raises."""
    value = props
    for step in path:
        if value is UNKNOWN or value is None:
            return value
        try:
            if isinstance(step, int):
                value = value[step] if isinstance(value, Sequence) and not isinstance(value, str) and -len(
                    value) <= step < len(value) else None
            elif isinstance(value, Mapping):
                value = value.get(step)
            else:
                return None
        except UnknownValueError:
            return UNKNOWN
    return value


def items(value: Any) -> list[Any]:
    """The elements of a list property, each read through :func:`known`; [] for a missing or unknown list (an
    unknown list decides nothing), a one-element list for a lone mapping (some providers take either)."""
    if value is None or value is UNKNOWN or isinstance(value, str):
        return []
    if isinstance(value, Mapping):
        return [value]
    try:
        return [known(lambda i=i: value[i]) for i in range(len(value))]
    except (TypeError, UnknownValueError):
        return []


def json_document(value: Any) -> Any:
    """A JSON document property (IAM and bucket policies travel as strings): parsed, or None when it is not
    JSON, or :data:`UNKNOWN` when it is unknown."""
    if value is UNKNOWN or value is None:
        return value
    if isinstance(value, Mapping):
        return value
    if isinstance(value, str):
        if UNKNOWN_SENTINEL in value:
            return UNKNOWN
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return None
    return None


UNKNOWN_SENTINEL = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
"""How the engine sends an unknown value on the wire; it can also hide inside an interpolated string."""


def environment_of(tags: Any) -> Any:
    """The ``environment`` cost tag among ``tags``, None when absent, :data:`UNKNOWN` when unknown."""
    if tags is UNKNOWN:
        return UNKNOWN
    return tags.get("environment")


def is_production(resource_type: str, props: Mapping[str, Any], provider_props: Mapping[str, Any] | None,
                  config: Mapping[str, Any]) -> Any:
    """Whether a resource belongs to production: the stack is one of ``productionStacks`` (read from
    ``PULUMI_STACK``, which the engine sets for the pack), or its ``environment`` tag is one of
    ``productionEnvironments``. :data:`UNKNOWN` when only an unknown tag could tell."""
    if current_stack() in config.get("productionStacks", ()):
        return True
    environment = environment_of(effective_tags(resource_type, props, provider_props))
    if environment is UNKNOWN:
        return UNKNOWN
    return environment in config.get("productionEnvironments", ())


def current_stack() -> str:
    """The stack the engine runs the pack for."""
    return os.environ.get("PULUMI_STACK", "")


def stack_is_production(resources: Sequence[Any], config: Mapping[str, Any]) -> bool:
    """Whether a stack is production: its name is a production stack, or any resource is tagged with a production
    environment."""
    if current_stack() in config.get("productionStacks", ()):
        return True
    wanted = set(config.get("productionEnvironments", ()))
    for resource in resources:
        provider_props = resource.provider.props if resource.provider is not None else None
        environment = environment_of(effective_tags(resource.resource_type, resource.props, provider_props))
        if environment not in (None, UNKNOWN) and environment in wanted:
            return True
    return False


PRODUCTION_SCHEMA_PROPERTIES: dict[str, Any] = {
    "productionStacks": {
        "type": "array", "items": {"type": "string"}, "default": ["prod", "aws-prod", "gcp-prod", "azure-prod"],
        "description": "Stack names that are production.",
    },
    "productionEnvironments": {
        "type": "array", "items": {"type": "string"}, "default": ["prod", "production"],
        "description": "Values of the `environment` cost tag that mark a resource as production.",
    },
}
"""The config properties of every rule whose verdict depends on being in production."""


def refers_to(resource: Any, prop: str, target: Any) -> bool:
    """Whether ``resource``'s property ``prop`` points at ``target`` (a stack resource): through the property's
    recorded dependency (how the engine links an output passed as input), or by naming the target's known
    ``bucket``/``name``/``metadata.name``."""
    dependencies = resource.property_dependencies.get(prop) or ()
    if any(dependency.urn == target.urn for dependency in dependencies):
        return True
    value = known(lambda: resource.props.get(prop))
    if not isinstance(value, str) or not value:
        return False
    names = {target.name, get(target.props, "bucket"), get(target.props, "name"),
             get(target.props, "metadata", "name")}
    return value in names


# The stack lookups below answer from the request's shared index (``stack_index``) when the pack's servicer gave
# the rules one, and by scanning ``resources`` otherwise; both give the same answer in the same order.

def referring(resources: Sequence[Any], types: frozenset[str] | set[str], prop: str, target: Any) -> list[Any]:
    """The stack resources of ``types`` whose ``prop`` refers to ``target`` (see :func:`refers_to`)."""
    index = index_of(resources)
    if index is not None:
        return index.referring(types, prop, target)
    return [r for r in of_types(resources, types) if refers_to(r, prop, target)]


def referred(resources: Sequence[Any], source: Any, prop: str, types: frozenset[str] | set[str]) -> list[Any]:
    """The stack resources of ``types`` that ``source``'s ``prop`` refers to (see :func:`refers_to`)."""
    index = index_of(resources)
    if index is not None:
        return index.referred(source, prop, types)
    return [r for r in of_types(resources, types) if refers_to(source, prop, r)]


def undecided_links(resources: Sequence[Any], types: frozenset[str] | set[str], prop: str) -> bool:
    """Whether some resource of ``types`` points somewhere unknown through ``prop`` (no recorded dependency, value
    unknown): then "nothing refers to X" cannot be concluded during preview."""
    index = index_of(resources)
    if index is not None:
        return index.undecided(types, prop)
    return any(not resource.property_dependencies.get(prop) and get(resource.props, prop) is UNKNOWN
               for resource in resources if resource.resource_type in types)


def of_types(resources: Sequence[Any], types: frozenset[str] | set[str]) -> list[Any]:
    """The stack resources whose type is one of ``types``."""
    index = index_of(resources)
    if index is not None:
        return index.of_types(types)
    return [resource for resource in resources if resource.resource_type in types]
