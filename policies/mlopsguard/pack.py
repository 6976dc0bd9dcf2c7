"""The policy pack itself: what a pack directory's ``__main__.py`` runs, in this repository (``policies/``, which the
Pulumi CLI loads with ``--policy-pack policies``) and in the directory the offline tools write for an installed
mlopsguard (``mlops_platform_offline.policy_pack``)."""

from pulumi_policy import EnforcementLevel, PolicyPack

from . import PACK_DESCRIPTION, PACK_NAME, all_policies
from .servicer import decode_once_per_request


def serve() -> PolicyPack:
    """Build the pack and serve it to the engine that started this process (``python -m pulumi.policy``)."""
    decode_once_per_request()
    return PolicyPack(
        name=PACK_NAME,
        description=PACK_DESCRIPTION,
        enforcement_level=EnforcementLevel.ADVISORY,
        policies=all_policies(),
    )
