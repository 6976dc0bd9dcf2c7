"""Where the model comes from: its identity (name, version) and a local copy of its files.

A registry URI is resolved once, before anything is downloaded: `models:/name@alias` becomes the pinned
`models:/name/<version>`, so the metrics, /version and the loaded files always agree even if the alias moves
while the server starts. Other URIs (runs:/, s3://, gs://, wasbs://, local paths, models:/m-<id>) name no
registered model; their name and version come from MODEL_NAME / MODEL_VERSION.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tempfile

_REGISTERED_MODEL_URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:@(?P<alias>[^/]+)|/(?P<ref>[^/]+))/?$")
_UNKNOWN = "unknown"


@dataclasses.dataclass(frozen=True)
class ModelIdentity:
    """What the server says it serves, and the URI it loads the files from."""

    name: str
    version: str
    configured_uri: str
    load_uri: str


def resolve_identity(model_uri: str, model_name: str = "", model_version: str = "") -> ModelIdentity:
    """Name and version of the model at `model_uri`, asking the MLflow registry when the URI names one."""
    match = _REGISTERED_MODEL_URI.match(model_uri)
    if match is None:
        return ModelIdentity(model_name or _UNKNOWN, model_version or _UNKNOWN, model_uri, model_uri)
    name, alias, ref = match["name"], match["alias"], match["ref"]
    if alias is not None:
        from mlflow import MlflowClient

        version = MlflowClient().get_model_version_by_alias(name, alias).version
    elif ref.isdigit():
        version = ref
    else:
        version = _latest_version(name, stage=None if ref.lower() == "latest" else ref)
    return ModelIdentity(name, str(version), model_uri, f"models:/{name}/{version}")


def _latest_version(name: str, stage: str | None) -> str:
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    client = MlflowClient()
    if stage is None:
        versions = client.search_model_versions(f"name = '{name}'")
    else:
        versions = client.get_latest_versions(name, stages=[stage])
    if not versions:
        raise MlflowException(f"registered model {name!r} has no version" + (f" in stage {stage!r}" if stage else ""))
    return str(max(int(version.version) for version in versions))


def local_model_path(identity: ModelIdentity, download_dir: str) -> str:
    """A local directory holding the model's files; remote models are downloaded under `download_dir`."""
    uri = identity.load_uri
    if uri.startswith("file://"):
        uri = uri[len("file://"):]
    if "://" not in uri and ":/" not in uri:
        return uri
    import mlflow.artifacts

    os.makedirs(download_dir, exist_ok=True)
    destination = tempfile.mkdtemp(prefix="model-", dir=download_dir)
    return mlflow.artifacts.download_artifacts(artifact_uri=identity.load_uri, dst_path=destination)
