"""How a rule is described: its frameworks, severity and default level travel with the policy object.

pulumi-policy gives a policy one ``framework``; auditors need several (CIS, NIST SP 800-53, PCI DSS, ISO 27001).
A rule lists them all as :class:`Control` values, carried in the policy's ``tags`` (``control:<framework>|<version>|
<id>``) so that anything speaking the analyzer protocol (the CLI, the compliance report) can read them; the first one
also fills the policy's own ``framework`` field, which the Pulumi Cloud console shows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import ClassVar
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyComplianceFramework,
    PolicyConfigSchema,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
    StackValidationArgs,
    StackValidationPolicy,
)


@dataclass(frozen=True)
class Control:
    """One framework control a rule implements, e.g. ``Control("NIST SP 800-53", "rev5", "CM-8")``."""

    framework: str
    version: str
    control: str

    TAG_PREFIX: ClassVar[str] = "control:"

    def as_tag(self) -> str:
        return f"{self.TAG_PREFIX}{self.framework}|{self.version}|{self.control}"

    @classmethod
    def from_tag(cls, tag: str) -> Control | None:
        """The control a policy tag names, or None for a tag that names none."""
        if not tag.startswith(cls.TAG_PREFIX):
            return None
        framework, version, control = tag[len(cls.TAG_PREFIX):].split("|", 2)
        return cls(framework, version, control)


def resource_rule(
    *,
    name: str,
    description: str,
    severity: Severity,
    level: EnforcementLevel,
    controls: Sequence[Control],
    validate: Callable[[ResourceValidationArgs, Callable[..., None]], None],
    config_schema: PolicyConfigSchema | None = None,
    remediate: Callable[[ResourceValidationArgs], Any] | None = None,
    remediation_steps: str | None = None,
) -> ResourceValidationPolicy:
    """A resource policy with its framework controls recorded."""
    return ResourceValidationPolicy(
        name=name,
        description=description,
        enforcement_level=level,
        severity=severity,
        validate=validate,
        remediate=remediate,
        config_schema=config_schema,
        framework=_framework(controls),
        tags=[control.as_tag() for control in controls],
        remediation_steps=remediation_steps,
    )


def stack_rule(
    *,
    name: str,
    description: str,
    severity: Severity,
    level: EnforcementLevel,
    controls: Sequence[Control],
    validate: Callable[[StackValidationArgs, Callable[..., None]], None],
    config_schema: PolicyConfigSchema | None = None,
    remediation_steps: str | None = None,
) -> StackValidationPolicy:
    """A stack policy with its framework controls recorded."""
    return StackValidationPolicy(
        name=name,
        description=description,
        enforcement_level=level,
        severity=severity,
        validate=validate,
        config_schema=config_schema,
        framework=_framework(controls),
        tags=[control.as_tag() for control in controls],
        remediation_steps=remediation_steps,
    )


def _framework(controls: Sequence[Control]) -> PolicyComplianceFramework | None:
    if not controls:
        return None
    first = controls[0]
    return PolicyComplianceFramework(name=first.framework, version=first.version, reference=first.control)
