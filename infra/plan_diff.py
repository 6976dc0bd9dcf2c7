"""The offline plan diff of one stack: what a pull request changes, between two preview JSON documents.

``compare(base, head)`` takes two documents written by ``python -m mlops_platform_offline.preview STACK --json`` (the base branch's
and the pull request's) and lists the resources added, removed and changed (with the input keys that changed), and,
in a section of their own, what a reviewer must not miss:

- a stateful resource (cluster, database, bucket, key, vault, resource group; see ``mlops_platform_offline.stateful_resources``) or
  any protected resource that would be deleted, or replaced because its URN changes or because an input changes
  that its provider replaces on; and a database whose engine changes major version (irreversible, in place);
- the policy violations the pull request introduces, and those it fixes.

Values never leave a document unredacted: the preview JSON already carries every secret as ``[secret]``, and the
diff names changed keys, showing values only for the inputs behind a replacement (secrets as ``[secret]``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .harness import SECRET_MARKER, SECRET_SIG, UNKNOWN
from .stateful_resources import MAJOR_VERSION_INPUT, REPLACED_ON, major_version, stateful_kind

_MISSING = object()
_SHOWN_VALUE_LENGTH = 80


class PlanDiffError(ValueError):
    """The two documents cannot be compared (not preview documents, or of different stacks)."""


@dataclass(frozen=True)
class ResourceRef:
    urn: str
    type: str
    name: str

    def as_json(self) -> dict[str, Any]:
        return {"urn": self.urn, "type": self.type, "name": self.name}


@dataclass(frozen=True)
class ChangedResource(ResourceRef):
    keys: tuple[str, ...] = ()
    """The input keys (top level, wire form) whose value changed, plus ``(protect)`` when protection changed."""

    def as_json(self) -> dict[str, Any]:
        return {**super().as_json(), "keys": list(self.keys)}


@dataclass(frozen=True)
class StatefulChange(ResourceRef):
    holds: str = ""
    """What state it holds: cluster, database, bucket, key, vault, resource group, or protected."""
    action: str = ""
    """``delete``, ``replace`` or ``major-upgrade``."""
    reasons: tuple[str, ...] = ()

    def as_json(self) -> dict[str, Any]:
        return {**super().as_json(), "holds": self.holds, "action": self.action, "reasons": list(self.reasons)}


@dataclass(frozen=True)
class ViolationRef:
    policy: str
    level: str
    urn: str
    message: str

    def as_json(self) -> dict[str, str]:
        return {"policy": self.policy, "level": self.level, "urn": self.urn, "message": self.message}


@dataclass(frozen=True)
class PlanDiff:
    project: str
    stack: str
    added: tuple[ResourceRef, ...]
    removed: tuple[ResourceRef, ...]
    changed: tuple[ChangedResource, ...]
    stateful: tuple[StatefulChange, ...]
    introduced: tuple[ViolationRef, ...]
    fixed: tuple[ViolationRef, ...]
    override: bool = False
    """The pull request carries the explicit override for stateful changes."""

    @property
    def blocking(self) -> bool:
        """True when a stateful resource would be lost or upgraded irreversibly and no override was given."""
        return bool(self.stateful) and not self.override

    def as_json(self) -> dict[str, Any]:
        return {
            "project": self.project,
            "stack": self.stack,
            "summary": {"added": len(self.added), "removed": len(self.removed), "changed": len(self.changed),
                        "stateful": len(self.stateful), "introduced": len(self.introduced),
                        "fixed": len(self.fixed)},
            "blocking": self.blocking,
            "override": self.override,
            "stateful": [change.as_json() for change in self.stateful],
            "violations": {"introduced": [v.as_json() for v in self.introduced],
                           "fixed": [v.as_json() for v in self.fixed]},
            "added": [ref.as_json() for ref in self.added],
            "removed": [ref.as_json() for ref in self.removed],
            "changed": [change.as_json() for change in self.changed],
        }


def compare(base: Mapping[str, Any], head: Mapping[str, Any], *, override: bool = False) -> PlanDiff:
    """The diff from ``base`` to ``head``, two preview documents of the same project and stack."""
    for label, document in (("base", base), ("head", head)):
        if not isinstance(document, Mapping) or not isinstance(document.get("resources"), list):
            raise PlanDiffError(f"{label}: not a preview document (expected the JSON of `python -m mlops_platform_offline.preview "
                                f"STACK --json`, with a 'resources' list)")
    if (base.get("project"), base.get("stack")) != (head.get("project"), head.get("stack")):
        raise PlanDiffError(f"base is stack {base.get('project')}/{base.get('stack')} but head is "
                            f"{head.get('project')}/{head.get('stack')}; compare two previews of one stack")
    before = {r["urn"]: r for r in base["resources"]}
    after = {r["urn"]: r for r in head["resources"]}
    added = [_ref(after[urn]) for urn in sorted(after.keys() - before.keys())]
    removed = [_ref(before[urn]) for urn in sorted(before.keys() - after.keys())]
    changed = []
    stateful = []
    for urn in sorted(before.keys() & after.keys()):
        old, new = before[urn], after[urn]
        keys = _changed_keys(old.get("inputs") or {}, new.get("inputs") or {})
        if bool(old.get("protect")) != bool(new.get("protect")):
            keys.append("(protect)")
        if keys:
            changed.append(ChangedResource(urn, new["type"], new["name"], tuple(keys)))
        risk = _in_place_risk(old, new)
        if risk:
            stateful.append(risk)
    stateful.extend(_lost(before, after, removed, added))
    return PlanDiff(
        project=str(head.get("project")),
        stack=str(head.get("stack")),
        added=tuple(added),
        removed=tuple(removed),
        changed=tuple(changed),
        stateful=tuple(sorted(stateful, key=lambda change: change.urn)),
        introduced=_sorted(_violations(head) - _violations(base)),
        fixed=_sorted(_violations(base) - _violations(head)),
        override=override,
    )


def render_markdown(diff: PlanDiff) -> str:
    """The diff as Markdown for the pull request comment and the job summary."""
    lines = [f"### Plan diff of `{diff.stack}`", "",
             f"{len(diff.changed)} changed, {len(diff.added)} added, {len(diff.removed)} removed; "
             f"{len(diff.introduced)} violation(s) introduced, {len(diff.fixed)} fixed.", ""]
    if diff.stateful:
        verdict = ("allowed by the override label" if diff.override
                   else "this blocks the pull request until a maintainer adds the override label")
        lines += [f"#### :warning: Stateful resources deleted, replaced or upgraded irreversibly ({verdict})", "",
                  "| resource | type | holds | action | why |", "|---|---|---|---|---|"]
        for change in diff.stateful:
            lines.append(f"| `{change.name}` | `{change.type}` | {change.holds} | **{change.action}** | "
                         f"{'<br>'.join(_cell(reason) for reason in change.reasons)} |")
    else:
        lines.append("No stateful resource is deleted, replaced or upgraded irreversibly.")
    lines.append("")
    if diff.introduced or diff.fixed:
        lines += ["#### Policy violations", "", "| | level | policy | resource | message |", "|---|---|---|---|---|"]
        for label, violations in (("introduced", diff.introduced), ("fixed", diff.fixed)):
            for violation in violations:
                where = violation.urn.rsplit("::", 1)[-1] if violation.urn else "(stack)"
                lines.append(f"| {label} | {violation.level} | `{violation.policy}` | `{where}` | "
                             f"{_cell(violation.message)} |")
        lines.append("")
    for title, refs in (("Added", diff.added), ("Removed", diff.removed)):
        if refs:
            lines += [f"<details><summary>{title} ({len(refs)})</summary>", ""]
            lines += [f"- `{ref.type}` `{ref.name}`" for ref in refs]
            lines += ["", "</details>", ""]
    if diff.changed:
        lines += [f"<details><summary>Changed ({len(diff.changed)})</summary>", ""]
        lines += [f"- `{change.type}` `{change.name}`: {', '.join(f'`{key}`' for key in change.keys)}"
                  for change in diff.changed]
        lines += ["", "</details>", ""]
    return "\n".join(lines).rstrip() + "\n"


def render_json(diff: PlanDiff) -> str:
    return json.dumps(diff.as_json(), indent=2) + "\n"


def _ref(resource: Mapping[str, Any]) -> ResourceRef:
    return ResourceRef(resource["urn"], resource["type"], resource["name"])


def _changed_keys(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    return sorted(key for key in old.keys() | new.keys() if old.get(key, _MISSING) != new.get(key, _MISSING))


def _in_place_risk(old: Mapping[str, Any], new: Mapping[str, Any]) -> StatefulChange | None:
    """A resource that keeps its URN but whose inputs make the provider replace it, or upgrade its engine."""
    type_ = new["type"]
    holds = stateful_kind(type_, bool(old.get("protect")) or bool(new.get("protect")))
    if holds is None:
        return None
    old_inputs, new_inputs = old.get("inputs") or {}, new.get("inputs") or {}
    reasons = []
    for path in REPLACED_ON.get(type_, ()):
        before, after = _at(old_inputs, path), _at(new_inputs, path)
        if after == UNKNOWN and before != UNKNOWN:
            reasons.append(f"{path} is unknown until apply (was {_shown(before)}); the provider may replace it")
        elif before != after:
            reasons.append(f"{path}: {_shown(before)} -> {_shown(after)} (the provider replaces on this input)")
    if reasons:
        return StatefulChange(new["urn"], type_, new["name"], holds, "replace", tuple(reasons))
    version_path = MAJOR_VERSION_INPUT.get(type_)
    if version_path:
        before, after = _at(old_inputs, version_path), _at(new_inputs, version_path)
        if major_version(before) != major_version(after):
            return StatefulChange(new["urn"], type_, new["name"], holds, "major-upgrade", (
                f"{version_path}: {_shown(before)} -> {_shown(after)} (a major-version change runs in place but "
                f"cannot be undone and takes the database offline)",))
    return None


def _lost(before: Mapping[str, Mapping[str, Any]], after: Mapping[str, Mapping[str, Any]],
          removed: Iterable[ResourceRef], added: Iterable[ResourceRef]) -> list[StatefulChange]:
    """Stateful resources whose URN disappears: replaced when a resource of the same type takes its place (a rename
    of the resource or of a parent, which without an alias deletes the old one), else deleted."""
    newcomers: dict[str, list[ResourceRef]] = {}
    for ref in added:
        newcomers.setdefault(ref.type, []).append(ref)
    changes = []
    for ref in removed:
        holds = stateful_kind(ref.type, bool(before[ref.urn].get("protect")))
        if holds is None:
            continue
        successors = newcomers.get(ref.type) or []
        if successors:
            successor = successors.pop(0)
            changes.append(StatefulChange(ref.urn, ref.type, ref.name, holds, "replace", (
                f"its URN changes to {successor.urn}; without an alias the old resource is deleted",)))
        else:
            changes.append(StatefulChange(ref.urn, ref.type, ref.name, holds, "delete",
                                          ("it is no longer in the program",)))
    return changes


def _violations(document: Mapping[str, Any]) -> set[ViolationRef]:
    return {ViolationRef(str(v.get("policy")), str(v.get("level")), str(v.get("urn") or ""), str(v.get("message")))
            for v in document.get("violations") or [] if v.get("level") != "disabled"}


def _sorted(violations: set[ViolationRef]) -> tuple[ViolationRef, ...]:
    return tuple(sorted(violations, key=lambda v: (v.level != "mandatory", v.policy, v.urn, v.message)))


def _at(inputs: Any, path: str) -> Any:
    value = inputs
    for step in path.split("."):
        if not isinstance(value, Mapping) or step not in value:
            return None
        value = value[step]
    return value


def _shown(value: Any) -> str:
    """A value for a reviewer's eyes: secrets stay ``[secret]``, long values are cut."""
    if isinstance(value, Mapping) and value.get(SECRET_SIG) == SECRET_MARKER:
        return "[secret]"
    if value is None:
        return "(unset)"
    text = value if isinstance(value, str) else json.dumps(_redacted(value), sort_keys=True)
    return text if len(text) <= _SHOWN_VALUE_LENGTH else text[:_SHOWN_VALUE_LENGTH - 3] + "..."


def _redacted(value: Any) -> Any:
    if isinstance(value, Mapping):
        if value.get(SECRET_SIG) == SECRET_MARKER:
            return "[secret]"
        return {k: _redacted(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_redacted(v) for v in value]
    return value


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
