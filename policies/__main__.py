"""Entry point the Pulumi CLI runs: builds the policy pack and serves it. Rules live in ``mlopsguard``."""

from mlopsguard import PACK_DESCRIPTION, PACK_NAME, all_policies
from mlopsguard.servicer import decode_once_per_request
from pulumi_policy import EnforcementLevel, PolicyPack

decode_once_per_request()
PolicyPack(
    name=PACK_NAME,
    description=PACK_DESCRIPTION,
    enforcement_level=EnforcementLevel.ADVISORY,
    policies=all_policies(),
)
