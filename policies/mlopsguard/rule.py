"""How a rule is described: its frameworks, severity and default level travel with the policy object.

pulumi-policy gives a policy one ``framework``; auditors need several (CIS, NIST SP 800-53, PCI DSS, ISO 27001).
A rule lists them all as :class:`Control` values, carried in the policy's ``tags`` (``control:<framework>|<version>|
<id>``) so that anything speaking the analyzer protocol (the CLI, the compliance report) can read them; the first one
also fills the policy's own ``framework`` field, which the Pulumi Cloud console shows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
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
    applies_to: Sequence[str] = (),
) -> ResourceValidationPolicy:
    """A resource policy with its framework controls recorded, and the resource types it judges (``applies_to``,
    type tokens or ``<package>:*`` for a whole cloud) so a report can tell "passed" from "nothing to judge".
    A ``validate`` that carries a :data:`JUDGES` predicate passes it on to the policy (see :func:`judging`)."""
    policy = ResourceValidationPolicy(
        name=name,
        description=description,
        enforcement_level=level,
        severity=severity,
        validate=validate,
        remediate=remediate,
        config_schema=config_schema,
        framework=_framework(controls),
        tags=_tags(controls, applies_to),
        remediation_steps=remediation_steps,
    )
    setattr(policy, JUDGES, getattr(validate, JUDGES, None))
    return policy


JUDGES = "judges"
"""Attribute of a resource validation (and of its policy): a predicate on the resource type that is false for every
type the validation reports nothing on, so the pack's servicer can skip it without decoding or calling it."""


def judging(judges: Callable[[str], bool]):
    """Mark a resource validation as judging only the resource types ``judges`` accepts. The validation must
    return at once, reporting nothing, for any other type: the servicer then skips it for them."""

    def mark(validate):
        setattr(validate, JUDGES, judges)
        return validate

    return mark


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
    applies_to: Sequence[str] = (),
) -> StackValidationPolicy:
    """A stack policy with its framework controls recorded, and the resource types it judges."""
    return StackValidationPolicy(
        name=name,
        description=description,
        enforcement_level=level,
        severity=severity,
        validate=validate,
        config_schema=config_schema,
        framework=_framework(controls),
        tags=_tags(controls, applies_to),
        remediation_steps=remediation_steps,
    )


APPLIES_TO_PREFIX = "applies-to:"
"""Policy tag prefix naming a resource type (or ``<package>:*``) a rule judges."""


def _tags(controls: Sequence[Control], applies_to: Sequence[str]) -> list[str]:
    return [control.as_tag() for control in controls] + [f"{APPLIES_TO_PREFIX}{token}" for token in applies_to]


def nist(control: str) -> Control:
    """A NIST SP 800-53 rev5 control, e.g. ``nist("SC-28")``."""
    return Control("NIST SP 800-53", "rev5", control)


def iso(control: str) -> Control:
    """An ISO/IEC 27001:2022 Annex A control, e.g. ``iso("A.8.24")``."""
    return Control("ISO/IEC 27001", "2022", control)


def pci(requirement: str) -> Control:
    """A PCI DSS 4.0 requirement, e.g. ``pci("4.2.1")``."""
    return Control("PCI DSS", "4.0", requirement)


def cis(benchmark: str, version: str, section: str) -> Control:
    """A CIS benchmark recommendation, e.g. ``cis("CIS Kubernetes Benchmark", "1.9.0", "5.2.2")``."""
    return Control(benchmark, version, section)


CIS_AWS = ("CIS AWS Foundations Benchmark", "3.0.0")
CIS_EKS = ("CIS Amazon EKS Benchmark", "1.5.0")
CIS_GKE = ("CIS Google Kubernetes Engine (GKE) Benchmark", "1.5.0")
CIS_AKS = ("CIS Azure Kubernetes Service (AKS) Benchmark", "1.5.0")
CIS_K8S = ("CIS Kubernetes Benchmark", "1.9.0")
CIS_GCP = ("CIS Google Cloud Platform Foundation Benchmark", "3.0.0")
CIS_AZURE = ("CIS Microsoft Azure Foundations Benchmark", "2.1.0")


def _framework(controls: Sequence[Control]) -> PolicyComplianceFramework | None:
    if not controls:
        return None
    first = controls[0]
    return PolicyComplianceFramework(name=first.framework, version=first.version, reference=first.control)


Check = Callable[[Any, ResourceValidationArgs], "Iterable[str]"]
"""A per-type check: given the resource's properties and the validation args, the problems it finds."""


def by_type(checks: Mapping[str, Check]) -> Callable[[ResourceValidationArgs, Callable[..., None]], None]:
    """A resource validation that runs the check registered for the resource's type (a dict lookup, so the pack
    stays cheap on the many resources no rule of a domain cares about) and reports each problem."""

    @judging(checks.__contains__)
    def validate(args: ResourceValidationArgs, report_violation: Callable[..., None]) -> None:
        check = checks.get(args.resource_type)
        if check is None:
            return
        for problem in check(args.props, args):
            report_violation(problem)

    return validate
