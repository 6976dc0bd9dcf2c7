"""Customer-managed keys in Azure Key Vault: one vault and one rotating key per purpose (the cluster's etcd
secrets, the artifact account, the database), so that revoking one never affects another.

Every vault uses Azure RBAC (no access policies), purge protection and 90-day soft delete, so a deleted key can be
recovered and never purged early; its firewall denies every network and admits only trusted Azure services (the
storage and database services that wrap their data keys with it; AKS reaches it over its own private link). Keys
are RSA 2048, rotate every 90 days, and are protected; the vault is also delete-locked.
"""

import re
from dataclasses import dataclass

import pulumi
import pulumi_azure_native.keyvault as keyvault
import pulumi_random as random

from .locks import delete_lock

ROTATION_PERIOD = "P90D"
"""ISO 8601 duration after which Key Vault creates a new key version."""


@dataclass(frozen=True)
class EncryptionKey:
    vault: "keyvault.Vault"
    key: "keyvault.Key"

    @property
    def vault_id(self) -> pulumi.Output[str]:
        return self.vault.id

    @property
    def vault_uri(self) -> pulumi.Output[str]:
        return self.vault.properties.apply(lambda properties: properties.vault_uri)


def encryption_key(name: str, *, purpose: str, vault_name_prefix: str, resource_group_name: pulumi.Input[str],
                   location: str, tenant_id: pulumi.Input[str], parent: pulumi.Resource) -> EncryptionKey:
    """A vault (``<vault_name_prefix><8 random characters>``, at most 23 in all) holding one rotating key named
    after ``purpose``. Vault names are global; the random suffix is generated once and kept in the state."""
    prefix = re.sub(r"-+", "-", vault_name_prefix[:15])  # vault names allow no "--"
    child = pulumi.ResourceOptions(parent=parent)
    stateful = child.merge(pulumi.ResourceOptions(protect=True))
    suffix = random.RandomString(f"{name}-vault-suffix", length=8, special=False, upper=False, numeric=True,
                                 opts=child)
    vault = keyvault.Vault(
        f"{name}-vault",
        resource_group_name=resource_group_name,
        location=location,
        vault_name=suffix.result.apply(lambda tail: f"{prefix}{tail}"),
        properties=keyvault.VaultPropertiesArgs(
            tenant_id=tenant_id,
            sku=keyvault.SkuArgs(family="A", name=keyvault.SkuName.STANDARD),
            enable_rbac_authorization=True,
            enable_purge_protection=True,
            enable_soft_delete=True,
            soft_delete_retention_in_days=90,
            public_network_access="Enabled",
            network_acls=keyvault.NetworkRuleSetArgs(default_action=keyvault.NetworkRuleAction.DENY,
                                                     bypass=keyvault.NetworkRuleBypassOptions.AZURE_SERVICES),
        ),
        opts=stateful,
    )
    delete_lock(f"{name}-vault", vault.id, f"Holds the key of {purpose}", parent=parent)
    key = keyvault.Key(
        f"{name}-key",
        resource_group_name=resource_group_name,
        vault_name=vault.name,
        key_name=purpose,
        properties=keyvault.KeyPropertiesArgs(
            kty=keyvault.JsonWebKeyType.RSA,
            key_size=2048,
            key_ops=["encrypt", "decrypt", "wrapKey", "unwrapKey"],
            rotation_policy=keyvault.RotationPolicyArgs(lifetime_actions=[
                keyvault.LifetimeActionArgs(
                    action=keyvault.ActionArgs(type=keyvault.KeyRotationPolicyActionType.ROTATE),
                    trigger=keyvault.TriggerArgs(time_after_create=ROTATION_PERIOD),
                ),
            ]),
        ),
        opts=stateful,
    )
    return EncryptionKey(vault=vault, key=key)
