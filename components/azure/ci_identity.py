"""Keyless Azure credentials for the repository's GitHub Actions workflows: applied once, by hand, per subscription.

What it gives: two user-assigned managed identities in their own resource group, each with federated identity
credentials (issuer ``token.actions.githubusercontent.com``, audience ``api://AzureADTokenExchange``) for exact token
subjects of one repository (``mlops_platform.github_oidc``):

- the preview identity, for ``repo:<owner>/<repo>:pull_request``: ``Reader`` on the subscription;
- the deploy identity, for ``...:ref:refs/heads/<deploy branch>`` and ``...:environment:<deploy environment>``:
  ``Contributor`` and ``Role Based Access Control Administrator`` on the resource groups the platform deploys into
  (``deploy_scopes``), never on the whole subscription.

What it deliberately does not: trust another repository or a fork, use a client secret, or make an identity Owner,
Contributor or User Access Administrator of the subscription. The identities' client ids go into the repository's
variables (``AZURE_PREVIEW_CLIENT_ID``, ``AZURE_DEPLOY_CLIENT_ID``, with ``AZURE_TENANT_ID`` and
``AZURE_SUBSCRIPTION_ID``); a state bucket in a storage account needs ``Storage Blob Data Contributor`` on its
container for both, and a Key Vault secrets provider ``Key Vault Crypto User`` on its key (``state_scopes``).
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NotRequired, TypedDict

import pulumi
import pulumi_azure_native as azure

from ..github_oidc import ISSUER, GitHubTrust, validate_github_trust
from ..tagging import tagged_options, validated_tags
from ..validation import ArgumentError, field_path, reject_unknown_keys

AUDIENCE = "api://AzureADTokenExchange"
READER = "acdd72a7-3385-48ef-bd42-f606fba81ae7"
CONTRIBUTOR = "b24988ac-6180-42a0-ab88-20f7382dd24c"
RBAC_ADMINISTRATOR = "f58310d9-a9f6-439a-9e8d-f62e7b41a168"
STORAGE_BLOB_DATA_CONTRIBUTOR = "ba92f5b4-2d11-453d-a403-e96b0029c9fe"
KEY_VAULT_CRYPTO_USER = "12338af0-0e69-4776-bea7-57ae8d297424"
"""Built-in role definition ids, the same in every tenant (Azure's built-in roles reference)."""
_SUBSCRIPTION = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_RESOURCE_GROUP_SCOPE = rf"/subscriptions/{_SUBSCRIPTION}/resourceGroups/[A-Za-z0-9._()-]{{1,90}}"
_RESOURCE_SCOPE = rf"{_RESOURCE_GROUP_SCOPE}/providers/[A-Za-z0-9./_-]+"
_LOCATION = r"[a-z][a-z0-9]{2,30}"
_ARGS = frozenset({"subscription_id", "location", "repository", "deploy_branch", "deploy_environment",
                   "deploy_scopes", "state_scopes", "tags"})


class CiIdentityArgs(TypedDict):
    """Inputs of the GitHub Actions identities of one repository in one Azure subscription."""

    subscription_id: str
    """The subscription the preview identity reads and the deploy scopes belong to."""
    location: str
    """The Azure region of the identities' resource group, such as westeurope."""
    repository: str
    """The GitHub repository, ``owner/name``; no other repository can use the identities."""
    deploy_branch: NotRequired[str]
    """The branch whose pushes deploy (default ``main``)."""
    deploy_environment: NotRequired[str]
    """The GitHub environment production deployments run in (default ``production``)."""
    deploy_scopes: list[str]
    """Resource group ids (``/subscriptions/<id>/resourceGroups/<name>``) the deploy identity may change."""
    state_scopes: NotRequired[list[str]]
    """The state container (``.../storageAccounts/<a>/blobServices/default/containers/<c>``) and, with an
    ``azurekeyvault://`` secrets provider, its key (``.../vaults/<v>/keys/<k>``): both identities may use them."""
    tags: NotRequired[Mapping[str, str]]
    """Cost tags for the resource group and the identities (canonical rules, ``mlops_platform.tags``)."""


@dataclass(frozen=True)
class CiIdentitySettings:
    subscription_id: str
    location: str
    trust: GitHubTrust
    deploy_scopes: tuple[str, ...]
    state_scopes: tuple[str, ...]


def validate_ci_identity_args(args: Mapping[str, Any], field: str = "ci_identity") -> CiIdentitySettings:
    """Check ``args``; raises ``ArgumentError`` naming the field, the value and what is allowed."""
    reject_unknown_keys(args, _ARGS, field)
    subscription = args.get("subscription_id")
    if not isinstance(subscription, str) or not re.fullmatch(_SUBSCRIPTION, subscription):
        raise ArgumentError(f"{field_path(field, 'subscription_id')}: {subscription!r} is not allowed; use the "
                            f"subscription's id (a lowercase GUID)")
    location = args.get("location")
    if not isinstance(location, str) or not re.fullmatch(_LOCATION, location):
        raise ArgumentError(f"{field_path(field, 'location')}: {location!r} is not allowed; use an Azure region "
                            f"name such as westeurope")
    trust = validate_github_trust(args, field)
    deploy = _scopes(args, "deploy_scopes", field, _RESOURCE_GROUP_SCOPE, subscription, required=True,
                     meaning="resource group ids /subscriptions/<id>/resourceGroups/<name> (never the subscription)")
    state = _scopes(args, "state_scopes", field, _RESOURCE_SCOPE, subscription, required=False,
                    meaning="resource ids under a resource group (the state container, the secrets key)")
    if "tags" in args:
        validated_tags(args["tags"], field_path(field, "tags"))
    return CiIdentitySettings(subscription_id=subscription, location=location, trust=trust, deploy_scopes=deploy,
                              state_scopes=state)


class CiIdentity(pulumi.ComponentResource):
    """Two user-assigned identities federated with one repository's GitHub Actions: preview and deploy."""

    resource_group_name: pulumi.Output[str]
    tenant_id: pulumi.Output[str]
    """For ``AZURE_TENANT_ID``."""
    preview_client_id: pulumi.Output[str]
    """For ``AZURE_PREVIEW_CLIENT_ID``: pull requests of the repository."""
    deploy_client_id: pulumi.Output[str]
    """For ``AZURE_DEPLOY_CLIENT_ID``: the deploy branch and the deploy environment."""

    def __init__(self, name: str, args: CiIdentityArgs, opts: pulumi.ResourceOptions | None = None):
        settings = validate_ci_identity_args(args)
        super().__init__("mlops:azure:CiIdentity", name, None,
                         tagged_options(args.get("tags"), opts, "ci_identity.tags"))
        child = pulumi.ResourceOptions(parent=self)
        group = azure.resources.ResourceGroup(f"{name}-group", location=settings.location,
                                              opts=child.merge(pulumi.ResourceOptions(protect=True)))
        subscription_scope = f"/subscriptions/{settings.subscription_id}"
        identities = {}
        for role_name, subjects, grants in (
                ("preview", settings.trust.preview_subjects, [(subscription_scope, READER)]),
                ("deploy", settings.trust.deploy_subjects,
                 [(scope, role) for scope in settings.deploy_scopes for role in (CONTRIBUTOR, RBAC_ADMINISTRATOR)])):
            identity = azure.managedidentity.UserAssignedIdentity(
                f"{name}-{role_name}", resource_group_name=group.name, location=settings.location,
                opts=child)
            for index, subject in enumerate(subjects):
                azure.managedidentity.FederatedIdentityCredential(
                    f"{name}-{role_name}-github-{index}", resource_group_name=group.name,
                    resource_name_=identity.name, issuer=ISSUER, subject=subject, audiences=[AUDIENCE],
                    opts=child)
            grants += [(scope, role) for scope in settings.state_scopes
                       for role in ((KEY_VAULT_CRYPTO_USER,) if "/vaults/" in scope
                                    else (STORAGE_BLOB_DATA_CONTRIBUTOR,))]
            for index, (scope, role) in enumerate(grants):
                azure.authorization.RoleAssignment(
                    f"{name}-{role_name}-role-{index}", scope=scope, principal_id=identity.principal_id,
                    principal_type="ServicePrincipal",
                    role_definition_id=f"{subscription_scope}/providers/Microsoft.Authorization/roleDefinitions/{role}",
                    opts=child)
            identities[role_name] = identity
        self.resource_group_name = group.name
        self.tenant_id = identities["preview"].tenant_id
        self.preview_client_id = identities["preview"].client_id
        self.deploy_client_id = identities["deploy"].client_id
        self.register_outputs({"resource_group_name": self.resource_group_name, "tenant_id": self.tenant_id,
                               "preview_client_id": self.preview_client_id,
                               "deploy_client_id": self.deploy_client_id})


def _scopes(args: Mapping[str, Any], key: str, field: str, pattern: str, subscription: str, *, required: bool,
            meaning: str) -> tuple[str, ...]:
    if key not in args and not required:
        return ()
    value = args.get(key)
    if not isinstance(value, list) or (required and not value):
        raise ArgumentError(f"{field_path(field, key)}: {value!r} is not allowed; use a list of {meaning}")
    for index, scope in enumerate(value):
        if not isinstance(scope, str) or not re.fullmatch(pattern, scope) or \
                not scope.startswith(f"/subscriptions/{subscription}/"):
            raise ArgumentError(f"{field_path(field, key)}[{index}]: {scope!r} is not allowed; use {meaning} in "
                                f"subscription {subscription}")
    return tuple(value)
