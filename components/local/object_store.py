"""An S3-compatible object store (MinIO) inside the cluster: the ``local`` target's artifact store.

What it gives: a MinIO StatefulSet (non-root, read-only root filesystem, probes, limits) on a protected volume, a
generated access key and secret kept as Pulumi secrets, a Job that creates the artifact bucket, a Service, and a
NetworkPolicy that admits only the client namespaces. Clients reach it with ``MLFLOW_S3_ENDPOINT_URL`` and the keys
(the cloud layers use workload identity instead). What it deliberately does not: TLS, replication or versioning;
it is for development clusters.
"""

from collections.abc import Mapping
from typing import NotRequired, TypedDict

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from ..tagging import tagged_options
from ..kubernetes.network_access import allow_policy, namespace_peer, tcp_ports
from ..kubernetes.pod_security import container_security_context, pod_security_context, writable_volumes

OBJECT_STORE_UID = 1000
PORT = 9000
LABELS = {"app.kubernetes.io/name": "minio", "app.kubernetes.io/component": "object-store"}
BUCKET_JOB_LABELS = {"app.kubernetes.io/name": "minio", "app.kubernetes.io/component": "create-bucket"}


class InClusterObjectStoreArgs(TypedDict):
    """Inputs of the in-cluster object store."""

    namespace: str
    image: str
    """MinIO server image, pinned by tag."""
    client_image: str
    """MinIO client (``mc``) image, pinned by tag, for the bucket Job."""
    bucket: str
    storage_size: str
    client_namespaces: list[str]
    tags: NotRequired[Mapping[str, str]]
    """Cost tags for everything the component creates (canonical rules, ``mlops_platform.tags``; AWS tags, GCP
    labels, Azure tags, Kubernetes labels); absent: only what the providers or an enclosing component apply."""


class InClusterObjectStore(pulumi.ComponentResource):
    """MinIO with one bucket."""

    uri: pulumi.Output[str]
    endpoint: pulumi.Output[str]
    access_key: pulumi.Output[str]
    secret_key: pulumi.Output[str]

    def __init__(self, name: str, args: InClusterObjectStoreArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("mlops:local:InClusterObjectStore", name, None,
                         tagged_options(args.get("tags"), opts, f"{name}.tags"))
        child = pulumi.ResourceOptions(parent=self)
        ns = args["namespace"]
        endpoint = f"http://minio.{ns}.svc.cluster.local:{PORT}"
        access_key = random.RandomString(f"{name}-access-key", length=20, special=False, upper=False, opts=child)
        secret_key = random.RandomPassword(f"{name}-secret-key", length=40, special=False, opts=child)
        credentials = k8s.core.v1.Secret(
            f"{name}-credentials",
            metadata=k8s.meta.v1.ObjectMetaArgs(name="minio-credentials", namespace=ns),
            type="Opaque",
            string_data={
                "MINIO_ROOT_USER": access_key.result,
                "MINIO_ROOT_PASSWORD": secret_key.result,
                "MC_HOST_local": pulumi.Output.format("http://{0}:{1}@minio.{2}.svc.cluster.local:{3}",
                                                      access_key.result, secret_key.result, ns, PORT),
            },
            opts=child,
        )
        volumes, mounts = writable_volumes({"tmp": "/tmp"})
        mounts.append(k8s.core.v1.VolumeMountArgs(name="data", mount_path="/data"))
        health = k8s.core.v1.HTTPGetActionArgs(path="/minio/health/live", port="s3")
        server = k8s.apps.v1.StatefulSet(
            f"{name}-statefulset",
            metadata=k8s.meta.v1.ObjectMetaArgs(name="minio", namespace=ns, labels=LABELS),
            spec=k8s.apps.v1.StatefulSetSpecArgs(
                service_name="minio",
                replicas=1,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=LABELS),
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(labels=LABELS),
                    spec=k8s.core.v1.PodSpecArgs(
                        automount_service_account_token=False,
                        security_context=pod_security_context(OBJECT_STORE_UID),
                        volumes=volumes,
                        containers=[k8s.core.v1.ContainerArgs(
                            name="minio",
                            image=args["image"],
                            image_pull_policy="IfNotPresent",
                            command=["minio"],
                            args=["server", "/data", "--address", f":{PORT}"],
                            env=[k8s.core.v1.EnvVarArgs(name="HOME", value="/tmp")],
                            env_from=[k8s.core.v1.EnvFromSourceArgs(
                                secret_ref=k8s.core.v1.SecretEnvSourceArgs(name="minio-credentials"))],
                            ports=[k8s.core.v1.ContainerPortArgs(name="s3", container_port=PORT)],
                            readiness_probe=k8s.core.v1.ProbeArgs(
                                http_get=k8s.core.v1.HTTPGetActionArgs(path="/minio/health/ready", port="s3"),
                                period_seconds=10, timeout_seconds=5),
                            liveness_probe=k8s.core.v1.ProbeArgs(http_get=health, initial_delay_seconds=30,
                                                                 period_seconds=10, timeout_seconds=5),
                            resources=k8s.core.v1.ResourceRequirementsArgs(
                                requests={"cpu": "250m", "memory": "512Mi"}, limits={"cpu": "1", "memory": "1Gi"}),
                            security_context=container_security_context(OBJECT_STORE_UID),
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
            opts=child.merge(pulumi.ResourceOptions(protect=True, depends_on=[credentials])),
        )
        service = k8s.core.v1.Service(
            f"{name}-service",
            metadata=k8s.meta.v1.ObjectMetaArgs(name="minio", namespace=ns, labels=LABELS),
            spec=k8s.core.v1.ServiceSpecArgs(
                selector=LABELS, ports=[k8s.core.v1.ServicePortArgs(name="s3", port=PORT, target_port="s3")]),
            opts=child,
        )
        job_volumes, job_mounts = writable_volumes({"tmp": "/tmp"})
        k8s.batch.v1.Job(
            f"{name}-create-bucket",
            metadata=k8s.meta.v1.ObjectMetaArgs(namespace=ns, labels=BUCKET_JOB_LABELS),
            spec=k8s.batch.v1.JobSpecArgs(
                backoff_limit=6,
                ttl_seconds_after_finished=86400,
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(labels=BUCKET_JOB_LABELS),
                    spec=k8s.core.v1.PodSpecArgs(
                        restart_policy="Never",
                        automount_service_account_token=False,
                        security_context=pod_security_context(OBJECT_STORE_UID),
                        volumes=job_volumes,
                        containers=[k8s.core.v1.ContainerArgs(
                            name="create-bucket",
                            image=args["client_image"],
                            image_pull_policy="IfNotPresent",
                            command=["mc"],
                            args=["mb", "--ignore-existing", f"local/{args['bucket']}"],
                            env=[k8s.core.v1.EnvVarArgs(name="MC_CONFIG_DIR", value="/tmp/.mc")],
                            env_from=[k8s.core.v1.EnvFromSourceArgs(
                                secret_ref=k8s.core.v1.SecretEnvSourceArgs(name="minio-credentials"))],
                            resources=k8s.core.v1.ResourceRequirementsArgs(
                                requests={"cpu": "50m", "memory": "64Mi"}, limits={"cpu": "200m", "memory": "128Mi"}),
                            security_context=container_security_context(OBJECT_STORE_UID),
                            volume_mounts=job_mounts,
                        )],
                    ),
                ),
            ),
            opts=child.merge(pulumi.ResourceOptions(depends_on=[server, service])),
        )
        allow_policy(
            f"{name}-allow", ns, LABELS,
            ingress=[k8s.networking.v1.NetworkPolicyIngressRuleArgs(
                from_=[*(namespace_peer(n) for n in args["client_namespaces"]), namespace_peer(ns, BUCKET_JOB_LABELS)],
                ports=tcp_ports([PORT]))],
            egress=None, opts=child,
        )
        allow_policy(
            f"{name}-allow-create-bucket", ns, BUCKET_JOB_LABELS, ingress=None,
            egress=[k8s.networking.v1.NetworkPolicyEgressRuleArgs(to=[namespace_peer(ns, LABELS)],
                                                                  ports=tcp_ports([PORT]))],
            opts=child,
        )
        self.uri = pulumi.Output.from_input(f"s3://{args['bucket']}")
        self.endpoint = pulumi.Output.from_input(endpoint)
        self.access_key = pulumi.Output.secret(access_key.result)
        self.secret_key = pulumi.Output.secret(secret_key.result)
        self.register_outputs({"uri": self.uri, "endpoint": self.endpoint})
