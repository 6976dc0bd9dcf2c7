"""Azurite, a stand-in for Entra's token endpoint and the proxy between them, once per test session."""

from __future__ import annotations

import pytest

from tests.azure.emulated_azure import azurite_available, running_emulated_azure


@pytest.fixture(scope="session")
def emulated_azure():
    if not azurite_available():
        pytest.skip("Azurite is not installed: run .ci/setup (npm package azurite into .venv/node)")
    with running_emulated_azure() as azure:
        yield azure
