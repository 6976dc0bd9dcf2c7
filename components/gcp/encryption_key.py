"""One function creates the Cloud KMS key a Google service encrypts with on the platform's behalf (GKE Secrets,
GCS objects, Cloud SQL storage): a key ring in the resource's location, a key that rotates every 90 days and is
protected, and the encrypt/decrypt grant for that service's agent on this key only."""

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp
from pulumi import Input

ROTATION_PERIOD = "7776000s"
"""90 days."""
DESTROY_SCHEDULED = "2592000s"
"""30 days to cancel a key's destruction, like the AWS KMS deletion window."""
ENCRYPTER_DECRYPTER = "roles/cloudkms.cryptoKeyEncrypterDecrypter"


@dataclass(frozen=True)
class ServiceKey:
    key: gcp.kms.CryptoKey
    grant: gcp.kms.CryptoKeyIAMMember
    """The service agent's use of the key: whatever encrypts with it must depend on this grant."""


def service_encryption_key(name: str, *, parent: pulumi.Resource, location: Input[str], project: Input[str],
                           agent_member: Input[str]) -> ServiceKey:
    """A protected, rotated key in ``location`` that only ``agent_member`` (``serviceAccount:service-...``) may
    use to encrypt and decrypt."""
    child = pulumi.ResourceOptions(parent=parent)
    ring = gcp.kms.KeyRing(f"{name}-ring", location=location, project=project, opts=child)
    key = gcp.kms.CryptoKey(
        name,
        key_ring=ring.id,
        purpose="ENCRYPT_DECRYPT",
        rotation_period=ROTATION_PERIOD,
        destroy_scheduled_duration=DESTROY_SCHEDULED,
        opts=child.merge(pulumi.ResourceOptions(protect=True)),
    )
    grant = gcp.kms.CryptoKeyIAMMember(f"{name}-agent", crypto_key_id=key.id, role=ENCRYPTER_DECRYPTER,
                                       member=agent_member, opts=child)
    return ServiceKey(key=key, grant=grant)
