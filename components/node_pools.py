"""What the three clouds' node pools share: the pool roles a cluster has, their size bounds and their capacity
type, validated alike (the same keys, bounds and one-line errors); each cloud validates its own machine shape.

Every cluster has a ``system_pool`` (the cloud's and the platform's add-ons; at least one node, never Spot), a
``cpu_pool`` (Spot-capable) and, when configured, a ``gpu_pool``.
"""

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from .validation import ArgumentError, optional_int

POOL_ROLES = ("system_pool", "cpu_pool", "gpu_pool")
CAPACITY_TYPES = ("on_demand", "spot")
MAX_NODES = 1000
Pool = TypeVar("Pool")


def validate_pools(args: Mapping[str, Any], field: str,
                   validate_pool: Callable[[str, Any, str], Pool]) -> tuple[Pool, ...]:
    """The system and CPU pools (defaults where absent) and the GPU pool when set (absent or null: none), each
    checked by the cloud's ``validate_pool(role, args, field)``."""
    roles = [role for role in POOL_ROLES if role != "gpu_pool" or args.get(role) is not None]
    return tuple(validate_pool(role, args.get(role), field) for role in roles)


def pool_sizes(merged: Mapping[str, Any], role: str, path: str) -> tuple[int, int, int]:
    """``(min_size, max_size, desired_size)``: autoscaling bounds (the system pool keeps at least one node) and a
    starting size between them (default ``min_size``, at least one on the system pool)."""
    floor = 1 if role == "system_pool" else 0
    min_size = optional_int(merged, "min_size", path, 0, floor, MAX_NODES)
    max_size = merged.get("max_size", 0)
    low = max(min_size, 1)
    if isinstance(max_size, bool) or not isinstance(max_size, int) or not low <= max_size <= MAX_NODES:
        raise ArgumentError(f"{path}.max_size: {max_size!r} is not allowed; use an integer from {low} to {MAX_NODES} "
                            f"(min_size is {min_size})")
    desired = merged.get("desired_size", max(min_size, floor))
    if isinstance(desired, bool) or not isinstance(desired, int) or not min_size <= desired <= max_size:
        raise ArgumentError(f"{path}.desired_size: {desired!r} is not allowed; use an integer from {min_size} to "
                            f"{max_size} (between min_size and max_size)")
    return min_size, max_size, desired


def capacity_type(merged: Mapping[str, Any], role: str, path: str) -> str:
    """``on_demand`` or ``spot``; the system pool is always on-demand."""
    capacity = merged.get("capacity_type")
    if capacity not in CAPACITY_TYPES or (role == "system_pool" and capacity != "on_demand"):
        allowed = "on_demand (system pods need capacity that is not reclaimed)" if role == "system_pool" else \
            "on_demand or spot"
        raise ArgumentError(f"{path}.capacity_type: {capacity!r} is not allowed; use {allowed}")
    return capacity
