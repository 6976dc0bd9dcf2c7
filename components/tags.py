"""The canonical cost tags of a stack, validated once and rendered for every target.

One definition of the tags serves AWS tags, GCP labels, Azure tags and Kubernetes labels. The canonical form obeys
the strictest rules the four share, so that rendering never has to rewrite a value:

- GCP labels: keys start with a lowercase letter; keys and values use only ``[a-z0-9_-]`` and are at most 63
  characters; at most 64 labels per resource.
- Kubernetes labels: a value starts and ends with an alphanumeric character (``[a-z0-9]`` once lowercase).
- AWS tags: at most 50 user tags per resource, the tightest count limit of the four.

A value that breaks a rule is rejected with a message that names the tag and suggests a legal spelling; it is
never rewritten silently, because a silently rewritten cost-center value is a lost cost report.

What this module does not do: attach the tags to resources. ``mlops_platform.tagging`` does that, through provider
default tags where the provider has them and resource transforms where it does not.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

CANONICAL_TAG_KEYS: tuple[str, ...] = ("cost-center", "owner", "environment", "project", "managed-by")
"""The cost tags every resource should carry. The policy pack's `required-cost-tags` rule enforces them (its list is
configurable per organisation); `managed-by` defaults to `pulumi`."""

REQUIRED_TAG_KEYS: tuple[str, ...] = ("environment", "project")
"""The keys a stack cannot build without: they say which environment a stack is (production rules of the policy
pack read it) and whose it is. Whether the others are present is governance, judged by the policy pack, not a build
error. No physical name derives from a tag."""

DEFAULT_TAGS: Mapping[str, str] = MappingProxyType({"managed-by": "pulumi"})

MAX_KEY_LENGTH = 63
MAX_VALUE_LENGTH = 63
MAX_TAGS = 50
"""AWS allows 50 user tags per resource; GCP 64 labels. The canonical set keeps to the smaller."""

_KEY_PATTERN = re.compile(r"[a-z][a-z0-9_-]*")
_KEY_END_PATTERN = re.compile(r".*[a-z0-9]")
_VALUE_PATTERN = re.compile(r"[a-z0-9]([a-z0-9_-]*[a-z0-9])?")


class TagError(ValueError):
    """A tag key or value breaks the canonical rules; the message names the tag, the value and the rule."""


@dataclass(frozen=True)
class CostTags:
    """A validated set of cost tags. Build it with :meth:`from_mapping`; render it with the ``for_*`` methods."""

    values: Mapping[str, str]

    @classmethod
    def from_mapping(cls, tags: Mapping[str, object], *, field: str = "tags") -> "CostTags":
        """Validate ``tags`` (plus the defaults) and return them; ``field`` prefixes every error message."""
        if not isinstance(tags, Mapping):
            raise TagError(f"{field}: {tags!r} is not allowed; use a mapping of tag keys to string values")
        merged: dict[str, str] = dict(DEFAULT_TAGS)
        for key, value in tags.items():
            merged[_validated_key(key, field)] = _validated_value(key, value, field)
        missing = [key for key in REQUIRED_TAG_KEYS if key not in merged]
        if missing:
            raise TagError(
                f"{field}: missing required tag(s) {', '.join(missing)}; every stack sets "
                f"{', '.join(REQUIRED_TAG_KEYS)} (and the policy pack expects {', '.join(CANONICAL_TAG_KEYS)})"
            )
        if len(merged) > MAX_TAGS:
            raise TagError(
                f"{field}: {len(merged)} tags is not allowed; use at most {MAX_TAGS} (the AWS per-resource limit)"
            )
        return cls(MappingProxyType(dict(sorted(merged.items()))))

    def for_aws(self) -> dict[str, str]:
        """AWS resource tags (provider ``default_tags``)."""
        return dict(self.values)

    def for_gcp(self) -> dict[str, str]:
        """GCP resource labels (provider ``default_labels``)."""
        return dict(self.values)

    def for_azure(self) -> dict[str, str]:
        """Azure resource tags (applied by a resource transform; azure-native has no provider default tags)."""
        return dict(self.values)

    def for_kubernetes(self) -> dict[str, str]:
        """Kubernetes object labels (applied by a resource transform)."""
        return dict(self.values)


def _validated_key(key: object, field: str) -> str:
    if not isinstance(key, str):
        raise TagError(f"{field}: key {key!r} is not allowed; tag keys are strings")
    where = f"{field}.{key}"
    if len(key) > MAX_KEY_LENGTH:
        raise TagError(f"{where}: key of {len(key)} characters is not allowed; use at most {MAX_KEY_LENGTH}")
    if not _KEY_PATTERN.fullmatch(key) or not _KEY_END_PATTERN.fullmatch(key):
        raise TagError(
            f"{where}: key {key!r} is not allowed; use lowercase letters, digits, '-' and '_', starting with a "
            f"letter and ending with a letter or digit (e.g. {_suggestion(key)!r})"
        )
    return key


def _validated_value(key: str, value: object, field: str) -> str:
    where = f"{field}.{key}"
    if not isinstance(value, str):
        raise TagError(f"{where}: {value!r} is not allowed; tag values are strings")
    if len(value) > MAX_VALUE_LENGTH:
        raise TagError(
            f"{where}: value of {len(value)} characters is not allowed; use at most {MAX_VALUE_LENGTH} "
            f"(GCP and Kubernetes label limit)"
        )
    if not _VALUE_PATTERN.fullmatch(value):
        raise TagError(
            f"{where}: {value!r} is not allowed; use lowercase letters, digits, '-' and '_', starting and ending "
            f"with a letter or digit (e.g. {_suggestion(value)!r})"
        )
    return value


def _suggestion(text: str) -> str:
    """A legal spelling of ``text`` to show in an error message; never applied without the user's consent."""
    lowered = re.sub(r"[^a-z0-9_-]+", "-", text.lower())
    trimmed = lowered.strip("-_")[:MAX_VALUE_LENGTH].rstrip("-_")
    return trimmed or "value"
