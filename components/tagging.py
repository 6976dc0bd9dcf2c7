"""Attach the canonical cost tags to every taggable resource, without touching each resource by hand.

AWS and GCP carry the tags as provider defaults (``default_tags`` / ``default_labels``, see
:func:`aws_default_tags` and :func:`gcp_default_labels`), so the cloud applies them to everything the provider
creates. Azure Native and Kubernetes have no such setting, so :func:`cost_tag_transform` returns a Pulumi resource
transform that adds them to each resource's own inputs. Register it once per program
(``pulumi.runtime.register_resource_transform``) or pass it in ``ResourceOptions(transforms=[...])`` to scope it to
one component tree.

Tags a resource sets itself win over the canonical ones, as with AWS provider default tags.
"""

import importlib
import re
from functools import lru_cache
from typing import Any

import pulumi

from .tags import CostTags

_AZURE_TYPE = re.compile(r"azure-native:(?P<module>[A-Za-z0-9_.]+)(?:/(?P<version>v[A-Za-z0-9]+))?:(?P<cls>\w+)")
_KUBERNETES_TYPE = re.compile(r"kubernetes:(?P<group>[^:]+):(?P<kind>\w+)")
_KUBERNETES_UNLABELLED_GROUPS = ("helm.sh/", "yaml", "kustomize")
_POD_TEMPLATE_KINDS = ("Deployment", "StatefulSet", "DaemonSet")
"""Workloads whose pods get the labels too, so per-pod cost tools can attribute them. Jobs are left out: their pod
template is immutable, and a tag change must never force a replacement."""


def aws_default_tags(tags: CostTags) -> dict[str, Any]:
    """The ``default_tags`` argument of an ``aws.Provider``."""
    return {"tags": tags.for_aws()}


def gcp_default_labels(tags: CostTags) -> dict[str, str]:
    """The ``default_labels`` argument of a ``gcp.Provider``."""
    return tags.for_gcp()


def cost_tag_transform(tags: CostTags) -> pulumi.ResourceTransform:
    """A resource transform that adds the cost tags to Azure Native resources and labels to Kubernetes objects."""
    azure_tags = tags.for_azure()
    kubernetes_labels = tags.for_kubernetes()

    def transform(args: pulumi.ResourceTransformArgs) -> pulumi.ResourceTransformResult | None:
        if not args.custom:
            return None
        if is_azure_taggable(args.type_):
            props = dict(args.props)
            props["tags"] = _merged(azure_tags, props.get("tags"))
            return pulumi.ResourceTransformResult(props, args.opts)
        if is_kubernetes_labellable(args.type_):
            return pulumi.ResourceTransformResult(_labelled(args.type_, dict(args.props), kubernetes_labels), args.opts)
        return None

    return transform


@lru_cache(maxsize=None)
def is_azure_taggable(resource_type: str) -> bool:
    """Whether an azure-native resource type takes ``tags``, read from the SDK's public ``<Resource>Args`` class."""
    match = _AZURE_TYPE.fullmatch(resource_type)
    if match is None:
        return False
    # An explicit API version the SDK does not ship takes the default version's shape.
    modules = [f"pulumi_azure_native.{match['module']}.{match['version']}"] if match["version"] else []
    modules.append(f"pulumi_azure_native.{match['module']}")
    for module_name in modules:
        try:
            args_class = getattr(importlib.import_module(module_name), f"{match['cls']}Args")
        except (ImportError, AttributeError):
            continue
        return isinstance(vars(args_class).get("tags"), property)
    return False


def is_kubernetes_labellable(resource_type: str) -> bool:
    """Whether a pulumi-kubernetes type is a single Kubernetes object with ``metadata`` (not a Helm release, a
    YAML/Kustomize component or a List kind)."""
    match = _KUBERNETES_TYPE.fullmatch(resource_type)
    if match is None or match["group"].startswith(_KUBERNETES_UNLABELLED_GROUPS):
        return False
    return not match["kind"].endswith("List")


def _labelled(resource_type: str, props: dict[str, Any], labels: dict[str, str]) -> dict[str, Any]:
    props["metadata"] = _with_labels(props.get("metadata"), labels)
    kind = resource_type.rsplit(":", 1)[1]
    spec = props.get("spec")
    if kind in _POD_TEMPLATE_KINDS and isinstance(spec, dict) and isinstance(spec.get("template"), dict):
        template = dict(spec["template"])
        template["metadata"] = _with_labels(template.get("metadata"), labels)
        props["spec"] = {**spec, "template": template}
    return props


def _with_labels(metadata: Any, labels: dict[str, str]) -> Any:
    if metadata is None:
        return {"labels": dict(labels)}
    if isinstance(metadata, dict):
        return {**metadata, "labels": _merged(labels, metadata.get("labels"))}
    return pulumi.Output.from_input(metadata).apply(lambda known: _with_labels(known, labels))


def _merged(defaults: dict[str, str], own: Any) -> Any:
    if own is None:
        return dict(defaults)
    if isinstance(own, dict):
        return {**defaults, **own}
    return pulumi.Output.from_input(own).apply(lambda known: {**defaults, **(known or {})})
