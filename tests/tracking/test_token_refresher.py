"""The token refresher's behaviour without a database: what it writes where, when it refreshes, what it keeps when
the identity provider fails, what its probes answer and what it logs (never the credential)."""

from __future__ import annotations

import io
import json
import stat
import threading
import urllib.error
import urllib.request

import pytest

from serving_image.tracking.token_refresher import (
    EXPIRY_MARGIN_SECONDS,
    JsonLog,
    Refresher,
    health_server,
    passfile_line,
    read_settings,
    write_passfile,
)
from serving_image.tracking.token_sources import DatabaseTarget, SourceError, Token, load_source

TARGET = DatabaseTarget(host="db.example.internal", port=5432, user="mlflow_tracking")
RDS_LIKE = "db.example.internal:5432/?Action=connect&DBUser=mlflow_tracking&X-Amz-Signature=ab\\cd"


class Clock:
    def __init__(self, now: float = 1_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


class ScriptedSource:
    """Hands out the next token, or raises, as scripted."""

    def __init__(self, *steps):
        self.steps = list(steps)

    def fetch(self) -> Token:
        step = self.steps.pop(0)
        if isinstance(step, Exception):
            raise step
        return step


def settings(tmp_path, **env):
    return read_settings({"MLOPS_DB_TOKEN_SOURCE": "scripted", "MLOPS_DB_HOST": TARGET.host,
                          "MLOPS_DB_PORT": str(TARGET.port), "MLOPS_DB_USER": TARGET.user,
                          "MLOPS_DB_PASSFILE": str(tmp_path / "pgpass"), **env})


def refresher(tmp_path, source, clock, **env):
    log = io.StringIO()
    return Refresher(source, settings(tmp_path, **env), JsonLog(log), clock=clock), log


def parse_passfile_line(line: str) -> list[str]:
    """Split a pass-file line the way libpq does (``\\`` escapes the next character)."""
    fields, current, escaped = [], "", False
    for char in line.rstrip("\n"):
        if escaped:
            current, escaped = current + char, False
        elif char == "\\":
            escaped = True
        elif char == ":":
            fields.append(current)
            current = ""
        else:
            current += char
    return [*fields, current]


def test_pass_file_line_escapes_colons_and_backslashes_so_libpq_reads_the_whole_token():
    line = passfile_line(TARGET, Token(RDS_LIKE, None))
    assert parse_passfile_line(line) == [TARGET.host, "5432", "*", TARGET.user, RDS_LIKE]


def test_pass_file_is_replaced_atomically_and_readable_by_its_owner_only(tmp_path):
    path = tmp_path / "pgpass"
    write_passfile(path, "a:1:*:u:old\n")
    write_passfile(path, "a:1:*:u:new\n")
    assert path.read_text() == "a:1:*:u:new\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["pgpass"]  # no temporary file left behind


def test_refreshes_at_a_third_of_a_short_lived_tokens_life(tmp_path):
    clock = Clock()
    worker, _ = refresher(tmp_path, ScriptedSource(Token("t1", clock.now + 900)), clock)
    assert worker.refresh() == 300
    worker, _ = refresher(tmp_path, ScriptedSource(Token("t1", clock.now + 90)), clock)
    assert worker.refresh() == 30


def test_a_password_without_expiry_is_reread_every_refresh_interval(tmp_path):
    clock = Clock()
    worker, _ = refresher(tmp_path, ScriptedSource(Token("p", None)), clock, MLOPS_DB_REFRESH_SECONDS="120")
    assert worker.refresh() == 120
    assert worker.ready()


def test_an_outage_keeps_the_last_good_token_with_growing_retries_then_recovers(tmp_path):
    clock = Clock()
    outage = ConnectionError("sts.eu-west-1.amazonaws.com unreachable")
    source = ScriptedSource(Token("good", clock.now + 900), outage, outage, outage, Token("next", clock.now + 900))
    worker, log = refresher(tmp_path, source, clock, MLOPS_DB_RETRY_SECONDS="5")
    worker.refresh()
    waits = [worker.refresh() for _ in range(3)]
    assert waits == [5, 10, 20]
    assert parse_passfile_line((tmp_path / "pgpass").read_text())[-1] == "good"
    assert worker.ready()
    worker.refresh()
    assert parse_passfile_line((tmp_path / "pgpass").read_text())[-1] == "next"
    events = [json.loads(line)["event"] for line in log.getvalue().splitlines()]
    assert events == ["token_refreshed", *["token_refresh_failed"] * 3, "token_refreshed"]
    assert worker.status()["failures"] == 3 and worker.status()["refreshes"] == 2


def test_not_ready_before_the_first_token_nor_once_the_kept_token_is_about_to_expire(tmp_path):
    clock = Clock()
    worker, _ = refresher(tmp_path, ScriptedSource(TimeoutError("no route"), Token("t", clock.now + 900)), clock)
    worker.refresh()
    assert not worker.ready()
    worker.refresh()
    assert worker.ready()
    clock.now += 900 - EXPIRY_MARGIN_SECONDS
    assert not worker.ready()


def test_logs_never_contain_the_credential_even_when_the_source_echoes_it(tmp_path):
    clock = Clock()
    secret = "s3cr3t-token-value"
    source = ScriptedSource(Token(secret, clock.now + 900), RuntimeError(f"rejected {secret}"))
    worker, log = refresher(tmp_path, source, clock)
    worker.refresh()
    worker.refresh()
    assert log.getvalue().count("\n") == 2
    assert secret not in log.getvalue()
    assert secret not in repr(Token(secret, None))


def test_probes_answer_ready_and_live_from_the_refreshers_state(tmp_path):
    clock = Clock()
    worker, _ = refresher(tmp_path, ScriptedSource(Token("t", clock.now + 900)), clock)
    server = health_server(worker, 0, "127.0.0.1")
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"

    def status(path: str) -> int:
        try:
            with urllib.request.urlopen(base + path, timeout=5) as response:
                return response.status
        except urllib.error.HTTPError as error:
            return error.code

    try:
        assert (status("/readyz"), status("/livez")) == (503, 200)
        worker.refresh()
        assert status("/readyz") == 200
        worker.fetch_started = clock.now - 121  # a fetch hung for over two minutes
        assert status("/livez") == 503
        assert status("/metrics") == 404
    finally:
        server.shutdown()


@pytest.mark.parametrize("env, message", [
    ({"MLOPS_DB_PORT": "0"}, "MLOPS_DB_PORT: '0' is not allowed; use a number from 1 to 65535"),
    ({"MLOPS_DB_REFRESH_SECONDS": "soon"}, "MLOPS_DB_REFRESH_SECONDS: 'soon' is not allowed"),
    ({"MLOPS_DB_USER": ""}, "MLOPS_DB_USER: missing"),
])
def test_bad_settings_are_one_line_errors(tmp_path, env, message):
    with pytest.raises(SourceError) as raised:
        settings(tmp_path, **env)
    assert str(raised.value).startswith(message)


def test_an_unknown_source_name_says_which_exist():
    with pytest.raises(SourceError) as raised:
        load_source("gcp-magic", {}, TARGET)
    assert str(raised.value) == ("MLOPS_DB_TOKEN_SOURCE: 'gcp-magic' is not allowed; use one of aws-rds-iam, "
                                 "aws-secrets-manager, azure-entra or package.module:Class")


def test_a_source_outside_the_registry_is_named_by_module_and_class():
    source = load_source("tests.tracking.test_token_refresher:FixedSource", {"FIXED": "x"}, TARGET)
    assert source.fetch() == Token("x", None)


class FixedSource:
    def __init__(self, value: str):
        self.value = value

    @classmethod
    def from_environment(cls, env, target):
        return cls(env["FIXED"])

    def fetch(self) -> Token:
        return Token(self.value, None)


def test_the_health_address_is_every_interface_unless_set(tmp_path):
    """The pod's kubelet probes the pod IP; a test or a host process may keep the probe on loopback."""
    assert settings(tmp_path).health_address == "0.0.0.0"
    assert settings(tmp_path, MLOPS_DB_HEALTH_ADDRESS="127.0.0.1").health_address == "127.0.0.1"
