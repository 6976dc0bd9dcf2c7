"""Start the component provider the way the Pulumi CLI does, and talk to it over gRPC."""

from __future__ import annotations

import os
import selectors
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import grpc
import yaml
from pulumi.runtime.proto import provider_pb2_grpc

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
def served_provider(engine_address: str = "127.0.0.1:1") -> Iterator[provider_pb2_grpc.ResourceProviderStub]:
    """The provider process, from its first stdout line (the port) to its termination. ``engine_address`` is where
    it would send logs; nothing connects to it unless a Construct logs."""
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
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield provider_pb2_grpc.ResourceProviderStub(channel)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
