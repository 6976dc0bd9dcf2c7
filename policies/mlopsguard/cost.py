"""Cost rules: every taggable resource carries the cost tags, with values a cost report can group by."""

from __future__ import annotations

import re
from typing import Any

from pulumi_policy import EnforcementLevel, PolicyConfigSchema, ResourceValidationArgs, Severity

from .resources import UNKNOWN, effective_tags, is_taggable
from .rule import Control, resource_rule

DEFAULT_REQUIRED_TAGS = ["cost-center", "owner", "environment", "project", "managed-by"]
CANONICAL_VALUE = r"[a-z0-9]([a-z0-9_-]{0,61}[a-z0-9])?"
"""Legal as an AWS tag, a GCP label, an Azure tag and a Kubernetes label value alike."""

_REQUIRED_TAGS_SCHEMA = PolicyConfigSchema(
    properties={
        "requiredTags": {
            "type": "array",
            "items": {"type": "string"},
            "default": DEFAULT_REQUIRED_TAGS,
            "description": "Tag keys every taggable resource must carry.",
        },
        "valuePattern": {
            "type": "string",
            "default": CANONICAL_VALUE,
            "description": "Regular expression every required tag's value must match in full.",
        },
        "allowedValues": {
            "type": "object",
            "additionalProperties": {"type": "string"},
            "default": {},
            "description": "Per tag key, a regular expression its value must match in full (on top of valuePattern).",
        },
    }
)


def _validate_required_tags(args: ResourceValidationArgs, report_violation) -> None:
    if not is_taggable(args.resource_type):
        return
    provider_props = args.provider.props if args.provider is not None else None
    tags = effective_tags(args.resource_type, args.props, provider_props)
    if tags is UNKNOWN:
        return  # decided at deployment; previews must not guess
    config = args.get_config()
    problems = tag_problems(tags, config["requiredTags"], config["valuePattern"], config["allowedValues"])
    if problems:
        report_violation("; ".join(problems))


def tag_problems(tags: dict[str, Any], required: list[str], value_pattern: str, allowed: dict[str, str]) -> list[str]:
    """What is wrong with ``tags``: missing keys, and values that break the patterns (unknown values pass)."""
    problems = []
    missing = [key for key in required if key not in tags]
    if missing:
        problems.append(f"missing required cost tag(s): {', '.join(missing)}")
    for key in required:
        value = tags.get(key)
        if value is None or value is UNKNOWN:
            continue
        if not isinstance(value, str) or not re.fullmatch(value_pattern, value):
            problems.append(f"cost tag {key}={value!r} does not match {value_pattern}")
        elif key in allowed and not re.fullmatch(allowed[key], value):
            problems.append(f"cost tag {key}={value!r} is not allowed; it must match {allowed[key]}")
    return problems


REQUIRED_COST_TAGS = resource_rule(
    name="required-cost-tags",
    description=(
        "Every taggable AWS, GCP, Azure and Kubernetes resource carries the cost tags (provider default tags count), "
        "so that every cost can be attributed to a team, an owner and an environment."
    ),
    severity=Severity.MEDIUM,
    level=EnforcementLevel.MANDATORY,
    controls=[
        Control("NIST SP 800-53", "rev5", "CM-8"),
        Control("ISO/IEC 27001", "2022", "A.5.9"),
    ],
    validate=_validate_required_tags,
    config_schema=_REQUIRED_TAGS_SCHEMA,
    remediation_steps="Set the missing tags in the stack's mlops:tags, or in the resource's own tags/labels.",
)

POLICIES = [REQUIRED_COST_TAGS]
