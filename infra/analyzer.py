"""Drive a CrossGuard policy pack through its analyzer interface, as the Pulumi CLI does.

The pack runs as its own process, started the way the CLI starts a Python pack (``python -m pulumi.policy
<engine> <pack dir>``), and is spoken to over gRPC: ``GetAnalyzerInfo``, ``Configure`` with the pack's config
reconciled as the engine reconciles it (the pack's initial config, then each policy's schema defaults, then the
config file, where ``all`` sets every policy's level), ``ConfigureStack``, ``Analyze`` for each resource and
``AnalyzeStack`` once for the whole stack. Nothing here calls a rule function directly.
"""

from __future__ import annotations

import copy
import json
import os
import select
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import jsonschema
from google.protobuf import empty_pb2, json_format, struct_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc

from .harness import Preview, RecordedResource

LEVELS = {
    analyzer_pb2.ADVISORY: "advisory",
    analyzer_pb2.MANDATORY: "mandatory",
    analyzer_pb2.DISABLED: "disabled",
    analyzer_pb2.REMEDIATE: "remediate",
}
LEVEL_VALUES = {name: value for value, name in LEVELS.items()}
_START_TIMEOUT_SECONDS = 60
_CALL_TIMEOUT_SECONDS = 60
"""Deadline of one call: a rule that hangs fails the preview instead of stalling it."""
_STACK_TIMEOUT_SECONDS = 900
"""AnalyzeStack judges every resource at once; 10,000 take a few seconds on two cores, pulumi-policy's own servicer
with rules that scan the stack (tests/policy/unoptimised_pack) needs minutes."""
_MAX_MESSAGE_BYTES = 400 * 1024 * 1024


class PolicyConfigError(ValueError):
    """The policy config file names an unknown policy or a value its schema rejects."""


@dataclass(frozen=True)
class Violation:
    policy: str
    level: str
    urn: str
    message: str

    def as_json(self) -> dict[str, str]:
        return {"policy": self.policy, "level": self.level, "urn": self.urn, "message": self.message}


@dataclass(frozen=True)
class PolicyInfo:
    name: str
    description: str
    level: str
    severity: str
    tags: tuple[str, ...]
    kind: str
    """``resource`` or ``stack``."""
    config_schema: dict[str, Any]


class PolicyPackProcess:
    """A running policy pack. Use as a context manager; the process ends on exit."""

    def __init__(self, pack_dir: Path, *, project: str = "project", stack: str = "stack"):
        self.pack_dir = pack_dir.resolve()
        if not (self.pack_dir / "PulumiPolicy.yaml").is_file():
            raise PolicyConfigError(f"{pack_dir}: no PulumiPolicy.yaml; pass the directory of a policy pack")
        self._env = {**os.environ, "PULUMI_PROJECT": project, "PULUMI_STACK": stack, "PULUMI_DRY_RUN": "true"}
        self._process: subprocess.Popen[bytes] | None = None
        self._channel: grpc.Channel | None = None
        self.stub: analyzer_pb2_grpc.AnalyzerStub

    def __enter__(self) -> PolicyPackProcess:
        # stderr goes to a file, not a pipe: a pack that logs a lot must never block on a pipe nobody reads.
        self._stderr = tempfile.TemporaryFile()
        self._process = subprocess.Popen(
            [sys.executable, "-u", "-m", "pulumi.policy", "127.0.0.1:0", str(self.pack_dir)],
            cwd=self.pack_dir,
            env=self._env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
        )
        port_line = self._first_line(_START_TIMEOUT_SECONDS)
        if not port_line.isdigit():
            stderr = self._stop()
            raise RuntimeError(f"policy pack {self.pack_dir} did not start: {port_line} {stderr}".strip())
        # After the port, anything the pack prints is drained so that it can never fill the pipe and stall.
        threading.Thread(target=self._process.stdout.read, daemon=True).start()
        # A large stack's AnalyzeStack answer (one diagnostic per finding) passes gRPC's 4 MiB default; the CLI
        # accepts far larger plugin messages, so this driver does too.
        self._channel = grpc.insecure_channel(f"127.0.0.1:{port_line}", options=[
            ("grpc.max_receive_message_length", _MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", _MAX_MESSAGE_BYTES)])
        grpc.channel_ready_future(self._channel).result(timeout=_START_TIMEOUT_SECONDS)
        self.stub = analyzer_pb2_grpc.AnalyzerStub(self._channel)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop()

    def cpu_seconds(self) -> float:
        """CPU time the pack's process has used so far (user and system), from ``/proc`` (Linux)."""
        fields = Path(f"/proc/{self._process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def _first_line(self, timeout: float) -> str:
        """The pack's first line of output (its port), or "" when it exits or stays silent for ``timeout`` s."""
        stdout = self._process.stdout
        ready, _, _ = select.select([stdout], [], [], timeout)
        return stdout.readline().decode(errors="replace").strip() if ready else ""

    def _stop(self) -> str:
        if self._channel is not None:
            self._channel.close()
        if self._process is None:
            return ""
        self._process.kill()
        self._process.wait(timeout=10)
        self._process = None
        self._stderr.seek(0)
        tail = self._stderr.read().decode(errors="replace")[-2000:]
        self._stderr.close()
        return tail

    def info(self) -> tuple[list[PolicyInfo], dict[str, Any]]:
        """The pack's policies, and its initial config."""
        response = self.stub.GetAnalyzerInfo(empty_pb2.Empty(), timeout=_CALL_TIMEOUT_SECONDS)
        policies = [
            PolicyInfo(
                name=policy.name,
                description=policy.description,
                level=LEVELS.get(policy.enforcementLevel, "advisory"),
                severity=analyzer_pb2.PolicySeverity.Name(policy.severity).removeprefix("POLICY_SEVERITY_").lower(),
                tags=tuple(policy.tags),
                kind="stack" if policy.policy_type == analyzer_pb2.POLICY_TYPE_STACK else "resource",
                config_schema=json_format.MessageToDict(policy.configSchema),
            )
            for policy in response.policies
        ]
        initial = {
            name: {
                **({"enforcementLevel": LEVELS[config.enforcementLevel]} if config.enforcementLevel else {}),
                **json_format.MessageToDict(config.properties),
            }
            for name, config in response.initialConfig.items()
        }
        return policies, initial

    def configure(self, config: Mapping[str, Mapping[str, Any]]) -> None:
        request = analyzer_pb2.ConfigureAnalyzerRequest()
        for name, values in config.items():
            properties = struct_pb2.Struct()
            properties.update({k: v for k, v in values.items() if k != "enforcementLevel"})
            request.policyConfig[name].CopyFrom(
                analyzer_pb2.PolicyConfig(enforcementLevel=LEVEL_VALUES[values["enforcementLevel"]],
                                          properties=properties)
            )
        self.stub.Configure(request, timeout=_CALL_TIMEOUT_SECONDS)

    def configure_stack(self, project: str, stack: str) -> None:
        self.stub.ConfigureStack(analyzer_pb2.AnalyzerStackConfigureRequest(project=project, stack=stack, dry_run=True),
                                 timeout=_CALL_TIMEOUT_SECONDS)

    def analyze(self, preview: Preview) -> list[Violation]:
        """``Analyze`` every resource, then ``AnalyzeStack``; the violations and diagnostics, in that order."""
        requests = encode_requests(preview)
        return self.analyze_resources(requests) + self.analyze_stack(requests)

    def analyze_resources(self, requests: AnalyzerRequests) -> list[Violation]:
        """``Analyze`` for each resource of already encoded requests."""
        found: list[Violation] = []
        for urn, request in requests.resources:
            found.extend(_violations(self.stub.Analyze(request, timeout=_CALL_TIMEOUT_SECONDS).diagnostics, urn))
        return found

    def analyze_stack(self, requests: AnalyzerRequests) -> list[Violation]:
        """``AnalyzeStack`` once for the whole stack of already encoded requests."""
        return _violations(self.stub.AnalyzeStack(requests.stack, timeout=_STACK_TIMEOUT_SECONDS).diagnostics, "")


@dataclass(frozen=True)
class AnalyzerRequests:
    """What the engine sends the pack for one preview: an ``Analyze`` request per resource (with its URN) and one
    ``AnalyzeStack`` request."""

    resources: list[tuple[str, analyzer_pb2.AnalyzeRequest]]
    stack: analyzer_pb2.AnalyzeStackRequest


def encode_requests(preview: Preview) -> AnalyzerRequests:
    """The analyzer requests for everything ``preview`` recorded, each resource encoded once for both."""
    described = [(resource, _described(preview, resource)) for resource in preview.resources]
    stack = analyzer_pb2.AnalyzeStackRequest(
        resources=[
            analyzer_pb2.AnalyzerResource(
                **fields,
                parent=resource.parent,
                dependencies=list(resource.dependencies),
                propertyDependencies={
                    key: analyzer_pb2.AnalyzerPropertyDependencies(urns=list(urns))
                    for key, urns in resource.property_dependencies.items()
                },
            )
            for resource, fields in described
        ]
    )
    return AnalyzerRequests([(resource.urn, analyzer_pb2.AnalyzeRequest(**fields)) for resource, fields in described],
                            stack)


@dataclass(frozen=True)
class Remediation:
    policy: str
    properties: dict[str, Any]
    """The resource's inputs as the policy rewrote them (wire form)."""
    diagnostic: str


def remediate(pack: PolicyPackProcess, preview: Preview, resource: RecordedResource) -> list[Remediation]:
    """``Remediate`` one resource, as the engine does before ``Analyze`` for policies at level ``remediate``."""
    request = analyzer_pb2.AnalyzeRequest(
        type=resource.type, properties=_struct(resource.inputs), urn=resource.urn, name=resource.name,
        options=_options(resource), provider=_provider(preview, resource),
    )
    response = pack.stub.Remediate(request, timeout=_CALL_TIMEOUT_SECONDS)
    return [
        Remediation(policy=item.policyName, properties=json_format.MessageToDict(item.properties),
                    diagnostic=item.diagnostic)
        for item in response.remediations
    ]


def reconcile_config(
    policies: Iterable[PolicyInfo], initial: Mapping[str, Mapping[str, Any]], file_config: Mapping[str, Any]
) -> dict[str, dict[str, Any]]:
    """Each policy's effective config: its default level, the pack's initial config, schema defaults, then the
    config file (``all`` first, then the policy's own entry). Raises ``PolicyConfigError`` for an unknown policy,
    an unknown level or a value the policy's schema rejects."""
    policies = list(policies)
    names = {policy.name for policy in policies}
    for key in file_config:
        if key != "all" and key not in names:
            raise PolicyConfigError(f"policy config: {key!r} is not a policy of this pack; known are {', '.join(sorted(names))}")
    everyone = _entry("all", file_config.get("all"))
    result = {}
    for policy in policies:
        config: dict[str, Any] = {"enforcementLevel": policy.level}
        config.update(copy.deepcopy(dict(initial.get(policy.name, {}))))
        for prop, schema in policy.config_schema.get("properties", {}).items():
            if "default" in schema and prop not in config:
                config[prop] = copy.deepcopy(schema["default"])
        config.update(everyone)
        config.update(_entry(policy.name, file_config.get(policy.name)))
        properties = {k: v for k, v in config.items() if k != "enforcementLevel"}
        schema = {"type": "object", **policy.config_schema}
        try:
            jsonschema.validate(properties, schema)
        except jsonschema.ValidationError as error:
            path = ".".join(str(p) for p in error.absolute_path)
            raise PolicyConfigError(f"policy config: {policy.name}.{path}: {error.message}") from None
        result[policy.name] = config
    return result


def _entry(name: str, value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    entry = {"enforcementLevel": value} if isinstance(value, str) else dict(value)
    level = entry.get("enforcementLevel")
    if level is not None and level not in LEVEL_VALUES:
        raise PolicyConfigError(
            f"policy config: {name}.enforcementLevel: {level!r} is not allowed; use one of {', '.join(LEVEL_VALUES)}"
        )
    if name == "all":
        return {"enforcementLevel": level} if level else {}
    return entry


def load_policy_config(path: Path | None) -> dict[str, Any]:
    """A policy config file (JSON, as ``pulumi preview --policy-pack-config`` takes), or {} for none."""
    if path is None:
        return {}
    try:
        document = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise PolicyConfigError(f"policy config: {path}: cannot be read as JSON ({error})") from None
    if not isinstance(document, dict):
        raise PolicyConfigError(f"policy config: {path}: the top level must be an object of policy names")
    return document


def run_policy_pack(preview: Preview, pack_dir: Path, config_file: Path | None = None) -> list[Violation]:
    """Start the pack, configure it as the engine would, and analyze everything ``preview`` recorded."""
    file_config = load_policy_config(config_file)
    with PolicyPackProcess(pack_dir, project=preview.project, stack=preview.stack) as pack:
        policies, initial = pack.info()
        pack.configure(reconcile_config(policies, initial, file_config))
        pack.configure_stack(preview.project, preview.stack)
        return pack.analyze(preview)


def _described(preview: Preview, resource: RecordedResource) -> dict[str, Any]:
    """The fields ``Analyze`` and ``AnalyzeStack`` both send for a resource, encoded once."""
    return {
        "type": resource.type,
        "properties": _struct(resource.inputs),
        "urn": resource.urn,
        "name": resource.name,
        "options": _options(resource),
        "provider": _provider(preview, resource),
    }


def _struct(values: Mapping[str, Any]) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    struct.update(values)
    return struct


def _options(resource: RecordedResource) -> analyzer_pb2.AnalyzerResourceOptions:
    return analyzer_pb2.AnalyzerResourceOptions(
        protect=resource.protect, ignoreChanges=list(resource.ignore_changes), parent=resource.parent
    )


def _provider(preview: Preview, resource: RecordedResource) -> analyzer_pb2.AnalyzerProviderResource | None:
    provider = preview.provider_of(resource)
    if provider is None:
        return None
    return analyzer_pb2.AnalyzerProviderResource(
        type=provider.type, properties=_struct(provider.inputs), urn=provider.urn, name=provider.name
    )


def _violations(diagnostics: Iterable[analyzer_pb2.AnalyzeDiagnostic], analyzed_urn: str) -> list[Violation]:
    """Violations as the CLI shows them: a resource policy's violation belongs to the analyzed resource, and the
    message is the rule's own detail (pulumi-policy prefixes it with the policy description)."""
    return [
        Violation(
            policy=diagnostic.policyName,
            level=LEVELS.get(diagnostic.enforcementLevel, "advisory"),
            urn=diagnostic.urn or analyzed_urn,
            message=diagnostic.message.removeprefix(diagnostic.description).strip() or diagnostic.description,
        )
        for diagnostic in diagnostics
    ]
