"""Attach the canonical cost tags to every taggable resource, without touching each resource by hand.

Three ways in, one set of rules (``mlops_platform.tags``):

- a component's own ``tags`` argument: :func:`tagged_options` scopes :func:`cost_tag_transform` to the component's
  tree, so a program that uses one component alone gets tagged resources;
- one line for the whole program: :func:`register_cost_tags` registers the same transform for every resource of the
  stack;
- provider defaults: AWS and GCP providers can carry the tags themselves (``default_tags`` / ``default_labels``, see
  :func:`aws_default_tags` and :func:`gcp_default_labels`), which is how ``MlopsPlatform`` tags its cloud
  resources; its transform then adds the tags only where no provider default exists (Azure Native, Kubernetes).

Tags a resource sets itself win over the canonical ones, as with AWS provider default tags.
"""

import importlib
import re
from functools import lru_cache
from typing import Any

import pulumi

from .tags import CostTags, TagError
from .validation import ArgumentError

_AWS_TYPE = re.compile(r"aws:(?P<module>[A-Za-z0-9_]+)/[A-Za-z0-9_]+:(?P<cls>\w+)")
_GCP_TYPE = re.compile(r"gcp:(?P<module>[A-Za-z0-9_]+)/[A-Za-z0-9_]+:(?P<cls>\w+)")
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


def validated_tags(tags: object, field: str) -> CostTags:
    """``tags`` checked against the canonical rules; a bad tag raises ``ArgumentError`` naming ``field``."""
    try:
        return tags if isinstance(tags, CostTags) else CostTags.from_mapping(tags, field=field)  # type: ignore
    except TagError as error:
        raise ArgumentError(str(error)) from None


def tagged_options(tags: object, opts: pulumi.ResourceOptions | None, field: str) -> pulumi.ResourceOptions | None:
    """A component's options with its ``tags`` argument applied to everything beneath it (every cloud's resources
    and Kubernetes objects); ``opts`` unchanged when ``tags`` is absent. Validates the tags first (errors name
    ``field``)."""
    if tags is None:
        return opts
    transform = cost_tag_transform(validated_tags(tags, field), provider_defaults=False)
    return pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(transforms=[transform]))


def register_cost_tags(tags: object) -> CostTags:
    """Tag every resource the program creates from here on (AWS tags, GCP labels, Azure tags, Kubernetes labels):
    one line at the top of a program, ``register_cost_tags({"environment": "dev", "project": "churn", ...})``.
    Returns the validated tags."""
    cost_tags = validated_tags(tags, "tags")
    pulumi.runtime.register_resource_transform(cost_tag_transform(cost_tags, provider_defaults=False))
    return cost_tags


def cost_tag_transform(tags: CostTags, *, provider_defaults: bool = True) -> pulumi.ResourceTransform:
    """A resource transform that adds the cost tags to Azure Native resources and labels to Kubernetes objects, and,
    unless ``provider_defaults`` says the AWS and GCP providers already carry them, tags to AWS resources and
    labels to GCP resources."""
    azure_tags = tags.for_azure()
    kubernetes_labels = tags.for_kubernetes()
    aws_tags = tags.for_aws()
    gcp_labels = tags.for_gcp()

    def transform(args: pulumi.ResourceTransformArgs) -> pulumi.ResourceTransformResult | None:
        if not args.custom:
            return None
        if not provider_defaults and is_aws_taggable(args.type_):
            props = dict(args.props)
            props["tags"] = _merged(aws_tags, props.get("tags"))
            return pulumi.ResourceTransformResult(props, args.opts)
        if not provider_defaults and is_gcp_labellable(args.type_):
            props = dict(args.props)
            props["labels"] = _merged(gcp_labels, props.get("labels"))
            return pulumi.ResourceTransformResult(props, args.opts)
        if is_azure_taggable(args.type_):
            props = dict(args.props)
            props["tags"] = _merged(azure_tags, props.get("tags"))
            return pulumi.ResourceTransformResult(props, args.opts)
        if is_kubernetes_labellable(args.type_):
            return pulumi.ResourceTransformResult(_labelled(args.type_, dict(args.props), kubernetes_labels), args.opts)
        return None

    return transform


@lru_cache(maxsize=None)
def is_aws_taggable(resource_type: str) -> bool:
    """Whether a pulumi-aws resource type takes a ``tags`` map (not the list of an Auto Scaling group's tags)."""
    return _takes_map(_AWS_TYPE, "pulumi_aws", resource_type, "tags")


@lru_cache(maxsize=None)
def is_gcp_labellable(resource_type: str) -> bool:
    """Whether a pulumi-gcp resource type takes a ``labels`` map."""
    return _takes_map(_GCP_TYPE, "pulumi_gcp", resource_type, "labels")


def _takes_map(pattern: re.Pattern[str], package: str, resource_type: str, argument: str) -> bool:
    match = pattern.fullmatch(resource_type)
    if match is None:
        return False
    module_name = package if match["module"] == "index" else f"{package}.{match['module']}"
    try:
        args_class = getattr(importlib.import_module(module_name), f"{match['cls']}Args")
    except (ImportError, AttributeError):
        return False
    prop = vars(args_class).get(argument)
    return isinstance(prop, property) and "Mapping" in str(prop.fget.__annotations__.get("return", ""))


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
