"""Publishing a Service through a Gateway API HTTPRoute attached to an existing Gateway's HTTPS listener.

What it gives: the validation of a ``route`` argument (the same for every component that can be published) and
the HTTPRoute with its parent reference and hostname. What it deliberately does not: create the Gateway, its
listener or its certificate; those belong to whoever runs the cluster's ingress.
"""

import re
from collections.abc import Mapping
from typing import Any, NotRequired, TypedDict

import pulumi
import pulumi_kubernetes as k8s

from ..validation import DNS_LABEL, ArgumentError, reject_unknown_keys, shown

_HOSTNAME = r"(\*\.)?[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)+"


class RouteArgs(TypedDict):
    """Where to publish: a hostname on a listener of an existing Gateway."""

    hostname: str
    """The DNS name clients use, e.g. ``mlflow.example.com`` (a leading ``*.`` is allowed)."""
    gateway_name: str
    gateway_namespace: str
    listener: NotRequired[str]
    """The Gateway listener (``sectionName``) to attach to; default ``https``, which should terminate TLS."""


def validate_route_args(route: Any, field: str) -> dict[str, str] | None:
    """The route with its default listener, or None when absent; raises ``ArgumentError`` naming the bad key."""
    if route is None:
        return None
    reject_unknown_keys(route, set(RouteArgs.__annotations__), field)
    hostname = route.get("hostname")
    if not isinstance(hostname, str) or len(hostname) > 253 or not re.fullmatch(_HOSTNAME, hostname):
        raise ArgumentError(f"{field}.hostname: {shown(hostname)} is not allowed; use a fully qualified DNS name "
                            f"such as "
                            f"models.example.com")
    route = {"listener": "https", **route}
    for key in ("gateway_name", "gateway_namespace", "listener"):
        value = route.get(key)
        if value is None:
            raise ArgumentError(f"{field}.{key}: missing; it names the Gateway (or its listener) to attach to")
        if not isinstance(value, str) or not re.fullmatch(DNS_LABEL, value):
            raise ArgumentError(f"{field}.{key}: {shown(value)} is not allowed; use a lowercase DNS label")
    return route


def http_route(resource_name: str, *, name: str, namespace: str, route: Mapping[str, str],
               rules: list[dict[str, Any]], opts: pulumi.ResourceOptions) -> k8s.apiextensions.CustomResource:
    """The HTTPRoute ``namespace/name`` on ``route``'s Gateway listener, serving ``rules``."""
    return k8s.apiextensions.CustomResource(
        resource_name,
        api_version="gateway.networking.k8s.io/v1",
        kind="HTTPRoute",
        metadata=k8s.meta.v1.ObjectMetaArgs(name=name, namespace=namespace),
        spec={
            "parentRefs": [{"name": route["gateway_name"], "namespace": route["gateway_namespace"],
                            "sectionName": route["listener"]}],
            "hostnames": [route["hostname"]],
            "rules": rules,
        },
        opts=opts,
    )
