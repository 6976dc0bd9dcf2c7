"""The component provider: the public components served to every Pulumi language (TypeScript, Go, .NET, Java, YAML).

``provider/PulumiPlugin.yaml`` makes the repository's ``provider/`` folder a source-based component package;
``pulumi package add`` runs its ``__main__.py``, which calls :func:`serve`. Pulumi's component provider host reads the
schema from the classes themselves (their ``...Args`` TypedDicts, output annotations and docstrings).

Pulumi puts every component and type of a package in one module (``mlops:index:<Name>``), so the three clouds'
blocks, which share their Python names (``ArtifactStore`` in ``aws``, ``gcp`` and ``azure``), are served under the
cloud's prefix: ``AwsArtifactStore``, ``GcpArtifactStore``, ``AzureArtifactStore``. Each is a subclass that adds
nothing: a component built through the provider registers the same type token (``mlops:aws:ArtifactStore``) and the
same children as the Python class, so its URNs are the ones a Python program would get.

Not served: the layers and the platform (their sections are shaped by the chosen cloud, which a schema cannot
express without unions), the Prometheus stack (a union input), and the parts the layers wire themselves (the
database bootstrap, the monitoring objects, the GPU daemons, Karpenter, the CI identities, the local data services).
"""

import ast
import dataclasses
import functools
import inspect
import json
import sys
import textwrap
from typing import Any

import pulumi
from pulumi.provider.experimental.analyzer import Analyzer, PropertyDefinition, PropertyType, TypeDefinition
from pulumi.provider.experimental.component import ComponentProvider
from pulumi.provider.experimental.schema import generate_schema
from pulumi.provider.provider import Provider
from pulumi.provider.server import main as serve_provider

from .aws import artifact_store as aws_artifact_store
from .aws import cluster as aws_cluster
from .aws import database as aws_database
from .aws import network as aws_network
from .aws import workload_identity as aws_workload_identity
from .azure import artifact_store as azure_artifact_store
from .azure import cluster as azure_cluster
from .azure import database as azure_database
from .azure import network as azure_network
from .azure import resource_group as azure_resource_group
from .azure import workload_identity as azure_workload_identity
from .gcp import artifact_store as gcp_artifact_store
from .gcp import cluster as gcp_cluster
from .gcp import database as gcp_database
from .gcp import network as gcp_network
from .gcp import workload_identity as gcp_workload_identity
from .kubernetes.mlflow_server import MlflowServer
from .kubernetes.model_endpoint import BlueGreenModelEndpoint
from .kubernetes.namespace import IsolatedNamespace

PACKAGE = "mlops"
"""The package name: the first part of every schema token, and of the components' own type tokens."""
VERSION = "0.1.0"
"""The package version the schema carries (the distribution's version)."""
DESCRIPTION = "Pulumi components that stand up an MLOps platform on AWS, GCP or Azure."


def _served_as(prefix: str, component: type[pulumi.ComponentResource]) -> type[pulumi.ComponentResource]:
    """``component`` under the schema name ``<prefix><Name>``: a subclass with the same docstring and behaviour."""
    return type(f"{prefix}{component.__name__}", (component,),
                {"__doc__": component.__doc__, "__module__": component.__module__})


PUBLIC_COMPONENTS: tuple[type[pulumi.ComponentResource], ...] = (
    _served_as("Aws", aws_artifact_store.ArtifactStore),
    _served_as("Aws", aws_workload_identity.WorkloadIdentity),
    _served_as("Aws", aws_network.Network),
    _served_as("Aws", aws_cluster.Cluster),
    _served_as("Aws", aws_database.Database),
    _served_as("Gcp", gcp_artifact_store.ArtifactStore),
    _served_as("Gcp", gcp_workload_identity.WorkloadIdentity),
    _served_as("Gcp", gcp_network.Network),
    _served_as("Gcp", gcp_cluster.Cluster),
    _served_as("Gcp", gcp_database.Database),
    _served_as("Azure", azure_resource_group.ResourceGroup),
    _served_as("Azure", azure_artifact_store.ArtifactStore),
    _served_as("Azure", azure_workload_identity.WorkloadIdentity),
    _served_as("Azure", azure_network.Network),
    _served_as("Azure", azure_cluster.Cluster),
    _served_as("Azure", azure_database.Database),
    IsolatedNamespace,
    MlflowServer,
    BlueGreenModelEndpoint,
)
"""The components other languages can use, in schema order."""


@functools.cache
def attribute_docstrings(cls: type) -> dict[str, str]:
    """The docstrings written under the annotated attributes of ``cls``'s own body (``name: str`` then
    ``\"\"\"...\"\"\"``); empty when its source cannot be read."""
    try:
        source = textwrap.dedent(inspect.getsource(cls))
    except (OSError, TypeError):
        return {}
    body = next((node.body for node in ast.parse(source).body if isinstance(node, ast.ClassDef)), [])
    found: dict[str, str] = {}
    for statement, following in zip(body, body[1:]):
        if (isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name)
                and isinstance(following, ast.Expr) and isinstance(following.value, ast.Constant)
                and isinstance(following.value.value, str)):
            found[statement.target.id] = inspect.cleandoc(following.value.value)
    return found


class _Analyzer(Analyzer):
    """Pulumi's analyzer, reading attribute docstrings per class object and along the MRO: its own cache is keyed
    by the class name alone, so two clouds' ``ArtifactStoreArgs`` would share one set of descriptions, and a served
    subclass would lose its base class's output descriptions."""

    def get_docstring(self, typ: type, name: str) -> str | None:
        for cls in getattr(typ, "__mro__", (typ,)):
            if name in attribute_docstrings(cls):
                return attribute_docstrings(cls)[name]
        return None


class MlopsComponentProvider(ComponentProvider):
    """Pulumi's component provider for :data:`PUBLIC_COMPONENTS`, with the analyzer above; integer inputs, and
    lists and maps of them, made integers again (the wire carries every number as a double; Pulumi's host converts
    a single integer but then passes on the double all the same, fails on an integer output, and leaves lists and
    maps as they are); object inputs that arrive as one Output spread (below); outputs that are frozen dataclasses
    of the cloud-layer contract (GCP's ``Database.proxy``) returned as their fields."""

    def __init__(self, components: tuple[type[pulumi.ComponentResource], ...] = PUBLIC_COMPONENTS,
                 version: str = VERSION) -> None:
        self._name = PACKAGE
        self.analyzer = _Analyzer(PACKAGE)
        result = self.analyzer.analyze(list(components))
        self._components = {component.__name__: component for component in components}
        self._component_defs = result["component_definitions"]
        self._type_defs = result["type_definitions"]
        self._external_enum_types = result["external_enum_types"]
        self._dependencies = sorted(result["dependencies"], key=lambda d: f"{d.name}{d.version}")
        schema = generate_schema(PACKAGE, version, None, self._component_defs, self._type_defs, self._dependencies)
        document = schema.to_json()
        document.update(description=DESCRIPTION, license="Apache-2.0")
        Provider.__init__(self, version, json.dumps(document))

    def map_input_properties(self, inputs: Any, properties: dict[str, PropertyDefinition], mapping: dict[str, str],
                             component_name: str, property_path: str) -> Any:
        held: dict[str, pulumi.Output] = {}
        if isinstance(inputs, dict):
            inputs = {key: self._spread(value, properties[key]) if key in properties else value
                      for key, value in inputs.items()}
            # Pulumi's host calls int() on an integer input, which an Output (a value with dependencies) is not.
            held = {key: value for key, value in inputs.items() if isinstance(value, pulumi.Output)
                    and key in properties and properties[key].type == PropertyType.INTEGER}
            inputs = {key: 0 if key in held else value for key, value in inputs.items()}
        mapped = super().map_input_properties(inputs, properties, mapping, component_name, property_path)
        for key, value in held.items():
            mapped[mapping[key]] = value.apply(_whole)
        for schema_name, prop in properties.items():
            element = prop.items or prop.additional_properties
            value = mapped.get(mapping[schema_name])
            if prop.type == PropertyType.INTEGER and value is not None:
                mapped[mapping[schema_name]] = _whole(value)
            if element is None or element.type != PropertyType.INTEGER:
                continue
            if isinstance(value, list):
                mapped[mapping[schema_name]] = [_whole(v) for v in value]
            elif isinstance(value, dict):
                mapped[mapping[schema_name]] = {k: _whole(v) for k, v in value.items()}
        return mapped

    def _object_type(self, prop: PropertyDefinition) -> TypeDefinition | None:
        type_def = self._type_defs.get(prop.ref.rsplit(":", 1)[-1]) if prop.ref and ":" in prop.ref else None
        return None if type_def is None or type_def.enum else type_def

    def _spread(self, value: Any, prop: PropertyDefinition) -> Any:
        """An object input that arrived as one Output (the SDK lifts a nested secret, or the dependencies of known
        values, to the whole object) as the object itself: plain fields plain (the generated SDKs only take plain
        values there), nested objects spread alike, and each Input field an Output of the whole, so it keeps the
        secret and the dependencies (conservatively: every Input field of the object). Pulumi's host would read
        such an Output as an empty object. Unknown values (a preview) stay as they came."""
        type_def = self._object_type(prop)
        if not isinstance(value, pulumi.Output) or type_def is None:
            return value
        data = value._data  # resolved already: the provider server builds it from the request's values
        if not data.done() or data.exception() is not None or not data.result().is_known:
            return value
        return self._spread_known(value, data.result().value, type_def)

    def _spread_known(self, whole: pulumi.Output, plain: Any, type_def: TypeDefinition) -> Any:
        if not isinstance(plain, dict):
            return whole
        spread: dict[str, Any] = {}
        for key, field in type_def.properties.items():
            if key not in plain:
                continue
            part = whole.apply(lambda value, k=key: value[k])
            nested = self._object_type(field)
            if nested is not None:
                spread[key] = self._spread_known(part, plain[key], nested)
            else:
                spread[key] = plain[key] if field.plain else part
        return spread

    def map_complex_output(self, instance_val: Any, type_def: TypeDefinition) -> Any:
        if dataclasses.is_dataclass(instance_val) and not isinstance(instance_val, type):
            instance_val = {f.name: getattr(instance_val, f.name) for f in dataclasses.fields(instance_val)}
        return super().map_complex_output(instance_val, type_def)


def _whole(value: Any) -> Any:
    return int(value) if isinstance(value, float) and value.is_integer() else value


def schema() -> dict[str, Any]:
    """The package schema the provider serves (what ``GetSchema`` returns), as a document."""
    return json.loads(MlopsComponentProvider().schema)


def serve(args: list[str] | None = None) -> None:
    """Serve the provider over gRPC (prints its port, as the Pulumi CLI expects); ``args`` default to the command
    line (the engine address, then flags)."""
    serve_provider(MlopsComponentProvider(), sys.argv[1:] if args is None else args)
