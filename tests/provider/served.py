"""Start the component provider the way the Pulumi CLI does, and talk to it over gRPC."""

from __future__ import annotations

import os
import selectors
import subprocess
import sys
from collections.abc import Iterator
from concurrent import futures
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import grpc
import yaml
from google.protobuf import empty_pb2
from pulumi.runtime.proto import engine_pb2_grpc, provider_pb2_grpc, resource_pb2, resource_pb2_grpc

PROJECT_ROOT = Path(__file__).resolve().parents[2]
PLUGIN_DIR = PROJECT_ROOT / "provider"
STARTUP_SECONDS = 180
"""Importing three clouds' SDKs takes ~15 s on an idle machine; the shared test machine can be much slower."""


def plugin_command(engine_address: str) -> list[str]:
    """What the Python language host runs for a plugin directory with ``__main__.py`` (``python <dir> <engine>``),
    after checking that PulumiPlugin.yaml asks for the Python runtime. The CLI uses the plugin's own ``venv``; the
    tests use this environment's interpreter, where the library is installed."""
    manifest = yaml.safe_load((PLUGIN_DIR / "PulumiPlugin.yaml").read_text())
    runtime = manifest["runtime"]
    assert (runtime["name"] if isinstance(runtime, dict) else runtime) == "python"
    assert (PLUGIN_DIR / "__main__.py").is_file()
    return [sys.executable, str(PLUGIN_DIR), engine_address]


@contextmanager
def served_provider(engine_address: str = "127.0.0.1:1") -> Iterator[str]:
    """The provider process, from its first stdout line (the port) to its termination, as its address.
    ``engine_address`` is where it sends logs; nothing connects to it unless a Construct logs."""
    process = subprocess.Popen(plugin_command(engine_address), cwd=PLUGIN_DIR, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        with selectors.DefaultSelector() as selector:
            selector.register(process.stdout, selectors.EVENT_READ)
            ready = selector.select(timeout=STARTUP_SECONDS)
        port = process.stdout.readline().strip() if ready else ""
        if not port.isdigit():
            process.kill()
            raise AssertionError(f"the provider printed no port: {port!r}; stderr: {process.stderr.read()[-2000:]}")
        yield f"127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class EngineBridge(resource_pb2_grpc.ResourceMonitorServicer, engine_pb2_grpc.EngineServicer):
    """A gRPC engine and resource monitor for a provider process, backed by the harness's in-process monitor of the
    run under way (``target``), so what the provider registers over gRPC is recorded like a Python program's. The
    provider's logs are kept in ``logs``."""

    def __init__(self) -> None:
        self.target: Any = None
        self.logs: list[str] = []

    # Engine
    def Log(self, request, context):
        self.logs.append(request.message)
        return empty_pb2.Empty()

    # Resource monitor: the calls a component provider's SDK makes during Construct.
    def GetDeploymentInfo(self, request, context):
        return self.target.GetDeploymentInfo(request)

    def SupportsFeature(self, request, context):
        return resource_pb2.SupportsFeatureResponse(hasSupport=self.target.SupportsFeature(request).hasSupport)

    def RegisterResource(self, request, context):
        return self.target.RegisterResource(request)

    def RegisterResourceOutputs(self, request, context):
        return self.target.RegisterResourceOutputs(request)

    def Invoke(self, request, context):
        return self.target.Invoke(request)

    def RegisterPackage(self, request, context):
        return self.target.RegisterPackage(request)

    def SignalAndWaitForShutdown(self, request, context):
        return empty_pb2.Empty()


@contextmanager
def engine_bridge() -> Iterator[tuple[EngineBridge, str]]:
    """An :class:`EngineBridge` served on 127.0.0.1, and its address."""
    bridge = EngineBridge()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    resource_pb2_grpc.add_ResourceMonitorServicer_to_server(bridge, server)
    engine_pb2_grpc.add_EngineServicer_to_server(bridge, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield bridge, f"127.0.0.1:{port}"
    finally:
        server.stop(grace=None)
