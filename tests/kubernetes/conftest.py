"""Servers the live tests of rendered pods share, started once per session: one PostgreSQL (TLS on, so a client may
ask for ``verify-full`` or ``disable``) and one moto server. Each test makes its own database, roles, buckets and
secrets in them, under names no other test uses."""

from __future__ import annotations

import pytest

from tests.kubernetes.live_services import Postgres, postgres_bin, running_moto, running_postgres


@pytest.fixture(scope="session")
def live_postgres() -> Postgres:
    if postgres_bin() is None:
        pytest.skip("PostgreSQL is not installed")
    with running_postgres(tls=True) as postgres:
        yield postgres


@pytest.fixture(scope="session")
def live_moto() -> str:
    with running_moto() as url:
        yield url
