"""Compute resources of a container (requests, limits, GPUs) and its probe timings: validated once, rendered as the
typed pulumi-kubernetes arguments.

A malformed quantity (``"2 cores"``, ``"512mb"``) is accepted by nothing before the API server, and then only at
deploy time; here it fails at once with the field path. Limits must be set (the policy pack requires them) and may
not be below the requests.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, NotRequired, TypedDict

import pulumi_kubernetes as k8s

from ..validation import ArgumentError, optional_int, reject_unknown_keys, shown

_CPU = re.compile(r"(?P<number>\d+(\.\d{1,3})?)(?P<unit>m?)")
_MEMORY = re.compile(r"(?P<number>\d+)(?P<unit>Ki|Mi|Gi|Ti|k|M|G|T)?")
_MEMORY_UNITS = {None: 1, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12,
                 "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}
_CPU_MEANING = "a CPU quantity such as '250m', '1' or '1.5'"
_MEMORY_MEANING = "a memory quantity such as '512Mi' or '2Gi'"
GPU_RESOURCE = "nvidia.com/gpu"


@dataclass(frozen=True)
class ComputeSettings:
    cpu_request: str
    memory_request: str
    cpu_limit: str
    memory_limit: str
    gpus: int


@dataclass(frozen=True)
class ProbeSettings:
    initial_delay_seconds: int
    period_seconds: int
    timeout_seconds: int
    failure_threshold: int


class ComputeArgs(TypedDict):
    """Per-pod compute; each absent key takes the component's default."""

    cpu_request: NotRequired[str]
    """A CPU quantity such as ``250m``, ``1`` or ``1.5``."""
    memory_request: NotRequired[str]
    """A memory quantity such as ``512Mi`` or ``2Gi``."""
    cpu_limit: NotRequired[str]
    """At least ``cpu_request``."""
    memory_limit: NotRequired[str]
    """At least ``memory_request``."""
    gpus: NotRequired[int]
    """NVIDIA GPUs (``nvidia.com/gpu``) per pod, 0-16."""


class ProbeArgs(TypedDict):
    """Probe timings; each absent key takes the component's default."""

    initial_delay_seconds: NotRequired[int]
    """0-3600."""
    period_seconds: NotRequired[int]
    """1-300."""
    timeout_seconds: NotRequired[int]
    """1-60, fewer than ``period_seconds``."""
    failure_threshold: NotRequired[int]
    """1-30."""


def validate_compute(args: Mapping[str, Any] | None, field: str, defaults: ComputeSettings) -> ComputeSettings:
    """``{cpu_request, memory_request, cpu_limit, memory_limit, gpus}`` with ``defaults`` for absent keys."""
    args = {} if args is None else args
    reject_unknown_keys(args, {"cpu_request", "memory_request", "cpu_limit", "memory_limit", "gpus"}, field)
    cpu_request = _quantity(args, "cpu_request", field, defaults.cpu_request, _CPU, _CPU_MEANING)
    cpu_limit = _quantity(args, "cpu_limit", field, defaults.cpu_limit, _CPU, _CPU_MEANING)
    memory_request = _quantity(args, "memory_request", field, defaults.memory_request, _MEMORY, _MEMORY_MEANING)
    memory_limit = _quantity(args, "memory_limit", field, defaults.memory_limit, _MEMORY, _MEMORY_MEANING)
    if cpu_value(cpu_limit) < cpu_value(cpu_request):
        raise ArgumentError(f"{field}.cpu_limit: {shown(cpu_limit)} is not allowed; use at least cpu_request "
                            f"({shown(cpu_request)})")
    if memory_value(memory_limit) < memory_value(memory_request):
        raise ArgumentError(f"{field}.memory_limit: {shown(memory_limit)} is not allowed; use at least memory_request "
                            f"({shown(memory_request)})")
    gpus = optional_int(args, "gpus", field, defaults.gpus, 0, 16)
    return ComputeSettings(cpu_request, memory_request, cpu_limit, memory_limit, gpus)


def validate_probes(args: Mapping[str, Any] | None, field: str, defaults: ProbeSettings) -> ProbeSettings:
    """Probe timings; the timeout must be shorter than the period, or probes overlap."""
    args = {} if args is None else args
    reject_unknown_keys(args, {"initial_delay_seconds", "period_seconds", "timeout_seconds", "failure_threshold"},
                        field)
    settings = ProbeSettings(
        initial_delay_seconds=optional_int(args, "initial_delay_seconds", field, defaults.initial_delay_seconds,
                                           0, 3600),
        period_seconds=optional_int(args, "period_seconds", field, defaults.period_seconds, 1, 300),
        timeout_seconds=optional_int(args, "timeout_seconds", field, defaults.timeout_seconds, 1, 60),
        failure_threshold=optional_int(args, "failure_threshold", field, defaults.failure_threshold, 1, 30),
    )
    if settings.timeout_seconds >= settings.period_seconds:
        raise ArgumentError(
            f"{field}.timeout_seconds: {settings.timeout_seconds} is not allowed; use fewer seconds than "
            f"period_seconds ({settings.period_seconds})"
        )
    return settings


def cpu_value(quantity: str) -> Decimal:
    match = _CPU.fullmatch(quantity)
    assert match is not None
    number = Decimal(match["number"])
    return number / 1000 if match["unit"] == "m" else number


def memory_value(quantity: str) -> int:
    match = _MEMORY.fullmatch(quantity)
    assert match is not None
    return int(match["number"]) * _MEMORY_UNITS[match["unit"]]


def resource_requirements(settings: ComputeSettings) -> k8s.core.v1.ResourceRequirementsArgs:
    """Requests and limits; a GPU is requested and limited alike (Kubernetes requires it for extended resources)."""
    requests = {"cpu": settings.cpu_request, "memory": settings.memory_request}
    limits = {"cpu": settings.cpu_limit, "memory": settings.memory_limit}
    if settings.gpus:
        requests[GPU_RESOURCE] = limits[GPU_RESOURCE] = str(settings.gpus)
    return k8s.core.v1.ResourceRequirementsArgs(requests=requests, limits=limits)


def http_probe(path: str, port: int | str, settings: ProbeSettings) -> k8s.core.v1.ProbeArgs:
    return k8s.core.v1.ProbeArgs(
        http_get=k8s.core.v1.HTTPGetActionArgs(path=path, port=port),
        initial_delay_seconds=settings.initial_delay_seconds,
        period_seconds=settings.period_seconds,
        timeout_seconds=settings.timeout_seconds,
        failure_threshold=settings.failure_threshold,
    )


def _quantity(args: Mapping[str, Any], key: str, field: str, default: str, pattern: re.Pattern[str],
              meaning: str) -> str:
    value = args.get(key, default)
    if isinstance(value, (int, float)) and not isinstance(value, bool) and pattern is _CPU:
        value = str(value)
    if not isinstance(value, str) or not pattern.fullmatch(value) or _is_zero(value, pattern):
        raise ArgumentError(f"{field}.{key}: {shown(value)} is not allowed; use {meaning}, above zero")
    return value


def _is_zero(value: str, pattern: re.Pattern[str]) -> bool:
    return (cpu_value(value) if pattern is _CPU else memory_value(value)) == 0
