"""Run a Pulumi Python program offline, the way the engine would, and record what it registers.

This is the only module that touches Pulumi's private runtime APIs. It stands in for the engine: the program runs
in-process under a mock resource monitor that

- records every registration (urn, type, name, parent, provider, custom, protect, inputs in wire form,
  dependencies) and rejects a duplicate URN as the engine does;
- runs resource transforms as the engine does (Pulumi's own mock monitor does not): the resource's own transforms,
  then those of each ancestor, then the stack's, each through the SDK's callback server, so the recorded inputs are
  what a real ``pulumi up`` would send;
- fills provider-computed outputs with realistic values (``mlops_platform_offline.fakes``), so nothing downstream silently turns
  empty, and answers provider invokes from the same module (an invoke it has no fake for is an error, not None).

Programs run as the Pulumi CLI runs them: config comes from the stack file (``Pulumi.<stack>.yaml``) exactly as
the CLI passes it, the program's directory is first on ``sys.path`` for the whole run (so it imports its own sibling
modules and packages, e.g. a ``components/`` of its own), and the modules it imported from there are forgotten
afterwards, so the next program with a package of the same name imports its own. An encrypted (``secure:``) value
cannot be decrypted offline: the program gets ``SECURE_PLACEHOLDER`` instead, as a secret, unless the caller passes
a value of its own for that key.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import logging
import runpy
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from google.protobuf import json_format, struct_pb2

import pulumi
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc
from pulumi.runtime._callbacks import _CallbackServicer
from pulumi.runtime.config import set_all_config
from pulumi.runtime.proto import resource_pb2
from pulumi.runtime.settings import configure, set_root_resource
from pulumi.runtime.stack import run_in_stack
from pulumi.runtime.sync_await import _ensure_event_loop

from . import fakes

SECRET_SIG = rpc._special_sig_key
SECRET_MARKER = rpc._special_secret_sig
UNKNOWN = rpc.UNKNOWN
SECURE_PLACEHOLDER = "offline-placeholder-secret"
"""What the program reads, as a secret, for a ``secure:`` stack value: the encrypted value cannot be read offline."""


class ProgramError(Exception):
    """The program under preview failed: bad config, a bad argument, or a bug. ``__cause__`` holds the original,
    ``registered`` what the program had registered before it failed."""

    def __init__(self, message: str, registered: list[RecordedResource] | None = None):
        super().__init__(message)
        self.registered = registered or []


class StackConfigError(ProgramError):
    """The stack's config file is missing or cannot be read offline."""


@dataclass(frozen=True)
class RecordedResource:
    """One resource registration, as the engine received it (after transforms)."""

    urn: str
    type: str
    name: str
    parent: str
    provider: str
    """The provider reference (``<provider urn>::<id>``), or "" for the default provider."""
    custom: bool
    protect: bool
    inputs: dict[str, Any]
    """Inputs in wire form: secrets as signature objects, unknowns as the unknown sentinel."""
    dependencies: tuple[str, ...]
    property_dependencies: dict[str, tuple[str, ...]]
    outputs: dict[str, Any]
    """The state the (fake) provider returned: inputs plus computed outputs, in plain form."""
    ignore_changes: tuple[str, ...] = ()


@dataclass
class Preview:
    """What a program registered, and its stack outputs."""

    project: str
    stack: str
    resources: list[RecordedResource]
    outputs: dict[str, Any]
    stack_urn: str = ""
    providers: dict[str, RecordedResource] = field(default_factory=dict)

    def all(self, type_: str) -> list[RecordedResource]:
        """Every resource of one type token, in registration order."""
        return [resource for resource in self.resources if resource.type == type_]

    def one(self, type_: str, name: str | None = None) -> RecordedResource:
        """The single resource of ``type_`` (and ``name``); fails if there is none or more than one."""
        found = [r for r in self.all(type_) if name is None or r.name == name]
        if len(found) != 1:
            names = [r.name for r in self.all(type_)]
            raise LookupError(f"expected one {type_}{f' named {name}' if name else ''}, found {len(found)}: {names}")
        return found[0]

    def provider_of(self, resource: RecordedResource) -> RecordedResource | None:
        """The explicit provider resource of ``resource``, or None for the default provider."""
        if not resource.provider:
            return None
        return self.providers.get(resource.provider.rsplit("::", 1)[0])


@dataclass(frozen=True)
class ProjectFiles:
    """Where a Pulumi project keeps its program and stack configs."""

    root: Path
    name: str
    program: Path
    stack_config_dir: Path
    virtualenv: Path | None = None
    """The program's own virtualenv (``runtime.options.virtualenv``; ``.venv`` with the ``uv`` toolchain), or None
    when the project names none and the CLI would run the program with the Python it finds."""

    @classmethod
    def load(cls, directory: Path) -> ProjectFiles:
        project_file = directory / "Pulumi.yaml"
        if not project_file.is_file():
            raise StackConfigError(f"{directory}: no Pulumi.yaml; pass the directory of a Pulumi project")
        document = yaml.safe_load(project_file.read_text()) or {}
        main = Path(document.get("main") or ".")
        runtime = document.get("runtime")
        options = (runtime.get("options") or {}) if isinstance(runtime, dict) else {}
        virtualenv = options.get("virtualenv") or (".venv" if options.get("toolchain") == "uv" else None)
        return cls(
            root=directory,
            name=str(document["name"]),
            program=(directory / main).resolve(),
            stack_config_dir=(directory / document.get("stackConfigDir", ".")).resolve(),
            virtualenv=(directory / virtualenv).absolute() if virtualenv else None,
        )

    def stack_file(self, stack: str) -> Path:
        return self.stack_config_dir / f"Pulumi.{stack}.yaml"

    def stacks(self) -> list[str]:
        return sorted(p.name[len("Pulumi."):-len(".yaml")] for p in self.stack_config_dir.glob("Pulumi.*.yaml"))


@dataclass(frozen=True)
class StackFile:
    """A stack file's config as the CLI passes it to the program."""

    values: dict[str, str]
    """Full keys (``<namespace>:<key>``), string values, objects as JSON; ``SECURE_PLACEHOLDER`` for secure ones."""
    secret_keys: tuple[str, ...]
    """The keys whose values are secrets (``secure:`` in the stack file)."""


def read_stack_file(project: ProjectFiles, stack: str) -> StackFile:
    """Read ``Pulumi.<stack>.yaml`` of ``project``; secure values become secret placeholders."""
    path = project.stack_file(stack)
    if not path.is_file():
        known = ", ".join(project.stacks()) or "none"
        raise StackConfigError(f"stack {stack!r}: no {path}; known stacks are {known}")
    try:
        document = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        raise StackConfigError(f"{path}: not valid YAML ({error})") from None
    flat: dict[str, str] = {}
    secret_keys: list[str] = []
    for key, value in (document.get("config") or {}).items():
        full_key = key if ":" in key else f"{project.name}:{key}"
        if isinstance(value, dict) and set(value) == {"secure"}:
            flat[full_key] = SECURE_PLACEHOLDER
            secret_keys.append(full_key)
            continue
        flat[full_key] = _config_string(value)
    return StackFile(values=flat, secret_keys=tuple(secret_keys))


def read_stack_config(project: ProjectFiles, stack: str) -> dict[str, str]:
    """A stack file's config values as the CLI passes them (see :func:`read_stack_file`)."""
    return read_stack_file(project, stack).values


def _config_string(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def run_program(
    program: Path,
    *,
    project: str,
    stack: str,
    config: Mapping[str, str],
    secret_keys: list[str] | None = None,
) -> Preview:
    """Run the Pulumi program in ``program`` (a directory with ``__main__.py``, or a Python file) offline, with its
    directory first on ``sys.path`` as the CLI runs it."""
    entry = program / "__main__.py" if program.is_dir() else program
    if not entry.is_file():
        raise ProgramError(f"{program}: no Pulumi Python program there (expected {entry})")

    def execute() -> None:
        runpy.run_path(str(entry), run_name="__main__")

    with _program_on_path(entry.parent.resolve()):
        return run_function(execute, project=project, stack=stack, config=config, secret_keys=secret_keys)


@contextlib.contextmanager
def _program_on_path(directory: Path) -> Iterator[None]:
    """``directory`` first on ``sys.path`` while the program runs; afterwards the modules it imported from there
    are dropped from ``sys.modules`` (not those of packages loaded before, such as this one, nor those of the running
    virtualenv when it lives inside the project)."""
    before = set(sys.modules)
    environment = Path(sys.prefix).resolve()  # a virtualenv inside the project holds libraries, not the program
    sys.path.insert(0, str(directory))
    try:
        yield
    finally:
        sys.path.remove(str(directory))
        for name in set(sys.modules) - before:
            module_file = getattr(sys.modules[name], "__file__", None)
            location = Path(module_file).resolve() if module_file else None
            if location and location.is_relative_to(directory) and not location.is_relative_to(environment) \
                    and name.partition(".")[0] not in before:
                del sys.modules[name]


def run_function(
    program: Callable[[], Any],
    *,
    project: str = "project",
    stack: str = "stack",
    config: Mapping[str, str] | None = None,
    secret_keys: list[str] | None = None,
) -> Preview:
    """Run ``program`` (a function that declares resources) offline; the building block of :func:`run_program`."""
    # A fresh context per run: Pulumi keeps its settings, config and root resource in context variables.
    return contextvars.Context().run(_run_isolated, program, project, stack, dict(config or {}), secret_keys)


def preview_stack(project_dir: Path, stack: str, config: Mapping[str, str] | None = None) -> Preview:
    """Run a project's program with the config of one of its stacks; ``config`` overrides or adds values (full
    keys; a value given for a secure key stays a secret)."""
    project = ProjectFiles.load(project_dir)
    stack_file = read_stack_file(project, stack)
    values = {**stack_file.values, **(config or {})}
    return run_program(project.program, project=project.name, stack=stack, config=values,
                       secret_keys=list(stack_file.secret_keys))


def _run_isolated(program, project, stack, config, secret_keys) -> Preview:
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    monitor = _RecordingMonitor(loop)
    configure(
        pulumi_mocks.MockSettings(
            monitor=monitor,
            monitor_features=set(monitor.GetDeploymentInfo(None).supportedFeatures),
            engine=pulumi_mocks.MockEngine(logging.getLogger("pulumi.offline")),
            project=project,
            stack=stack,
            dry_run=True,
            organization="organization",
            callbacks=None,
        )
    )
    set_all_config(dict(config), secret_keys or [])
    set_root_resource(None)
    failed = False

    def after_failure_quietly(event_loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        # Once the run has failed and been reported as a ProgramError, the futures it abandoned (the same error,
        # again and again) are garbage-collected noise, as when the engine stops a failed program.
        if not failed:
            event_loop.default_exception_handler(context)

    loop.set_exception_handler(after_failure_quietly)
    try:
        loop.run_until_complete(run_in_stack(program))
    except Exception as error:  # the program's own error, or one the monitor raised as the engine would
        failed = True
        raise ProgramError(str(error) or type(error).__name__, list(monitor.records.values())) from error
    finally:
        loop.run_until_complete(loop.shutdown_default_executor())
        monitor.close_thread_loops()
        loop.close()
        asyncio.set_event_loop(None)
    return Preview(
        project=project,
        stack=stack,
        resources=list(monitor.records.values()),
        outputs=monitor.stack_outputs,
        stack_urn=monitor.stack_urn,
        providers={r.urn: r for r in monitor.records.values() if r.type.startswith("pulumi:providers:")},
    )


class _RecordingMonitor(pulumi_mocks.MockMonitor):
    """A resource monitor that behaves like the engine where it matters for an offline preview."""

    def __init__(self, loop: asyncio.AbstractEventLoop):
        super().__init__(_FakeProviders(self))
        self._loop = loop
        self.records: dict[str, RecordedResource] = {}
        self.stack_outputs: dict[str, Any] = {}
        self.stack_urn = ""
        self._stack_transform_tokens: list[str] = []
        self._resource_transform_tokens: dict[str, list[str]] = {}
        self._parents: dict[str, str] = {}
        self._seen_urns: set[str] = set()
        self._thread_loops: set[asyncio.AbstractEventLoop] = set()
        """Event loops the SDK made on executor threads to deserialize properties; closed when the run ends."""
        self._registering = threading.Lock()

    def close_thread_loops(self) -> None:
        for thread_loop in self._thread_loops:
            if thread_loop is not self._loop and not thread_loop.is_closed():
                thread_loop.close()
        self._thread_loops.clear()

    def provider_inputs(self, reference: str) -> dict[str, Any]:
        """The plain inputs of the explicit provider behind ``reference`` (empty for a default provider)."""
        record = self.records.get(reference.rsplit("::", 1)[0]) if reference else None
        return plain_form(record.inputs, redact=False) if record else {}

    def RegisterStackTransform(self, request):
        self._stack_transform_tokens.append(request.token)
        return super().RegisterStackTransform(request)

    def RegisterResource(self, request):
        urn = self.make_urn(request.parent, request.type, request.name)
        if request.type == "pulumi:pulumi:Stack":
            self.stack_urn = urn
            return resource_pb2.RegisterResourceResponse(urn=urn)
        with self._registering:  # registrations arrive on several threads at once
            if urn in self._seen_urns:
                raise ValueError(f"Duplicate resource URN '{urn}'; try giving it a unique name")
            self._seen_urns.add(urn)
        _ensure_event_loop()
        self._thread_loops.add(asyncio.get_event_loop())

        properties, options = self._transformed(request)
        protect = options.protect if options.HasField("protect") else bool(request.protect)
        dependencies = tuple(options.depends_on) if options.depends_on else tuple(request.dependencies)
        inputs = wire_form(properties)
        plain_inputs = rpc.deserialize_properties(properties)
        resource_id, state = fakes.new_resource(
            request.type, request.name, plain_inputs, self.provider_inputs(request.provider)
        )
        self._parents[urn] = request.parent
        self._resource_transform_tokens[urn] = [callback.token for callback in request.transforms]
        self.records[urn] = RecordedResource(
            urn=urn,
            type=request.type,
            name=request.name,
            parent=request.parent,
            provider=request.provider,
            custom=bool(request.custom),
            protect=protect,
            inputs=inputs,
            dependencies=dependencies,
            property_dependencies={k: tuple(v.urns) for k, v in request.propertyDependencies.items()},
            outputs=state,
            ignore_changes=tuple(options.ignore_changes or request.ignoreChanges),
        )
        self.resources[urn] = pulumi_mocks.MockMonitor.ResourceRegistration(urn, resource_id, state)
        response_object = asyncio.run_coroutine_threadsafe(rpc.serialize_properties(state, {}), self._loop).result()
        return resource_pb2.RegisterResourceResponse(urn=urn, id=resource_id, object=response_object)

    def RegisterResourceOutputs(self, request):
        if request.urn == self.stack_urn:
            self.stack_outputs = plain_form(wire_form(request.outputs))
        return super().RegisterResourceOutputs(request)

    def _transformed(self, request) -> tuple[struct_pb2.Struct, resource_pb2.TransformResourceOptions]:
        """Apply the resource's transforms, then its ancestors', then the stack's, as the engine does."""
        options = _transform_options(request)
        tokens = [callback.token for callback in request.transforms]
        parent = request.parent
        while parent:
            tokens.extend(self._resource_transform_tokens.get(parent, []))
            parent = self._parents.get(parent, "")
        tokens.extend(self._stack_transform_tokens)
        properties = request.object
        for token in tokens:
            transform_request = resource_pb2.TransformRequest(
                type=request.type,
                name=request.name,
                custom=request.custom,
                parent=request.parent,
                properties=properties,
                options=options,
            )
            callback = _callback(token)
            raw = asyncio.run_coroutine_threadsafe(callback(transform_request.SerializeToString()), self._loop).result()
            response = resource_pb2.TransformResponse.FromString(raw.SerializeToString())
            properties = response.properties
            if response.HasField("options"):
                options = response.options
        return properties, options


def _callback(token: str):
    for servicer in _CallbackServicer._servicers:
        callback = servicer._callbacks.get(token)
        if callback is not None:
            return callback
    raise ProgramError(f"transform callback {token} is not registered with any callback server")


def _transform_options(request) -> resource_pb2.TransformResourceOptions:
    options = resource_pb2.TransformResourceOptions(
        depends_on=list(request.dependencies),
        ignore_changes=list(request.ignoreChanges),
        replace_on_changes=list(request.replaceOnChanges),
        version=request.version,
        provider=request.provider,
        plugin_download_url=request.pluginDownloadURL,
        deleted_with=request.deletedWith,
        additional_secret_outputs=list(request.additionalSecretOutputs),
        providers=dict(request.providers),
    )
    if request.HasField("protect"):
        options.protect = request.protect
    if request.HasField("retainOnDelete"):
        options.retain_on_delete = request.retainOnDelete
    if request.deleteBeforeReplaceDefined:
        options.delete_before_replace = request.deleteBeforeReplace
    return options


def wire_form(properties: struct_pb2.Struct) -> dict[str, Any]:
    """A property struct as JSON-ready wire values (secrets and unknowns keep their wire markers)."""
    return _whole_numbers(json_format.MessageToDict(properties))


def plain_form(value: Any, *, redact: bool = True) -> Any:
    """Wire values made plain: secrets become ``[secret]`` (or their value), unknowns ``[unknown]``."""
    if isinstance(value, dict):
        if value.get(SECRET_SIG) == SECRET_MARKER:
            return "[secret]" if redact else plain_form(value.get("value"), redact=redact)
        return {k: plain_form(v, redact=redact) for k, v in value.items()}
    if isinstance(value, list):
        return [plain_form(v, redact=redact) for v in value]
    if value == UNKNOWN:
        return "[unknown]"
    return value


def redacted(value: Any) -> Any:
    """Wire values with every secret's plaintext replaced by ``[secret]``, keeping the secret marker."""
    if isinstance(value, dict):
        if value.get(SECRET_SIG) == SECRET_MARKER:
            return {SECRET_SIG: SECRET_MARKER, "value": "[secret]"}
        return {k: redacted(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redacted(v) for v in value]
    return value


def _whole_numbers(value: Any) -> Any:
    """Protobuf carries every number as a double; write whole ones as integers."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _whole_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_whole_numbers(v) for v in value]
    return value


class _FakeProviders(pulumi.runtime.Mocks):
    """Provider behaviour from ``mlops_platform_offline.fakes`` for the parts of the mock monitor this module does not override:
    invokes, and reads of existing resources."""

    def __init__(self, monitor: _RecordingMonitor):
        self._monitor = monitor

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        return fakes.new_resource(args.typ, args.name, dict(args.inputs), self._monitor.provider_inputs(args.provider))

    def call(self, args: pulumi.runtime.MockCallArgs):
        return fakes.call(args.token, dict(args.args), self._monitor.provider_inputs(args.provider))
