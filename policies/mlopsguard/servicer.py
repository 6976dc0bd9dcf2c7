"""The analyzer servicer of the pack: pulumi-policy's own, except that each request is decoded once for all policies.

pulumi-policy's servicer decodes a request's properties (``MessageToDict``, ``deserialize_properties``, the
unknown-checking proxy) again for every resource policy in ``Analyze`` and again for every stack policy and every
resource in ``AnalyzeStack``: with this pack's 40-odd policies that decoding is most of the pack's time. The
decoded values are read-only to a validation (remediation has its own RPC, untouched here), so one decoding can
serve every policy.

This is the only module of the pack that reaches into pulumi-policy's internals. :func:`decode_once_per_request`
makes :class:`pulumi_policy.PolicyPack` build :class:`OnceDecodingServicer` instead of its private
``_PolicyAnalyzerServicer`` (it looks the class up by that module-level name). The subclass keeps everything else
of the parent: ``GetAnalyzerInfo``, ``Configure``, ``Remediate``, each policy's name and enforcement level, the
"can't run policy during preview" diagnostic for an unknown value, and not-applicable reporting. What it relies on
is listed in :data:`RELIED_ON` and checked before the pack starts serving, so an upgrade that changes it stops the
pack with a message instead of quietly running slower or differently; ``tests/policy/test_servicer.py`` checks the
same and compares both servicers' answers. It can go once pulumi-policy decodes each request once itself.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from importlib.metadata import version
from inspect import isawaitable
from typing import Any

from google.protobuf import json_format
from pulumi.runtime import proto

import pulumi_policy.policy as upstream
from pulumi_policy.deserialize import deserialize_properties
from pulumi_policy.proxy import UnknownValueError, unknown_checking_proxy

from .rule import JUDGES
from .stack_index import IndexedResources

TESTED_VERSIONS = (">=1.21.0", "<1.22")
"""The pulumi-policy releases this module was tested with; ``policies/requirements.txt`` pins the same range."""

_PARENT = "_PolicyAnalyzerServicer"
_MANGLED = f"_{_PARENT.lstrip('_')}__"  # how Python mangles the parent's private names
RELIED_ON: dict[str, tuple[str, ...]] = {
    "module attributes of pulumi_policy.policy": (
        _PARENT, "_NotApplicableError", "PolicyResource", "ResourceValidationArgs", "StackValidationArgs",
        "ResourceValidationPolicy", "StackValidationPolicy", "EnforcementLevel", "PolicyPack"),
    "methods of the servicer": (
        "Analyze", "AnalyzeStack", "Configure", "_configure_runtime_settings", "_get_enforcement_level",
        "_create_report_violation", "_get_resource_options", "_get_provider_resource", "_get_policy_config",
        "_map_enforcement_level"),
    "private fields the servicer's __init__ sets": (
        "policies", "policy_pack_name", "policy_pack_version", "stack_tags"),
}
"""Everything of pulumi-policy's internals this module uses (besides ``deserialize_properties`` and
``unknown_checking_proxy``, which it imports: an ImportError when they go)."""

REPRODUCED: dict[str, tuple[str, ...]] = {
    "Analyze": ("deserialize_properties(json_format.MessageToDict(request.properties))",
                "unknown_checking_proxy(deserialized)", "self._get_resource_options(request)",
                "self._get_provider_resource(request)", "Policy does not implement validate",
                "enforcement_level = EnforcementLevel.MANDATORY", "during preview: {e.message}",
                "reason=e.reason or \"\"", "ResourceValidationArgs(request.type, props, request.urn, request.name, "
                "opts, provider, config,"),
    "AnalyzeStack": ("deserialize_properties(json_format.MessageToDict(r.properties))",
                     "unknown_checking_proxy(deserialized)", "PolicyResource(r.type, props, r.urn, r.name, opts, "
                     "provider, None, [], {})", "StackValidationArgs(resources, config, self.__stack_tags)",
                     "enforcement_level = EnforcementLevel.MANDATORY", "during preview: {e.message}"),
}
"""Code of the parent's ``Analyze`` and ``AnalyzeStack`` that the subclass reproduces outside the per-policy loop;
``tests/policy/test_servicer.py`` fails when an upgrade changes any of it."""


class IncompatiblePulumiPolicy(RuntimeError):
    """The installed pulumi-policy no longer has what :class:`OnceDecodingServicer` is built on."""


def missing_internals() -> list[str]:
    """What of :data:`RELIED_ON` the installed pulumi-policy lacks (fields are checked on a servicer instance)."""
    missing = [f"pulumi_policy.policy.{name}" for name in RELIED_ON["module attributes of pulumi_policy.policy"]
               if not hasattr(upstream, name)]
    parent = getattr(upstream, _PARENT, None)
    if parent is None:
        return missing
    missing += [f"{_PARENT}.{name}" for name in RELIED_ON["methods of the servicer"] if not hasattr(parent, name)]
    if not missing:
        probe = parent("probe", "0.0.1", [_probe_policy()], upstream.EnforcementLevel.ADVISORY)
        missing += [f"{_PARENT}.__{name}" for name in RELIED_ON["private fields the servicer's __init__ sets"]
                    if not hasattr(probe, _MANGLED + name)]
    return missing


def _probe_policy() -> Any:
    return upstream.ResourceValidationPolicy(name="probe", description="probe", validate=lambda args, report: None)


def decode_once_per_request() -> None:
    """Make every :class:`pulumi_policy.PolicyPack` built from now on serve through :class:`OnceDecodingServicer`.
    Raises :class:`IncompatiblePulumiPolicy` when the installed pulumi-policy lacks what it relies on."""
    missing = missing_internals()
    if missing:
        raise IncompatiblePulumiPolicy(
            f"pulumi-policy {version('pulumi-policy')} lacks {', '.join(missing)}, which the pack's servicer "
            f"(policies/mlopsguard/servicer.py) relies on; it was tested with pulumi-policy "
            f"{','.join(TESTED_VERSIONS)}: install that range (policies/requirements.txt)")
    upstream._PolicyAnalyzerServicer = OnceDecodingServicer  # pylint: disable=protected-access


_RUNTIME_ENVIRONMENT = ("PULUMI_PROJECT", "PULUMI_STACK", "PULUMI_DRY_RUN", "PULUMI_ORGANIZATION", "PULUMI_CONFIG")
"""What pulumi-policy's ``_configure_runtime_settings`` reads (through ``pulumi.runtime.get_config_env``)."""


def _props(message: Any) -> Any:
    """A request's properties decoded as pulumi-policy decodes them for a validation."""
    return unknown_checking_proxy(deserialize_properties(json_format.MessageToDict(message)))


_Parent: Any = getattr(upstream, _PARENT, object)


class OnceDecodingServicer(_Parent):
    """pulumi-policy's analyzer servicer with ``Analyze`` and ``AnalyzeStack`` decoding each request once."""

    def _private(self, name: str) -> Any:
        return getattr(self, _MANGLED + name)

    _configured_for: tuple[str | None, ...] | None = None

    def _configure_runtime_settings(self) -> None:
        """pulumi-policy configures the Pulumi runtime from the environment before every request; its inputs are
        environment variables, so it is done again only when one of them changed."""
        environment = tuple(os.environ.get(name) for name in _RUNTIME_ENVIRONMENT)
        if environment != self._configured_for:
            super()._configure_runtime_settings()
            self._configured_for = environment

    _plans: dict[str, list[tuple[Any, Any]]] | None = None

    def Configure(self, request, context):  # noqa: N802 (gRPC method name)
        response = super().Configure(request, context)
        self._plans = {}  # the levels changed
        return response

    def _plan(self, resource_type: str) -> list[tuple[Any, Any]]:
        """What ``Analyze`` does for a resource type, policy by policy in pack order: ``(policy, level)`` to
        validate, ``(policy, None)`` to report not applicable (a remediation-only policy); disabled policies, stack
        policies and those that judge other types (rule.judging) left out. It depends on the configured levels
        alone, so it is kept until the next ``Configure``."""
        plans = self._plans if self._plans is not None else {}
        plan = plans.get(resource_type)
        if plan is None:
            plan = []
            for policy in self._private("policies"):
                level = self._get_enforcement_level(policy)
                if level == upstream.EnforcementLevel.DISABLED or not isinstance(
                        policy, upstream.ResourceValidationPolicy):
                    continue
                if not policy.has_validation():
                    plan.append((policy, None))
                    continue
                judges = getattr(policy, JUDGES, None)
                if judges is not None and not judges(resource_type):
                    continue  # the validation would return at once without a report
                if level == upstream.EnforcementLevel.REMEDIATE:
                    level = upstream.EnforcementLevel.MANDATORY  # a violation left after remediation blocks
                plan.append((policy, level))
            plans[resource_type] = plan
            self._plans = plans
        return plan

    def Analyze(self, request, _context):  # noqa: N802 (gRPC method name)
        self._configure_runtime_settings()
        response = proto.AnalyzeResponse()
        decoded: tuple[Any, Any, Any] | None = None
        for policy, level in self._plan(request.type):
            if level is None:
                response.not_applicable.append(proto.PolicyNotApplicable(
                    policy_name=policy.name, reason="Policy does not implement validate"))
                continue
            if decoded is None:
                decoded = (_props(request.properties), self._get_resource_options(request),
                           self._get_provider_resource(request))
            props, opts, provider = decoded
            args = upstream.ResourceValidationArgs(request.type, props, request.urn, request.name, opts, provider,
                                                   self._get_policy_config(policy.name), self._private("stack_tags"))
            report = self._report(response, policy, level)
            self._run(policy, response, lambda: policy.validate(args, report))  # noqa: B023 (called at once)
        return response

    def AnalyzeStack(self, request, _context):  # noqa: N802 (gRPC method name)
        self._configure_runtime_settings()
        response = proto.AnalyzeResponse()
        resources: IndexedResources | None = None
        for policy in self._private("policies"):
            level = self._get_enforcement_level(policy)
            if level == upstream.EnforcementLevel.DISABLED or not isinstance(policy, upstream.StackValidationPolicy):
                continue
            if level == upstream.EnforcementLevel.REMEDIATE:
                level = upstream.EnforcementLevel.MANDATORY  # stack policies cannot remediate
            if resources is None:
                resources = self._stack_resources(request)
            args = upstream.StackValidationArgs(resources, self._get_policy_config(policy.name),
                                                self._private("stack_tags"))
            report = self._report(response, policy, level)
            self._run(policy, response, lambda: policy.validate(args, report))  # noqa: B023 (called at once)
        return response

    def _report(self, response: Any, policy: Any, level: Any) -> Callable[..., None]:
        return self._create_report_violation(response, policy.name, policy.description, level, policy.severity)

    def _stack_resources(self, request: Any) -> IndexedResources:
        """Every resource of the request, decoded once, linked to its parent and dependencies as pulumi-policy
        links them, in a list that carries the stack's shared index."""
        resources = [upstream.PolicyResource(r.type, _props(r.properties), r.urn, r.name,
                                             self._get_resource_options(r), self._get_provider_resource(r),
                                             None, [], {})
                     for r in request.resources]
        by_urn = {resource.urn: resource for resource in resources}
        for resource, message in zip(resources, request.resources):
            if message.parent in by_urn:
                resource.parent = by_urn[message.parent]
            resource.dependencies.extend(by_urn[urn] for urn in message.dependencies if urn in by_urn)
            for key, dependencies in message.propertyDependencies.items():
                resource.property_dependencies[key] = [by_urn[urn] for urn in dependencies.urns if urn in by_urn]
        return IndexedResources(resources)

    def _run(self, policy: Any, response: Any, validate: Callable[[], Any]) -> None:
        """Run one validation as pulumi-policy does: await it when it is a coroutine, turn an unknown value into
        the advisory "can't run policy" diagnostic and a not-applicable signal into a not-applicable entry."""
        try:
            result = validate()
            if isawaitable(result):
                loop = asyncio.new_event_loop()
                try:
                    loop.run_until_complete(asyncio.Task(result, loop=loop))
                finally:
                    loop.close()
        except UnknownValueError as error:
            name, version_ = self._private("policy_pack_name"), self._private("policy_pack_version")
            response.diagnostics.append(proto.AnalyzeDiagnostic(
                policyName=policy.name, policyPackName=name, policyPackVersion=version_,
                message=f"can't run policy '{policy.name}' from policy pack '{name}@v{version_}' during preview: "
                        f"{error.message}",
                urn="", description=policy.description,
                enforcementLevel=self._map_enforcement_level(upstream.EnforcementLevel.ADVISORY)))
        except upstream._NotApplicableError as error:  # pylint: disable=protected-access
            response.not_applicable.append(proto.PolicyNotApplicable(policy_name=policy.name,
                                                                     reason=error.reason or ""))
