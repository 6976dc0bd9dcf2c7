"""Azure role assignments of the platform: the built-in roles it uses, by name, and one function that assigns one
to one principal on one scope.

The role ids are Azure's fixed built-in role definition GUIDs (``az role definition list --name <role>``); they are
the same in every tenant.
"""

from collections.abc import Mapping
from types import MappingProxyType

import pulumi
import pulumi_azure_native.authorization as authorization

BUILT_IN_ROLES: Mapping[str, str] = MappingProxyType({
    "Storage Blob Data Contributor": "ba92f5b4-2d11-453d-a403-e96b0029c9fe",
    "Storage Blob Data Reader": "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1",
    "Key Vault Crypto User": "12338af0-0e69-4776-bea7-57ae8d297424",
    "Key Vault Crypto Service Encryption User": "e147488a-f6f5-4113-8e2d-b22465e65bf6",
    "Key Vault Contributor": "f25e0fa2-a7c8-4cf3-a5b0-2b4a9ac4d43f",
    "Network Contributor": "4d97b98b-1d4f-4787-a291-c67834d212e7",
    "Azure Kubernetes Service RBAC Cluster Admin": "b1ff04bb-8a4e-4dc4-8eb5-8693973ce19b",
})


def role_definition_id(subscription_id: str, role: str) -> str:
    """The ARM id of a built-in role in one subscription."""
    return f"/subscriptions/{subscription_id}/providers/Microsoft.Authorization/roleDefinitions/{BUILT_IN_ROLES[role]}"


def assign_role(name: str, *, role: str, scope: pulumi.Input[str], principal_id: pulumi.Input[str],
                subscription_id: pulumi.Input[str], parent: pulumi.Resource,
                principal_type: str | None = "ServicePrincipal",
                depends_on: list[pulumi.Resource] | None = None) -> "authorization.RoleAssignment":
    """``role`` for ``principal_id`` on exactly ``scope`` (an ARM id), never wider. Managed identities are
    service principals; ``principal_type`` says so, so Azure need not look the principal up (which fails for a
    principal created seconds earlier)."""
    return authorization.RoleAssignment(
        name,
        principal_id=principal_id,
        principal_type=principal_type,
        role_definition_id=pulumi.Output.from_input(subscription_id).apply(lambda sub: role_definition_id(sub, role)),
        scope=scope,
        description=f"{role} for the platform",
        opts=pulumi.ResourceOptions(parent=parent, depends_on=depends_on or []),
    )
