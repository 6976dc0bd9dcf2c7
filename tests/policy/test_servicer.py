"""The pack's servicer (policies/mlopsguard/servicer.py) against the pulumi-policy it builds on.

These tests fail when a pulumi-policy upgrade changes what the servicer relies on: the version range, the private
names, how ``PolicyPack`` builds its servicer and what configures the runtime. They also hold the servicer to its
promise: each request decoded once, and answers identical to pulumi-policy's own servicer, unknown values,
not-applicable policies, remediation-only policies, disabled and remediate levels and async validations included.
"""

from __future__ import annotations

import inspect
import re
import sys
import tomllib
from importlib.metadata import version

import pytest
from google.protobuf import json_format, struct_pb2
from packaging.specifiers import SpecifierSet
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc

from tests.policy.conftest import PACK_DIR, UNKNOWN

sys.path.insert(0, str(PACK_DIR))
import pulumi_policy.policy as upstream  # noqa: E402
from mlopsguard import PACK_NAME, all_policies  # noqa: E402
from mlopsguard.servicer import (  # noqa: E402
    _RUNTIME_ENVIRONMENT,
    REPRODUCED,
    TESTED_VERSIONS,
    OnceDecodingServicer,
    decode_once_per_request,
    missing_internals,
)
from pulumi_policy import (  # noqa: E402
    EnforcementLevel,
    PolicyPack,
    ResourceValidationPolicy,
    StackValidationPolicy,
)

UPSTREAM = OnceDecodingServicer.__bases__[0]
ROOT = PACK_DIR.parent


def test_the_installed_pulumi_policy_is_in_the_tested_range():
    assert version("pulumi-policy") in SpecifierSet(",".join(TESTED_VERSIONS))


def test_both_requirement_files_pin_the_tested_range():
    tested = SpecifierSet(",".join(TESTED_VERSIONS))
    # The offline tools' extra (`testing`) is where the library declares the pack's dependency.
    testing_extra = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["testing"]
    pins = [line for line in testing_extra if line.startswith("pulumi-policy")]
    pins += [line for line in (PACK_DIR / "requirements.txt").read_text().splitlines()
             if line.startswith("pulumi-policy")]
    assert [SpecifierSet(pin.removeprefix("pulumi-policy")) for pin in pins] == [tested, tested]


def test_pulumi_policy_still_has_every_internal_the_servicer_uses():
    assert UPSTREAM.__name__ == "_PolicyAnalyzerServicer"
    assert missing_internals() == []


def test_policy_pack_builds_its_servicer_from_the_name_the_servicer_replaces(monkeypatch):
    """PolicyPack looks ``_PolicyAnalyzerServicer`` up when it is built, so replacing the name takes effect."""
    served = []
    monkeypatch.setattr(upstream, "_PolicyAnalyzerServicer", UPSTREAM)
    monkeypatch.setattr(analyzer_pb2_grpc, "add_AnalyzerServicer_to_server", lambda servicer, _: served.append(servicer))
    monkeypatch.setattr(upstream.time, "sleep", _interrupt)  # PolicyPack serves until interrupted
    monkeypatch.setattr(sys, "stdout", _Stdout())
    decode_once_per_request()
    PolicyPack(name=PACK_NAME, policies=all_policies(), enforcement_level=EnforcementLevel.ADVISORY)
    assert [type(s) for s in served] == [OnceDecodingServicer]


def test_the_runtime_configuration_reads_only_the_environment_the_servicer_watches():
    source = inspect.getsource(UPSTREAM._configure_runtime_settings)
    read = set(re.findall(r"""os\.environ(?:\.get\(|\[)\s*["'](\w+)["']""", source))
    assert read and read <= set(_RUNTIME_ENVIRONMENT)
    assert "get_config_env()" in source and '"PULUMI_CONFIG"' in inspect.getsource(
        sys.modules["pulumi.runtime.config"].get_config_env)


@pytest.mark.parametrize("method", sorted(REPRODUCED))
def test_the_code_the_servicer_reproduces_is_unchanged_upstream(method):
    source = " ".join(inspect.getsource(getattr(UPSTREAM, method)).split())
    assert [snippet for snippet in REPRODUCED[method] if " ".join(snippet.split()) not in source] == []


def _interrupt(_seconds):
    raise KeyboardInterrupt


class _Stdout:
    class buffer:  # noqa: N801 (mimics sys.stdout.buffer)
        @staticmethod
        def write(_data):
            return 0


# --- answers identical to pulumi-policy's own servicer ---------------------------------------------------------------

def _reads(prop):
    def validate(args, report):
        if args.props[prop] != "ok":  # raises UnknownValueError for an unknown value, as pulumi-policy intends
            report(f"{prop} is {args.props[prop]}")
    return validate


def _not_applicable(args, _report):
    args.not_applicable("does not apply here")


async def _async_validate(args, report):
    if args.props.get("a") == "bad":
        report("async: a is bad")


def _stack_reads(args, report):
    for resource in args.resources:
        if resource.props["a"] == "bad":
            report("stack: a is bad", resource.urn)
        if resource.parent is not None or resource.dependencies:
            report(f"linked: {resource.parent and resource.parent.urn} {[d.urn for d in resource.dependencies]}")
        for key, dependencies in resource.property_dependencies.items():
            report(f"{key} depends on {[d.urn for d in dependencies]}", resource.urn)


def _stack_not_applicable(args, _report):
    args.not_applicable()


def _policies():
    return [
        ResourceValidationPolicy(name="reads-a", description="reads a", validate=_reads("a")),
        ResourceValidationPolicy(name="remediated", description="remediate level", validate=_reads("a"),
                                 enforcement_level=EnforcementLevel.REMEDIATE),
        ResourceValidationPolicy(name="disabled", description="disabled", validate=_reads("a"),
                                 enforcement_level=EnforcementLevel.DISABLED),
        ResourceValidationPolicy(name="not-applicable", description="not applicable", validate=_not_applicable),
        ResourceValidationPolicy(name="remediation-only", description="only remediates", remediate=lambda a: None),
        ResourceValidationPolicy(name="async", description="async", validate=_async_validate),
        StackValidationPolicy(name="stack-reads-a", description="stack reads a", validate=_stack_reads),
        StackValidationPolicy(name="stack-not-applicable", description="stack n/a", validate=_stack_not_applicable),
        *all_policies(),
    ]


_LEVELS = {EnforcementLevel.ADVISORY: analyzer_pb2.ADVISORY, EnforcementLevel.MANDATORY: analyzer_pb2.MANDATORY,
           EnforcementLevel.REMEDIATE: analyzer_pb2.REMEDIATE, EnforcementLevel.DISABLED: analyzer_pb2.DISABLED}


def _configuration(policies):
    """Every policy at its own level with its schema defaults, ``reads-a`` mandatory: as the engine configures."""
    request = analyzer_pb2.ConfigureAnalyzerRequest()
    for policy in policies:
        schema = policy.config_schema.properties if policy.config_schema else {}
        level = EnforcementLevel.MANDATORY if policy.name == "reads-a" else (
            policy.enforcement_level or EnforcementLevel.ADVISORY)
        request.policyConfig[policy.name].CopyFrom(analyzer_pb2.PolicyConfig(
            enforcementLevel=_LEVELS[level],
            properties=_struct({k: v["default"] for k, v in schema.items() if "default" in v})))
    return request


def _servicers():
    made = []
    for cls in (UPSTREAM, OnceDecodingServicer):
        policies = _policies()
        servicer = cls(PACK_NAME, "0.0.1", policies, EnforcementLevel.ADVISORY)
        servicer.Configure(_configuration(policies), None)
        made.append(servicer)
    return made


def _struct(values):
    struct = struct_pb2.Struct()
    struct.update(values)
    return struct


def _request(name, a, **extra):
    return analyzer_pb2.AnalyzeRequest(type="aws:s3/bucket:Bucket", name=name, urn=f"urn:pulumi:s::p::t::{name}",
                                       properties=_struct({"a": a, **extra}), **(
                                           {"provider": analyzer_pb2.AnalyzerProviderResource(
                                               type="pulumi:providers:aws", name="p", urn="urn:p",
                                               properties=_struct({"region": "eu-west-1"}))} if extra else {}))


@pytest.mark.parametrize("a", ["ok", "bad", UNKNOWN])
def test_analyze_answers_exactly_as_pulumi_policy_does(a):
    upstream_servicer, servicer = _servicers()
    request = _request("r", a, tags={"x": "y"})
    expected = json_format.MessageToDict(upstream_servicer.Analyze(request, None))
    assert json_format.MessageToDict(servicer.Analyze(request, None)) == expected
    assert expected.get("diagnostics") and expected.get("notApplicable")


def test_analyze_stack_answers_exactly_as_pulumi_policy_does():
    upstream_servicer, servicer = _servicers()
    requests = [_request("one", "ok"), _request("two", "bad"), _request("three", UNKNOWN)]
    resources = [analyzer_pb2.AnalyzerResource(type=r.type, name=r.name, urn=r.urn, properties=r.properties)
                 for r in requests]
    resources[1].parent = resources[0].urn
    resources[1].dependencies.append(resources[0].urn)
    resources[1].propertyDependencies["bucket"].urns.extend([resources[0].urn, "urn:not-in-stack"])
    request = analyzer_pb2.AnalyzeStackRequest(resources=resources)
    expected = json_format.MessageToDict(upstream_servicer.AnalyzeStack(request, None))
    assert json_format.MessageToDict(servicer.AnalyzeStack(request, None)) == expected
    assert any("can't run policy" in d["message"] for d in expected["diagnostics"]) and expected["notApplicable"]


# --- one decoding per request ----------------------------------------------------------------------------------------

@pytest.fixture
def decodings(monkeypatch):
    counted = []
    decode = json_format.MessageToDict
    monkeypatch.setattr(json_format, "MessageToDict", lambda message, *a, **k: counted.append(1) or decode(
        message, *a, **k))
    return counted


def test_analyze_decodes_the_properties_and_the_provider_once_for_all_policies(decodings):
    _, servicer = _servicers()
    decodings.clear()  # Configure decodes each policy's config
    servicer.Analyze(_request("r", "ok", tags={}), None)
    assert len(decodings) == 2


def test_analyze_stack_decodes_each_resource_once_for_all_stack_policies(decodings):
    _, servicer = _servicers()
    decodings.clear()  # Configure decodes each policy's config
    requests = [_request(f"r{i}", "ok") for i in range(5)]
    servicer.AnalyzeStack(analyzer_pb2.AnalyzeStackRequest(resources=[
        analyzer_pb2.AnalyzerResource(type=r.type, name=r.name, urn=r.urn, properties=r.properties)
        for r in requests]), None)
    assert len(decodings) == 5
