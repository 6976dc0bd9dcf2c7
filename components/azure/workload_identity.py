"""Microsoft Entra workload identity: Azure credentials for exactly one Kubernetes ServiceAccount, no secrets.

What it gives: a user-assigned managed identity with one federated identity credential that trusts a token from
the cluster's OIDC issuer only when its subject is ``system:serviceaccount:<namespace>:<name>`` and its audience
``api://AzureADTokenExchange``, and one role assignment on the artifact container (Storage Blob Data Contributor,
or Storage Blob Data Reader when read-only), never on the account, the group or the subscription. The outputs are
what the AKS workload identity webhook reads: the ServiceAccount annotation ``azure.workload.identity/client-id``
and the pod label ``azure.workload.identity/use``, on which it projects the token and sets ``AZURE_CLIENT_ID``,
``AZURE_TENANT_ID``, ``AZURE_FEDERATED_TOKEN_FILE`` and ``AZURE_AUTHORITY_HOST`` in the pod.

What it deliberately does not: grant anything but blob data access to one container (the database access of
MLflow's identity is the database's Entra role, made by the database bootstrap).
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NotRequired, TypedDict

import pulumi
import pulumi_azure_native.authorization as authorization
import pulumi_azure_native.managedidentity as managedidentity
from pulumi import Input

from .roles import assign_role
from ..service_account_binding import validate_service_account_binding
from ..tagging import tagged_options
from ..validation import ArgumentError, field_path, optional_bool, reject_unknown_keys

CLIENT_ID_ANNOTATION = "azure.workload.identity/client-id"
USE_LABEL = "azure.workload.identity/use"
TOKEN_AUDIENCE = "api://AzureADTokenExchange"
_ARGS = frozenset({"oidc_issuer", "namespace", "service_account", "resource_group_name", "location",
                   "container_id", "read_only", "existing_identity", "tags"})


class ExistingIdentityArgs(TypedDict):
    """A managed identity made elsewhere (the database user's), to federate and grant instead of making one."""

    name: Input[str]
    client_id: Input[str]
    principal_id: Input[str]


class WorkloadIdentityArgs(TypedDict):
    """Inputs of a workload identity: which ServiceAccount, and which container it may use."""

    oidc_issuer: Input[str]
    """The cluster's OIDC issuer URL (``https://<region>.oic.prod-aks.azure.com/...``)."""
    namespace: str
    """The ServiceAccount's namespace (a DNS label)."""
    service_account: str
    """The ServiceAccount's name (a DNS subdomain, at most 253 characters)."""
    resource_group_name: Input[str]
    location: str
    container_id: Input[str]
    """ARM id of the artifact container the workload may use; no other."""
    read_only: NotRequired[bool]
    """Read and list only (a model endpoint); default false (MLflow writes artifacts)."""
    existing_identity: NotRequired[ExistingIdentityArgs]
    """Federate and grant this identity instead of making a new one."""
    tags: NotRequired[Mapping[str, str]]
    """Cost tags for everything the component creates (canonical rules, ``mlops_platform.tags``; AWS tags, GCP
    labels, Azure tags, Kubernetes labels); absent: only what the providers or an enclosing component apply."""


@dataclass(frozen=True)
class WorkloadIdentitySettings:
    oidc_issuer: Any
    namespace: str
    service_account: str
    resource_group_name: Any
    location: str
    container_id: Any
    read_only: bool
    existing_identity: Any = None

    @property
    def subject(self) -> str:
        return service_account_subject(self.namespace, self.service_account)


def service_account_subject(namespace: str, service_account: str) -> str:
    """The ``sub`` claim of a Kubernetes service-account token."""
    return f"system:serviceaccount:{namespace}:{service_account}"


def federate(name: str, *, identity_name: Input[str], resource_group_name: Input[str], oidc_issuer: Input[str],
             subject: str, parent: pulumi.Resource) -> "managedidentity.FederatedIdentityCredential":
    """The one federated credential of a managed identity: Entra trusts tokens of ``oidc_issuer`` with exactly
    ``subject`` and the token-exchange audience, and nothing else."""
    return managedidentity.FederatedIdentityCredential(
        name,
        resource_group_name=resource_group_name,
        resource_name_=identity_name,
        federated_identity_credential_resource_name="kubernetes-service-account",
        issuer=oidc_issuer,
        subject=subject,
        audiences=[TOKEN_AUDIENCE],
        opts=pulumi.ResourceOptions(parent=parent),
    )


def validate_workload_identity_args(args: Mapping[str, Any],
                                    field: str = "workload_identity") -> WorkloadIdentitySettings:
    """Check ``args``; raises ``ArgumentError`` naming the field, the value and what is allowed."""
    reject_unknown_keys(args, _ARGS, field)
    for key in ("oidc_issuer", "resource_group_name", "location", "container_id"):
        if args.get(key) is None:
            raise ArgumentError(f"{field_path(field, key)}: missing; it is required")
    issuer = args["oidc_issuer"]
    if isinstance(issuer, str) and not issuer.startswith("https://"):
        raise ArgumentError(f"{field_path(field, 'oidc_issuer')}: {issuer!r} is not allowed; use the cluster's "
                            f"https:// OIDC issuer URL")
    namespace, account = validate_service_account_binding(args, field)
    container = args["container_id"]
    if isinstance(container, str) and "/blobServices/default/containers/" not in container:
        raise ArgumentError(f"{field_path(field, 'container_id')}: {container!r} is not allowed; use the ARM id of "
                            f"one blob container (.../storageAccounts/<account>/blobServices/default/containers/"
                            f"<name>), never an account, group or subscription")
    return WorkloadIdentitySettings(
        oidc_issuer=issuer,
        namespace=namespace,
        service_account=account,
        resource_group_name=args["resource_group_name"],
        location=args["location"],
        container_id=container,
        read_only=optional_bool(args, "read_only", field, False),
        existing_identity=args.get("existing_identity"),
    )


class WorkloadIdentity(pulumi.ComponentResource):
    """A managed identity for one Kubernetes ServiceAccount, with blob access to one container only."""

    client_id: pulumi.Output[str]
    principal_id: pulumi.Output[str]
    """The identity's Entra object id (what role assignments and PostgreSQL roles name)."""
    name: pulumi.Output[str]
    """The identity's name: the PostgreSQL role name its Entra sign-ins map to."""
    service_account_annotations: pulumi.Output[dict[str, str]]
    """``{"azure.workload.identity/client-id": <client id>}``: put it on the ServiceAccount."""
    service_account_labels: pulumi.Output[dict[str, str]]
    """``{"azure.workload.identity/use": "true"}``: put it on the pods (and the ServiceAccount)."""

    def __init__(self, name: str, args: WorkloadIdentityArgs, opts: pulumi.ResourceOptions | None = None):
        settings = validate_workload_identity_args(args)
        super().__init__("mlops:azure:WorkloadIdentity", name, None,
                         tagged_options(args.get("tags"), opts, "workload_identity.tags"))
        child = pulumi.ResourceOptions(parent=self)
        client = authorization.get_client_config_output(opts=pulumi.InvokeOutputOptions(parent=self))
        if settings.existing_identity is None:
            made = managedidentity.UserAssignedIdentity(f"{name}-identity",
                                                        resource_group_name=settings.resource_group_name,
                                                        location=settings.location, opts=child)
            identity_name, client_id, principal_id = made.name, made.client_id, made.principal_id
        else:
            existing = settings.existing_identity
            identity_name, client_id, principal_id = (pulumi.Output.from_input(existing["name"]),
                                                      pulumi.Output.from_input(existing["client_id"]),
                                                      pulumi.Output.from_input(existing["principal_id"]))
        federate(f"{name}-federation", identity_name=identity_name, resource_group_name=settings.resource_group_name,
                 oidc_issuer=settings.oidc_issuer, subject=settings.subject, parent=self)
        assign_role(f"{name}-artifacts",
                    role="Storage Blob Data Reader" if settings.read_only else "Storage Blob Data Contributor",
                    scope=settings.container_id, principal_id=principal_id,
                    subscription_id=client.subscription_id, parent=self)
        self.client_id = client_id
        self.principal_id = principal_id
        self.name = identity_name
        self.service_account_annotations = client_id.apply(lambda cid: {CLIENT_ID_ANNOTATION: cid})
        self.service_account_labels = pulumi.Output.from_input({USE_LABEL: "true"})
        self.register_outputs({"client_id": self.client_id, "principal_id": self.principal_id, "name": self.name,
                               "service_account_annotations": self.service_account_annotations,
                               "service_account_labels": self.service_account_labels})
