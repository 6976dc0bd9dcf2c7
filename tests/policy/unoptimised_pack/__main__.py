"""The pack's rules served by pulumi-policy's own servicer: every policy decodes every request itself and the
stack rules get plain lists, so they scan instead of sharing an index. ``test_optimised_pack.py`` compares the
real pack (policies/) with this one."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "policies"))

from mlopsguard import PACK_DESCRIPTION, PACK_NAME, all_policies  # noqa: E402
from pulumi_policy import EnforcementLevel, PolicyPack  # noqa: E402

PolicyPack(
    name=PACK_NAME,
    description=PACK_DESCRIPTION,
    enforcement_level=EnforcementLevel.ADVISORY,
    policies=all_policies(),
)
