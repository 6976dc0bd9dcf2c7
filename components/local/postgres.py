"""A single PostgreSQL instance inside the cluster: the ``local`` target's stand-in for a managed database.

What it gives: a StatefulSet (non-root, read-only root filesystem, probes, limits) with a protected volume, a
generated password kept as a Pulumi secret, a Service and a NetworkPolicy that admits only the client namespaces.
What it deliberately does not: replicate, back up or encrypt at rest. It is for development clusters; the cloud
layers use managed databases.
"""

from collections.abc import Mapping
from typing import NotRequired, TypedDict

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from ..tagging import tagged_options
from ..kubernetes.network_access import allow_policy, namespace_peer, tcp_ports
from ..kubernetes.pod_security import container_security_context, pod_security_context, writable_volumes

POSTGRES_UID = 999
"""The ``postgres`` user of the official image."""
PORT = 5432
LABELS = {"app.kubernetes.io/name": "postgres", "app.kubernetes.io/component": "database"}


class InClusterPostgresArgs(TypedDict):
    """Inputs of the in-cluster database."""

    namespace: str
    """Existing namespace to run in."""
    image: str
    """PostgreSQL image pinned by tag (the official image runs as uid 999 without root)."""
    database: str
    username: str
    storage_size: str
    client_namespaces: list[str]
    """Namespaces whose pods may connect."""
    tags: NotRequired[Mapping[str, str]]
    """Cost tags for everything the component creates (canonical rules, ``mlops_platform.tags``; AWS tags, GCP
    labels, Azure tags, Kubernetes labels); absent: only what the providers or an enclosing component apply."""


class InClusterPostgres(pulumi.ComponentResource):
    """PostgreSQL in a StatefulSet."""

    host: pulumi.Output[str]
    port: pulumi.Output[int]
    database: pulumi.Output[str]
    username: pulumi.Output[str]
    password: pulumi.Output[str]
    """The superuser's (``username``); a Pulumi secret."""

    def __init__(self, name: str, args: InClusterPostgresArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("mlops:local:InClusterPostgres", name, None,
                         tagged_options(args.get("tags"), opts, f"{name}.tags"))
        child = pulumi.ResourceOptions(parent=self)
        ns = args["namespace"]
        password = random.RandomPassword(f"{name}-password", length=32, special=False, opts=child)
        k8s.core.v1.Secret(
            f"{name}-credentials",
            metadata=k8s.meta.v1.ObjectMetaArgs(name="postgres-credentials", namespace=ns),
            type="Opaque",
            string_data={"POSTGRES_USER": args["username"], "POSTGRES_PASSWORD": password.result,
                         "POSTGRES_DB": args["database"]},
            opts=child,
        )
        volumes, mounts = writable_volumes({"run": "/var/run/postgresql", "tmp": "/tmp"})
        mounts.append(k8s.core.v1.VolumeMountArgs(name="data", mount_path="/var/lib/postgresql/data"))
        ready = k8s.core.v1.ProbeArgs(
            exec_=k8s.core.v1.ExecActionArgs(command=["pg_isready", "-h", "127.0.0.1", "-U", args["username"]]),
            period_seconds=10, timeout_seconds=5, failure_threshold=6)
        k8s.apps.v1.StatefulSet(
            f"{name}-statefulset",
            metadata=k8s.meta.v1.ObjectMetaArgs(name="postgres", namespace=ns, labels=LABELS),
            spec=k8s.apps.v1.StatefulSetSpecArgs(
                service_name="postgres",
                replicas=1,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=LABELS),
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(labels=LABELS),
                    spec=k8s.core.v1.PodSpecArgs(
                        automount_service_account_token=False,
                        security_context=pod_security_context(POSTGRES_UID),
                        termination_grace_period_seconds=60,
                        volumes=volumes,
                        containers=[k8s.core.v1.ContainerArgs(
                            name="postgres",
                            image=args["image"],
                            image_pull_policy="IfNotPresent",
                            env=[k8s.core.v1.EnvVarArgs(name="PGDATA", value="/var/lib/postgresql/data/pgdata")],
                            env_from=[k8s.core.v1.EnvFromSourceArgs(
                                secret_ref=k8s.core.v1.SecretEnvSourceArgs(name="postgres-credentials"))],
                            ports=[k8s.core.v1.ContainerPortArgs(name="postgres", container_port=PORT)],
                            readiness_probe=ready,
                            liveness_probe=k8s.core.v1.ProbeArgs(
                                tcp_socket=k8s.core.v1.TCPSocketActionArgs(port="postgres"),
                                initial_delay_seconds=30, period_seconds=10, timeout_seconds=5),
                            resources=k8s.core.v1.ResourceRequirementsArgs(
                                requests={"cpu": "250m", "memory": "512Mi"}, limits={"cpu": "1", "memory": "1Gi"}),
                            security_context=container_security_context(POSTGRES_UID),
                            volume_mounts=mounts,
                        )],
                    ),
                ),
                volume_claim_templates=[k8s.core.v1.PersistentVolumeClaimArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(name="data"),
                    spec=k8s.core.v1.PersistentVolumeClaimSpecArgs(
                        access_modes=["ReadWriteOnce"],
                        resources=k8s.core.v1.VolumeResourceRequirementsArgs(
                            requests={"storage": args["storage_size"]})),
                )],
            ),
            opts=child.merge(pulumi.ResourceOptions(protect=True)),
        )
        k8s.core.v1.Service(
            f"{name}-service",
            metadata=k8s.meta.v1.ObjectMetaArgs(name="postgres", namespace=ns, labels=LABELS),
            spec=k8s.core.v1.ServiceSpecArgs(
                selector=LABELS,
                ports=[k8s.core.v1.ServicePortArgs(name="postgres", port=PORT, target_port="postgres")]),
            opts=child,
        )
        allow_policy(
            f"{name}-allow", ns, LABELS,
            ingress=[k8s.networking.v1.NetworkPolicyIngressRuleArgs(
                from_=[namespace_peer(n) for n in args["client_namespaces"]], ports=tcp_ports([PORT]))],
            egress=None, opts=child,
        )
        self.host = pulumi.Output.from_input(f"postgres.{ns}.svc.cluster.local")
        self.port = pulumi.Output.from_input(PORT)
        self.database = pulumi.Output.from_input(args["database"])
        self.username = pulumi.Output.from_input(args["username"])
        self.password = pulumi.Output.secret(password.result)
        self.register_outputs({"host": self.host, "port": self.port, "database": self.database,
                               "username": self.username})
