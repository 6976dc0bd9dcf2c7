"""The route argument shared by MLflow and the model endpoints: checked once, with errors naming the key."""

from __future__ import annotations

import pytest

from mlops_platform.kubernetes.gateway_route import validate_route_args
from mlops_platform.validation import ArgumentError

GOOD = {"hostname": "models.example.com", "gateway_name": "public", "gateway_namespace": "gateway"}


def test_the_listener_defaults_to_https_and_absence_means_no_route():
    assert validate_route_args(GOOD, "route") == {**GOOD, "listener": "https"}
    assert validate_route_args({**GOOD, "hostname": "*.models.example.com", "listener": "tls"}, "route")["listener"] == "tls"
    assert validate_route_args(None, "route") is None


@pytest.mark.parametrize(("change", "message"), [
    ({"hostname": "models"}, "route.hostname: 'models' is not allowed; use a fully qualified DNS name"),
    ({"hostname": "Models.Example.com"}, "route.hostname: 'Models.Example.com' is not allowed"),
    ({"hostname": "https://models.example.com"}, "route.hostname: 'https://models.example.com' is not allowed"),
    ({"gateway_name": None}, "route.gateway_name: missing"),
    ({"gateway_namespace": "Gateway_NS"}, "route.gateway_namespace: 'Gateway_NS' is not allowed; use a lowercase DNS"),
    ({"listener": ""}, "route.listener: '' is not allowed"),
    ({"tls": True}, "route.tls: unknown key"),
])
def test_a_bad_route_names_the_key_and_the_value(change, message):
    route = {key: value for key, value in {**GOOD, **change}.items() if value is not None}
    with pytest.raises(ArgumentError) as raised:
        validate_route_args(route, "route")
    assert str(raised.value).startswith(message)
