"""Token sources of the database token refresher: where a short-lived database credential comes from.

A source is a class built from the refresher's environment (``from_environment(env, target)``) whose ``fetch()``
returns a :class:`Token`. ``SOURCES`` maps the names the cloud layers use (``RefreshedToken.source`` in
``components/cloud_layer.py``) to ``module:Class``, imported only when chosen, so the AWS SDK is not loaded for
Azure and a new cloud adds one module and one line here. A value of the form ``package.module:Class`` names a
source outside this registry (tests use it for a source that rotates a local PostgreSQL password).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class DatabaseTarget:
    """Whom the credential is for: libpq's host, port and user (the pass file's fields)."""

    host: str
    port: int
    user: str


@dataclass(frozen=True)
class Token:
    """A credential libpq sends as the password. ``expires_at`` is a Unix time, or None for a password that stays
    valid until it is rotated (it is still re-read at every refresh)."""

    value: str
    expires_at: float | None

    def __repr__(self) -> str:  # never show the credential in a traceback or a log line
        return f"Token(value=<{len(self.value)} characters>, expires_at={self.expires_at!r})"


class TokenSource(Protocol):
    """Gets a fresh credential; raises on any failure (the refresher keeps the last good one and retries)."""

    def fetch(self) -> Token: ...


class TokenSourceFactory(Protocol):
    def from_environment(self, env: Mapping[str, str], target: DatabaseTarget) -> TokenSource: ...


SOURCES: Mapping[str, str] = {
    "aws-rds-iam": "serving_image.tracking.aws_token_sources:RdsIamToken",
    "aws-secrets-manager": "serving_image.tracking.aws_token_sources:SecretsManagerPassword",
    "azure-entra": "serving_image.tracking.azure_token_sources:EntraAccessToken",
}
"""Token sources by name."""


class SourceError(ValueError):
    """The refresher's configuration names no usable token source, or lacks a setting it needs."""


def load_source(name: str, env: Mapping[str, str], target: DatabaseTarget) -> TokenSource:
    """The source ``name`` (a key of ``SOURCES`` or ``package.module:Class``), built from ``env``."""
    path = SOURCES.get(name, name)
    module_name, _, class_name = path.partition(":")
    if not class_name:
        raise SourceError(f"MLOPS_DB_TOKEN_SOURCE: {name!r} is not allowed; use one of {', '.join(sorted(SOURCES))} "
                          f"or package.module:Class")
    try:
        factory: TokenSourceFactory = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as error:
        raise SourceError(f"MLOPS_DB_TOKEN_SOURCE: {name!r} cannot be loaded ({error})") from None
    return factory.from_environment(env, target)


def required(env: Mapping[str, str], key: str, meaning: str) -> str:
    """``env[key]``, or a one-line error saying what it should hold."""
    value = env.get(key, "").strip()
    if not value:
        raise SourceError(f"{key}: missing; set it to {meaning}")
    return value
