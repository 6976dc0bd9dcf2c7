"""The Azure cloud layer: the five building blocks, in one resource group, wired together and handed over as a
``CloudLayer``.

``validate_azure_layer_args`` checks the stack's ``azure``, ``artifacts``, ``network``, ``cluster`` and ``database``
sections with each component's own validator (so errors name the config key) and derives the names a stack does
not set from the platform's base name (never from tags, so retagging renames nothing): the resource group
``<name>-rg``, the cluster ``<name>``, the database server ``<name>-mlflow``, the storage account
``<name without '-'><8 random characters>``.
``build_azure_layer`` then creates ResourceGroup -> Network -> Cluster, the artifact store and the database, and
returns the contract the Kubernetes layer reads, with a workload-identity factory that federates a managed identity
to one ServiceAccount and gives it blob access to the artifact container.

How pods sign in to PostgreSQL: with Microsoft Entra access tokens only (password authentication is off). MLflow's
managed identity is its role ``mlflow``, which the bootstrap Job creates with ``pgaadauth_create_principal_with_oid``
signed in as the database's Entra administrator (a managed identity of the database, federated to the bootstrap's
ServiceAccount only); both get their tokens in the pod from the tracking image's refresher (``azure-entra``), and
libpq verifies the server against the image's public roots.

What it deliberately does not: create the provider (the caller passes the azure-native provider with the location
and subscription; cost tags reach every resource through the platform's transform, since azure-native has no
default tags) or anything inside the cluster.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_azure_native.provider as azure_provider_module
import pulumi_azure_native.managedidentity as managedidentity

from .artifact_store import (
    ArtifactStore,
    storage_account_prefix,
    validate_artifact_store_args,
)
from .cluster import (
    GPU_NODE_LABELS,
    GPU_TAINT,
    POOL_LABEL,
    SPOT_TAINT,
    Cluster,
    validate_cluster_args,
)
from .database import ENTRA_SCOPE, PORT, Database, validate_database_args
from .network import Network, validate_network_args
from .resource_group import ResourceGroup, validate_resource_group_args
from .workload_identity import (
    CLIENT_ID_ANNOTATION,
    USE_LABEL,
    WorkloadIdentity,
    federate,
    service_account_subject,
)
from ..cloud_layer import (
    CloudLayer,
    DatabaseAccess,
    DatabaseAdmin,
    DatabaseRole,
    DatabaseTls,
    EgressTarget,
    GpuCapacity,
    NodeTaint,
    RefreshedToken,
    ServiceAccountIdentity,
)
from ..validation import ArgumentError, config_section, field_path, reject_unknown_keys

SECTIONS = ("azure", "network", "cluster", "database")
DATABASE_USER = "mlflow"
"""MLflow's PostgreSQL role, mapped by the bootstrap to the object id of MLflow's managed identity."""
"""The stack config sections (``mlops:<section>``) this layer reads besides ``artifacts``."""

LOCATIONS = (
    "australiacentral", "australiacentral2", "australiaeast", "australiasoutheast", "austriaeast", "belgiumcentral",
    "brazilsouth", "brazilsoutheast", "canadacentral", "canadaeast", "centralindia", "centralus", "chilecentral",
    "denmarkeast", "eastasia", "eastus", "eastus2", "francecentral", "francesouth", "germanynorth",
    "germanywestcentral", "indonesiacentral", "israelcentral", "italynorth", "japaneast", "japanwest",
    "jioindiacentral", "jioindiawest", "koreacentral", "koreasouth", "malaysiawest", "mexicocentral",
    "newzealandnorth", "northcentralus", "northeurope", "norwayeast", "norwaywest", "polandcentral", "qatarcentral",
    "southafricanorth", "southafricawest", "southcentralus", "southeastasia", "southindia", "spaincentral",
    "swedencentral", "switzerlandnorth", "switzerlandwest", "uaecentral", "uaenorth", "uksouth", "ukwest",
    "westcentralus", "westeurope", "westindia", "westus", "westus2", "westus3",
)
"""Azure public-cloud regions by their programmatic name (``az account list-locations --query [].name``)."""
LOCATION_PATTERN = "|".join(LOCATIONS)
LOCATION_MEANING = "an Azure region name such as westeurope or eastus2 (lowercase, no spaces)"

_AZURE_KEYS = frozenset({"subscription_id", "resource_group_name", "log_retention_days"})
_GUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


@dataclass(frozen=True)
class AzureLayerSettings:
    """The validated sections, with derived names filled in, ready to become component args."""

    location: str
    subscription_id: str
    resource_group: Mapping[str, Any]
    artifacts: Mapping[str, Any]
    network: Mapping[str, Any]
    cluster: Mapping[str, Any]
    database: Mapping[str, Any]
    node_cidr: str
    database_cidr: str
    gpu: GpuCapacity | None
    spot_taints: tuple[NodeTaint, ...]
    """AKS's Spot taint when the CPU pool runs on Spot: the contract's ``cpu_taints``."""


def validate_azure_layer_args(sections: Mapping[str, Any], *, location: str, name: str,
                              prefix: str = "") -> AzureLayerSettings:
    """Check each section of ``sections`` (missing ones take defaults; ``azure.subscription_id`` is required);
    errors name ``<prefix><section>.<key>``. ``name`` is the platform's stable base name."""
    copies = {section: config_section(sections, section, prefix) for section in (*SECTIONS, "artifacts")}
    azure = copies["azure"]
    reject_unknown_keys(azure, _AZURE_KEYS, f"{prefix}azure")
    subscription = azure.get("subscription_id")
    if not isinstance(subscription, str) or not re.fullmatch(_GUID, subscription):
        raise ArgumentError(f"{field_path(f'{prefix}azure', 'subscription_id')}: {subscription!r} is not allowed; "
                            f"use the subscription's id, a lowercase GUID (az account show --query id)")
    resource_group = {"name": azure.get("resource_group_name", f"{name}-rg"), "location": location,
                      **({"log_retention_days": azure["log_retention_days"]} if "log_retention_days" in azure else {})}
    validate_resource_group_args(resource_group, f"{prefix}azure")
    copies["artifacts"].setdefault("name_prefix", storage_account_prefix(name))
    copies["cluster"].setdefault("name", name)
    copies["database"].setdefault("server_name", f"{name}-mlflow")
    validate_artifact_store_args(copies["artifacts"], f"{prefix}artifacts", wiring=False)
    network = validate_network_args(copies["network"], f"{prefix}network", wiring=False)
    cluster = validate_cluster_args(copies["cluster"], f"{prefix}cluster", wiring=False)
    validate_database_args(copies["database"], f"{prefix}database", wiring=False)
    gpu_pool = next((pool for pool in cluster.pools if pool.role == "gpu"), None)
    gpu = None if gpu_pool is None else GpuCapacity(
        node_labels={POOL_LABEL: "gpu", **GPU_NODE_LABELS},
        taints=(GPU_TAINT, *((SPOT_TAINT,) if gpu_pool.spot else ())),
    )
    return AzureLayerSettings(
        location=location,
        subscription_id=subscription,
        resource_group=resource_group,
        artifacts=copies["artifacts"],
        network=copies["network"],
        cluster=copies["cluster"],
        database=copies["database"],
        node_cidr=network.node_cidr,
        database_cidr=network.database_cidr,
        gpu=gpu,
        spot_taints=(SPOT_TAINT,) if any(pool.spot for pool in cluster.pools if pool.role != "gpu") else (),
    )


def azure_provider(name: str, settings: AzureLayerSettings, *, parent: pulumi.Resource) -> pulumi.ProviderResource:
    """The one azure-native provider of a stack: its location and subscription from the stack config."""
    return azure_provider_module.Provider(name, location=settings.location, subscription_id=settings.subscription_id,
                                          opts=pulumi.ResourceOptions(parent=parent))


def build_azure_layer(name: str, settings: AzureLayerSettings, *, parent: pulumi.Resource,
                      provider: pulumi.ProviderResource) -> CloudLayer:
    """Create the Azure blocks beneath ``parent`` with ``provider`` and return the cloud-layer contract."""
    on_azure = pulumi.ResourceOptions(parent=parent, providers={"azure-native": provider})
    location = settings.location
    group = ResourceGroup(f"{name}-resource-group", {**settings.resource_group}, opts=on_azure)
    network = Network(f"{name}-network", {**settings.network, "resource_group_name": group.name,
                                          "location": location}, opts=on_azure)
    cluster = Cluster(f"{name}-cluster", {**settings.cluster, "resource_group_name": group.name, "location": location,
                                          "node_subnet_id": network.node_subnet_id,
                                          "api_server_subnet_id": network.api_server_subnet_id,
                                          "log_workspace_id": group.log_workspace_id}, opts=on_azure)
    store = ArtifactStore(f"{name}-artifacts", {**settings.artifacts, "resource_group_name": group.name,
                                                "location": location,
                                                "allowed_subnet_ids": network.node_subnet_id.apply(lambda i: [i]),
                                                "log_workspace_id": group.log_workspace_id}, opts=on_azure)
    database = Database(f"{name}-database", {**settings.database, "resource_group_name": group.name,
                                             "location": location, "subnet_id": network.database_subnet_id,
                                             "dns_zone_id": network.database_dns_zone_id,
                                             "log_workspace_id": group.log_workspace_id}, opts=on_azure)

    # MLflow's database role maps to this identity; the Kubernetes layer's MLflow identity federates it.
    database_user_identity = managedidentity.UserAssignedIdentity(
        f"{name}-database-user", resource_group_name=group.name, location=location,
        opts=pulumi.ResourceOptions(parent=database))
    made: list[str] = []

    def workload_identity(identity_name: str, namespace: str, service_account: str, *,
                          read_only: bool = False, database_user: bool = False) -> ServiceAccountIdentity:
        """A managed identity federated to ``namespace/service_account`` with blob access to the artifact container
        (reads only, when ``read_only``); with ``database_user``, the identity is the one MLflow's database role
        maps to (one ServiceAccount per layer)."""
        if database_user and made:
            raise ValueError(f"workload_identity({identity_name!r}, database_user=True): the database user is already "
                             f"{made[0]!r}; a layer has one")
        existing = {}
        if database_user:
            made.append(identity_name)
            existing = {"existing_identity": {"name": database_user_identity.name,
                                              "client_id": database_user_identity.client_id,
                                              "principal_id": database_user_identity.principal_id}}
        identity = WorkloadIdentity(
            identity_name,
            {"oidc_issuer": cluster.oidc_issuer, "namespace": namespace, "service_account": service_account,
             "resource_group_name": group.name, "location": location, "container_id": store.container_id,
             "read_only": read_only, **existing},
            opts=on_azure,
        )
        return ServiceAccountIdentity(annotations=identity.service_account_annotations,
                                      labels=identity.service_account_labels)

    def admin_identity(identity_name: str, namespace: str, service_account: str) -> ServiceAccountIdentity:
        """The database's Entra administrator identity, federated to the bootstrap Job's ServiceAccount only; it
        has no access to the artifact store."""
        federate(f"{identity_name}-federation", identity_name=database.admin_name, resource_group_name=group.name,
                 oidc_issuer=cluster.oidc_issuer, subject=service_account_subject(namespace, service_account),
                 parent=database)
        return ServiceAccountIdentity(
            annotations=database.admin_client_id.apply(lambda client_id: {CLIENT_ID_ANNOTATION: client_id}),
            labels=pulumi.Output.from_input({USE_LABEL: "true"}))

    entra_token = RefreshedToken(source="azure-entra", settings={"MLOPS_DB_TOKEN_SCOPE": ENTRA_SCOPE})
    return CloudLayer(
        cluster_name=cluster.name,
        kubernetes_provider=cluster.provider,
        artifact_uri=store.uri,
        artifact_pod_env=store.pod_env,
        database=DatabaseAccess(
            host=database.host, port=database.port, database=database.database,
            username=pulumi.Output.from_input(DATABASE_USER),
            login=entra_token,
            tls=DatabaseTls(mode="verify-full", ca_bundle="system"),
            role=DatabaseRole(
                create=("SELECT * FROM pgaadauth_create_principal_with_oid(%(role)s, %(object_id)s, 'service', "
                        "false, false)",),
                parameters=database_user_identity.principal_id.apply(lambda object_id: {"object_id": object_id}),
            ),
            admin=DatabaseAdmin(username=database.admin_name, login=entra_token, identity=admin_identity),
        ),
        workload_identity=workload_identity,
        database_egress=EgressTarget(ports=(PORT,), cidrs=(settings.database_cidr,)),
        # Entra's token endpoint (login.microsoftonline.com): public HTTPS without a stable range.
        credential_egress=EgressTarget(ports=(443,)),
        # Entra workload identity: the projected service account token is exchanged at the same endpoint; no pod
        # asks the instance metadata service (IMDS).
        identity_egress=(EgressTarget(ports=(443,)),),
        cpu_taints=settings.spot_taints,
        cluster_endpoint=cluster.endpoint,
        kubeconfig=cluster.kubeconfig,
        oidc_issuer=cluster.oidc_issuer,
        artifact_name=store.name,
        gpu=settings.gpu,
    )
