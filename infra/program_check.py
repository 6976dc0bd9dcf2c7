"""Preview a Pulumi program offline and judge it with the policy pack, in one call: what the pytest fixture
``mlops_preview`` (``mlops_platform_offline.pytest_plugin``) gives a consumer's tests."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .analyzer import Violation, run_policy_pack
from .harness import Preview, preview_stack
from .policy_pack import default_policy_pack


@dataclass
class CheckedPreview(Preview):
    """What the program registered (``resources``, ``one``, ``all``, ``outputs``, ...) and the pack's verdict."""

    violations: list[Violation] = field(default_factory=list)
    """Every violation the pack reported, mandatory and advisory."""

    @property
    def mandatory_violations(self) -> list[Violation]:
        """The violations that would fail ``pulumi preview --policy-pack``."""
        return [violation for violation in self.violations if violation.level == "mandatory"]


def check_program(program_dir: str | Path, stack: str, *, config: Mapping[str, str] | None = None,
                  policy_pack: str | Path | None = None, policy_config: str | Path | None = None,
                  policy: bool = True) -> CheckedPreview:
    """Preview ``program_dir`` (a directory with ``Pulumi.yaml``) with ``Pulumi.<stack>.yaml`` and run the policy
    pack on it (the project's ``policies/`` or the installed mlopsguard unless ``policy_pack`` names one;
    ``policy=False`` skips it). ``config`` overrides or adds stack config values by full key
    (``{"aws:region": "eu-west-1"}``); a value given for a ``secure:`` key stays a secret. Raises
    ``mlops_platform_offline.harness.ProgramError`` when the program fails."""
    directory = Path(program_dir)
    preview = preview_stack(directory, stack, config=config)
    violations: list[Violation] = []
    if policy:
        pack = Path(policy_pack) if policy_pack is not None else default_policy_pack(directory)
        violations = run_policy_pack(preview, pack, Path(policy_config) if policy_config is not None else None)
    values = {item.name: getattr(preview, item.name) for item in dataclasses.fields(Preview)}
    return CheckedPreview(**values, violations=violations)
