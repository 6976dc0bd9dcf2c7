"""Schema checks for the Kubernetes objects the components render.

- Built-in kinds: the Kubernetes OpenAPI schema in strict mode (``kubernetes-validate``), so an unknown or misspelt
  field fails instead of being dropped by the API server.
- Custom resources (ServiceMonitor, PrometheusRule, HTTPRoute, ...): the ``openAPIV3Schema`` of the pinned CRD in
  the reference data, made strict the same way: an object schema that lists its properties rejects any other,
  unless it says ``x-kubernetes-preserve-unknown-fields`` (what the API server would prune is an error here).

Objects come from the harness: :func:`object_from_resource` rebuilds the manifest from a recorded
``kubernetes:<group>/<version>:<Kind>`` resource.
"""

from __future__ import annotations

import copy
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml

from mlops_platform_offline.harness import RecordedResource, plain_form

KUBERNETES_VERSION = "1.35.0"
"""The Kubernetes minor the schema checks use; keep it at the oldest version the clusters may run."""


class SchemaError(AssertionError):
    """An object does not match its schema; the message names the object and the failing path."""


def object_from_resource(resource: RecordedResource) -> dict[str, Any]:
    """The manifest a pulumi-kubernetes resource sends to the API server (secrets shown in plain form)."""
    group_version, kind = resource.type.split(":", 1)[1].rsplit(":", 1)
    group, _, version = group_version.rpartition("/")
    api_version = version if group in ("core", "") else f"{group}/{version}"
    manifest = {k: v for k, v in plain_form(resource.inputs, redact=False).items()}
    manifest.setdefault("apiVersion", api_version)
    manifest.setdefault("kind", kind)
    metadata = dict(manifest.get("metadata") or {})
    metadata.setdefault("name", resource.outputs.get("metadata", {}).get("name", resource.name))
    manifest["metadata"] = metadata
    return manifest


def validate_kubernetes_object(manifest: dict[str, Any], version: str = KUBERNETES_VERSION) -> None:
    """Raise :class:`SchemaError` unless ``manifest`` is valid for its kind in strict mode."""
    try:
        kubernetes_validate.validate(manifest, version, strict=True)
    except kubernetes_validate.ValidationError as error:
        raise SchemaError(f"{_describe(manifest)}: {'.'.join(map(str, error.path))}: {error.message}") from None
    except kubernetes_validate.SchemaNotFoundError as error:
        raise SchemaError(f"{_describe(manifest)}: no schema for it in Kubernetes {version} ({error})") from None


def validate_crd_object(manifest: dict[str, Any], crd_path: Path) -> None:
    """Raise :class:`SchemaError` unless ``manifest`` is valid against the CRD in ``crd_path`` (strict)."""
    schema = _crd_schema(str(crd_path), manifest.get("apiVersion", ""), manifest.get("kind", ""))
    validator = jsonschema.Draft7Validator(schema)
    errors = sorted(validator.iter_errors(manifest), key=lambda e: list(e.absolute_path))
    if errors:
        first = errors[0]
        path = ".".join(str(p) for p in first.absolute_path) or "(root)"
        raise SchemaError(f"{_describe(manifest)}: {path}: {first.message}")


@lru_cache(maxsize=None)
def _crd_schema(crd_path: str, api_version: str, kind: str) -> dict[str, Any]:
    crd = yaml.safe_load(Path(crd_path).read_text())
    spec = crd["spec"]
    group, _, version = api_version.rpartition("/")
    if group != spec["group"] or kind != spec["names"]["kind"]:
        raise SchemaError(f"{kind} {api_version} is not the kind {spec['names']['kind']} of group {spec['group']}")
    for entry in spec["versions"]:
        if entry["name"] == version:
            return _strict(copy.deepcopy(entry["schema"]["openAPIV3Schema"]))
    served = ", ".join(v["name"] for v in spec["versions"])
    raise SchemaError(f"{kind}: version {version} is not in {crd_path} (it serves {served})")


def _strict(schema: Any) -> Any:
    if isinstance(schema, dict):
        for key, value in schema.items():
            if key != "default":
                schema[key] = _strict(value)
        if (
            "properties" in schema
            and "additionalProperties" not in schema
            and not schema.get("x-kubernetes-preserve-unknown-fields")
        ):
            schema["additionalProperties"] = False
    elif isinstance(schema, list):
        return [_strict(item) for item in schema]
    return schema


def _describe(manifest: dict[str, Any]) -> str:
    metadata = manifest.get("metadata") or {}
    return f"{manifest.get('kind', '?')} {metadata.get('namespace', '')}/{metadata.get('name', '?')}".replace(" /", " ")
