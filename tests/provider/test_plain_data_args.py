"""The plain-data forms of the cloud-layer contract's objects that other languages send (egress targets, database
access): converted to the contract's dataclasses, with one-line errors for bad input."""

from __future__ import annotations

import asyncio

import pytest

from mlops_platform.cloud_layer import EgressTarget, RefreshedToken, StaticPassword
from mlops_platform.kubernetes.database_login import database_access
from mlops_platform.kubernetes.network_access import egress_target
from mlops_platform.validation import ArgumentError

DEFAULT = EgressTarget(ports=(443,))


@pytest.fixture(autouse=True)
def event_loop_for_outputs():
    """``database_access`` makes Outputs of the plain values, and an Output needs an event loop."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    yield
    # The Outputs' tasks finish on this loop before it closes; left pending, a later program run under the harness
    # would find them on a closed loop.
    pending = asyncio.all_tasks(loop)
    loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
    asyncio.set_event_loop(None)
    loop.close()


def test_an_egress_mapping_becomes_the_contracts_target():
    target = egress_target({"ports": [5432], "namespace": "data", "pod_labels": {"app": "postgres"}}, "db", DEFAULT)
    assert target == EgressTarget(ports=(5432,), namespace="data", pod_labels={"app": "postgres"})


def test_an_absent_egress_target_is_the_default_and_a_contract_target_passes_through():
    given = EgressTarget(ports=(9000,), cidrs=("10.0.0.0/8",))
    assert egress_target(None, "x", DEFAULT) is DEFAULT
    assert egress_target(given, "x", DEFAULT) is given


@pytest.mark.parametrize(("value", "message"), [
    ("443", r"^storage_egress: '443' is not allowed; use a mapping with ports and cidrs or namespace$"),
    ({"ports": []}, r"^storage_egress\.ports: \[\] is not allowed; use a non-empty list of TCP ports \(1-65535\)$"),
    ({"ports": [70000]}, r"^storage_egress\.ports: \[70000\] is not allowed"),
    ({"ports": [443], "namespace": 3}, r"^storage_egress\.namespace: 3 is not allowed; use a namespace name$"),
    ({"ports": [443], "pod_labels": {"app": 1}}, r"^storage_egress\.pod_labels: \{'app': 1\} is not allowed"),
    ({"ports": [443], "cidr": ["10.0.0.0/8"]}, r"^storage_egress\.cidr"),
])
def test_a_bad_egress_target_gets_a_one_line_error(value, message):
    with pytest.raises(ArgumentError, match=message):
        egress_target(value, "storage_egress", DEFAULT)


ACCESS = {"host": "db", "port": 5432, "database": "mlflow", "username": "mlflow_tracking",
          "login": {"refreshed_token": {"source": "aws-rds-iam"}},
          "admin": {"username": "postgres", "login": {"static_password": "admin-password"}}}


def test_database_access_data_becomes_the_contracts_access():
    access = database_access(ACCESS)
    assert isinstance(access.login, RefreshedToken) and access.login.refresh_seconds == 300
    assert isinstance(access.admin.login, StaticPassword)
    assert (access.tls.mode, access.tls.ca_bundle, access.schema) == ("verify-full", "system", "mlflow")


@pytest.mark.parametrize(("change", "message"), [
    ({"host": None}, r"^database\.host: missing; it is required$"),
    ({"login": {"static_password": "a", "refreshed_token": {"source": "x"}}},
     r"^database\.login: .* is not allowed; give exactly one of static_password, refreshed_token, connector_sidecar$"),
    ({"login": {"connector_sidecar": {"name": "proxy"}}}, r"^database\.login\.connector_sidecar\.image: missing"),
    ({"admin": {"login": {"static_password": "a"}}}, r"^database\.admin: .* is not allowed; use a mapping with "
                                                     r"username and login$"),
    ({"tls": {"mode": "verify-full", "bundle": "x"}}, r"^database\.tls\.bundle"),
    ({"replicas": 2}, r"^database\.replicas"),
])
def test_bad_database_access_data_gets_a_one_line_error(change, message):
    with pytest.raises(ArgumentError, match=message):
        database_access({**ACCESS, **change})
