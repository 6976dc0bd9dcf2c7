"""Lookups over a stack's resources that stack rules share: by type, and by reference (the URN of a recorded
property dependency, or a name).

A stack rule asks things like "the BucketPublicAccessBlock that refers to this bucket" once per bucket; answered
by scanning the stack, ``AnalyzeStack`` grows with the square of the stack. :class:`StackIndex` answers each such
question from tables built once, on first use, and shared by every stack policy of one request: the pack's
servicer hands every stack policy the same :class:`IndexedResources`. A plain list of resources (the rules run by
pulumi-policy's own servicer) has no index; ``mlopsguard.resources`` then answers by scanning, with the same result.

A resource ``r`` refers to ``target`` through property ``prop`` when the engine recorded ``target`` as a
dependency of ``r.prop`` (an output passed as input), or when ``r.prop`` is a known, non-empty string equal to one
of ``target``'s names (its logical name, or its known ``bucket``, ``name`` or ``metadata.name``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from functools import cached_property
from typing import Any

from pulumi_policy.proxy import UnknownValueError

_UNKNOWN = object()


def _read(props: Any, *path: str) -> Any:
    """The value at ``path``, None when a step is missing or not a mapping, ``_UNKNOWN`` when unknown."""
    value = props
    try:
        for step in path:
            if not hasattr(value, "get"):
                return None
            value = value.get(step)
    except UnknownValueError:
        return _UNKNOWN
    return value


def names_of(resource: Any) -> set[str]:
    """The strings another resource may use to name ``resource``."""
    candidates = (resource.name, _read(resource.props, "bucket"), _read(resource.props, "name"),
                  _read(resource.props, "metadata", "name"))
    return {name for name in candidates if isinstance(name, str)}


def reference_of(resource: Any, prop: str) -> str | None:
    """``resource.prop`` when it is a known non-empty string, the way a reference by name is written."""
    value = _read(resource.props, prop)
    return value if isinstance(value, str) and value else None


class StackIndex:
    """Tables over one stack's resources, each built on first use and kept for the request."""

    def __init__(self, resources: Sequence[Any]):
        self._resources = resources
        self._of_types: dict[frozenset[str], list[Any]] = {}
        self._referring: dict[tuple[frozenset[str], str], tuple[dict[str, list[int]], dict[str, list[int]]]] = {}
        self._named: dict[frozenset[str], dict[str, list[int]]] = {}
        self._undecided: dict[tuple[frozenset[str], str], bool] = {}

    @cached_property
    def _positions(self) -> dict[int, int]:
        return {id(resource): position for position, resource in enumerate(self._resources)}

    @cached_property
    def _by_type(self) -> dict[str, list[Any]]:
        table: dict[str, list[Any]] = defaultdict(list)
        for resource in self._resources:
            table[resource.resource_type].append(resource)
        return table

    def of_types(self, types: Iterable[str]) -> list[Any]:
        """The resources whose type is one of ``types``, in stack order."""
        key = frozenset(types)
        found = self._of_types.get(key)
        if found is None:
            if len(key) == 1:
                found = self._by_type.get(next(iter(key)), [])
            else:
                found = [r for r in self._resources if r.resource_type in key]
            self._of_types[key] = found
        return found

    def referring(self, types: Iterable[str], prop: str, target: Any) -> list[Any]:
        """The resources of ``types`` that refer to ``target`` through ``prop``, in stack order."""
        key = (frozenset(types), prop)
        tables = self._referring.get(key)
        if tables is None:
            tables = self._referring[key] = self._reference_tables(key[0], prop)
        by_dependency, by_name = tables
        positions = set(by_dependency.get(target.urn, ()))
        for name in names_of(target):
            positions.update(by_name.get(name, ()))
        return [self._resources[p] for p in sorted(positions)]

    def referred(self, source: Any, prop: str, types: Iterable[str]) -> list[Any]:
        """The resources of ``types`` that ``source`` refers to through ``prop``, in stack order."""
        key = frozenset(types)
        named = self._named.get(key)
        if named is None:
            named = self._named[key] = defaultdict(list)
            for resource in self.of_types(key):
                for name in names_of(resource):
                    named[name].append(self._positions[id(resource)])
        positions = {self._positions[id(d)] for d in source.property_dependencies.get(prop) or ()
                     if d.resource_type in key and id(d) in self._positions}
        value = reference_of(source, prop)
        if value is not None:
            positions.update(named.get(value, ()))
        return [self._resources[p] for p in sorted(positions)]

    def undecided(self, types: Iterable[str], prop: str) -> bool:
        """Whether some resource of ``types`` points somewhere unknown through ``prop``: no recorded dependency
        and a value unknown during preview."""
        key = (frozenset(types), prop)
        if key not in self._undecided:
            self._undecided[key] = any(
                not resource.property_dependencies.get(prop) and _read(resource.props, prop) is _UNKNOWN
                for resource in self.of_types(key[0]))
        return self._undecided[key]

    def _reference_tables(self, types: frozenset[str], prop: str) -> tuple[dict[str, list[int]],
                                                                            dict[str, list[int]]]:
        by_dependency: dict[str, list[int]] = defaultdict(list)
        by_name: dict[str, list[int]] = defaultdict(list)
        for resource in self.of_types(types):
            position = self._positions[id(resource)]
            for dependency in resource.property_dependencies.get(prop) or ():
                by_dependency[dependency.urn].append(position)
            value = reference_of(resource, prop)
            if value is not None:
                by_name[value].append(position)
        return by_dependency, by_name


class IndexedResources(list):
    """A stack's resources together with the one :class:`StackIndex` every stack policy of the request shares."""

    @cached_property
    def index(self) -> StackIndex:
        return StackIndex(self)


def index_of(resources: Sequence[Any]) -> StackIndex | None:
    """The shared index of ``resources``, or None for a plain list (which callers then scan)."""
    return resources.index if isinstance(resources, IndexedResources) else None
