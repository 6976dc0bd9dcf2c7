"""The resource group a stack's Azure resources live in, and the Log Analytics workspace they send their logs to.

What it gives: one protected resource group in the stack's location, locked against deletion, and a workspace
(PerGB2018, a retention in days) that every component's diagnostic settings write to: the AKS audit log, the
storage account's reads, writes and deletes, PostgreSQL's logs.

What it deliberately does not: span subscriptions or regions, or export logs anywhere else.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NotRequired, TypedDict

import pulumi
import pulumi_azure_native.operationalinsights as operationalinsights
import pulumi_azure_native.resources as resources

from .locks import delete_lock
from ..tagging import tagged_options
from ..validation import ArgumentError, field_path, optional_int, reject_unknown_keys

_ARGS = frozenset({"name", "location", "log_retention_days", "tags"})
_NAME = r"[-\w.()]{0,89}[-\w()]"


class ResourceGroupArgs(TypedDict):
    """Inputs of a resource group. ``name`` and ``location`` are required."""

    name: str
    """The resource group's name (1-90 letters, digits, '-', '_', '.', '(', ')', not ending in '.'); fixed for its
    life, because renaming a group replaces everything in it."""
    location: str
    """The Azure region, such as westeurope."""
    log_retention_days: NotRequired[int]
    """Days the workspace keeps logs, 30-730 (default 90)."""
    tags: NotRequired[Mapping[str, str]]
    """Cost tags for everything the component creates (canonical rules, ``mlops_platform.tags``; AWS tags, GCP
    labels, Azure tags, Kubernetes labels); absent: only what the providers or an enclosing component apply."""


@dataclass(frozen=True)
class ResourceGroupSettings:
    name: str
    location: str
    log_retention_days: int


def validate_resource_group_args(args: Mapping[str, Any], field: str = "resource_group") -> ResourceGroupSettings:
    """Check ``args``; raises ``ArgumentError`` naming the field, the value and what is allowed."""
    reject_unknown_keys(args, _ARGS, field)
    name = args.get("name")
    if not isinstance(name, str) or not re.fullmatch(_NAME, name):
        raise ArgumentError(f"{field_path(field, 'name')}: {name!r} is not allowed; use 1 to 90 letters, digits, "
                            f"'-', '_', '.', '(' or ')', not ending in '.'")
    location = args.get("location")
    if not isinstance(location, str) or not re.fullmatch(r"[a-z][a-z0-9]+", location):
        raise ArgumentError(f"{field_path(field, 'location')}: {location!r} is not allowed; use an Azure region "
                            f"such as westeurope")
    return ResourceGroupSettings(name=name, location=location,
                                 log_retention_days=optional_int(args, "log_retention_days", field, 90, 30, 730))


class ResourceGroup(pulumi.ComponentResource):
    """A protected, delete-locked resource group with the workspace its resources log to."""

    name: pulumi.Output[str]
    id: pulumi.Output[str]
    location: pulumi.Output[str]
    log_workspace_id: pulumi.Output[str]
    """ARM id of the Log Analytics workspace: the destination of every diagnostic setting."""

    def __init__(self, name: str, args: ResourceGroupArgs, opts: pulumi.ResourceOptions | None = None):
        settings = validate_resource_group_args(args)
        super().__init__("mlops:azure:ResourceGroup", name, None,
                         tagged_options(args.get("tags"), opts, "resource_group.tags"))
        child = pulumi.ResourceOptions(parent=self)
        group = resources.ResourceGroup(f"{name}-group", resource_group_name=settings.name,
                                        location=settings.location,
                                        opts=child.merge(pulumi.ResourceOptions(protect=True)))
        delete_lock(f"{name}-group", group.id, "Holds the platform's stateful resources", parent=self)
        workspace = operationalinsights.Workspace(
            f"{name}-logs",
            resource_group_name=group.name,
            location=settings.location,
            sku=operationalinsights.WorkspaceSkuArgs(name="PerGB2018"),
            retention_in_days=settings.log_retention_days,
            features=operationalinsights.WorkspaceFeaturesArgs(enable_log_access_using_only_resource_permissions=True),
            opts=child,
        )
        self.name = group.name
        self.id = group.id
        self.location = group.location
        self.log_workspace_id = workspace.id
        self.register_outputs({"name": self.name, "id": self.id, "location": self.location,
                               "log_workspace_id": self.log_workspace_id})
