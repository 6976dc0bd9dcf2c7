"""The database bootstrap Job: creates the workload's own PostgreSQL role, as the admin, once per database.

What it gives: a ServiceAccount carrying the cloud layer's admin identity (on AWS an IRSA role that may read exactly
the RDS-managed master secret), and a Job running the tracking image's ``serving_image.tracking.database_bootstrap``
as the admin, signed in with the admin login the cloud layer names (rendered by ``database_login``: on AWS the
refresher sidecar reads the master secret at run time, so its rotation never matters). The program runs the cloud's
role SQL (``DatabaseRole``: ``rds_iam`` on AWS, a password on ``local``), then the same grants everywhere: CONNECT
on its own database and nothing on any other the admin owns, a schema of its own that it owns (its
``search_path``), no superuser, role or database creation. It is idempotent (a re-run ends in the same state), so
the Job simply runs again whenever its spec changes.

What it deliberately does not: keep any admin credential in the pod spec or a Kubernetes object (except the
``local`` target's Secret), or grant the workload anything beyond its own database and schema.
"""

import json
from collections.abc import Mapping
from typing import NotRequired, TypedDict

import pulumi
import pulumi_kubernetes as k8s

from ..tagging import tagged_options
from ..cloud_layer import DatabaseAccess, EgressTarget
from .container_resources import ComputeSettings, resource_requirements
from .database_login import libpq_env, login_secret, pod_login
from .identity_labels import with_identity_labels
from .network_access import allow_policy, egress_rules
from .node_taints import NodeTaintArgs, toleration_args
from .pod_security import container_security_context, pod_security_context, writable_volumes

BOOTSTRAP_COMMAND = ["python", "-m", "serving_image.tracking.database_bootstrap"]
BOOTSTRAP_COMPUTE = ComputeSettings("50m", "128Mi", "500m", "256Mi", 0)
OBJECT_NAME = "database-bootstrap"
"""Name of the ServiceAccount (``-admin``, ``-role``: of the Secrets) in the workload's namespace."""
SECRET_PARAMETER_PREFIX = "MLOPS_DB_PARAM_"
"""Env prefix of each secret role parameter (``MLOPS_DB_PARAM_PASSWORD``), from the role Secret."""


class DatabaseBootstrapArgs(TypedDict):
    """Inputs of the bootstrap Job; the cloud layer supplies ``database`` and the identity."""

    namespace: str
    """An existing namespace (the workload's)."""
    image: pulumi.Input[str]
    """The tracking image (it holds the bootstrap program and the refresher), pinned by tag and digest where the stack pins digests."""
    uid: int
    """The image's numeric non-root user."""
    database: DatabaseAccess
    service_account_annotations: NotRequired[pulumi.Input[Mapping[str, str]]]
    """The admin identity's annotations (``DatabaseAdmin.identity``)."""
    service_account_labels: NotRequired[pulumi.Input[Mapping[str, str]]]
    database_egress: EgressTarget
    credential_egress: NotRequired[EgressTarget | None]
    tags: NotRequired[Mapping[str, str]]
    """Cost tags for everything the component creates (canonical rules, ``mlops_platform.tags``; AWS tags, GCP
    labels, Azure tags, Kubernetes labels); absent: only what the providers or an enclosing component apply."""
    identity_egress: NotRequired[list[EgressTarget]]
    """Where the admin identity gets its tokens (the cloud layer's ``identity_egress``)."""
    tolerated_taints: NotRequired[list[NodeTaintArgs]]
    """Taints of the CPU nodes the Job's pod tolerates (the cloud layer's ``cpu_taints``)."""


class DatabaseBootstrap(pulumi.ComponentResource):
    """A Job that makes the workload's role as the database admin."""

    job_name: pulumi.Output[str]
    role: pulumi.Output[str]

    def __init__(self, name: str, args: DatabaseBootstrapArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("mlops:kubernetes:DatabaseBootstrap", name, None,
                         tagged_options(args.get("tags"), opts, f"{name}.tags"))
        child = pulumi.ResourceOptions(parent=self)
        ns, access, uid = args["namespace"], args["database"], args["uid"]
        labels = {"app.kubernetes.io/name": "mlflow", "app.kubernetes.io/component": "database-bootstrap"}
        account = OBJECT_NAME

        service_account = k8s.core.v1.ServiceAccount(
            f"{name}-service-account",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=account, namespace=ns,
                                                annotations=args.get("service_account_annotations") or {},
                                                labels=args.get("service_account_labels") or {}),
            automount_service_account_token=False,
            opts=child,
        )
        admin_secret = login_secret(f"{name}-admin-login", f"{OBJECT_NAME}-admin", ns, access.admin.login, child)
        role_secret = None
        if access.role.secret_parameters is not None:
            role_secret = k8s.core.v1.Secret(
                f"{name}-role-parameters",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=f"{OBJECT_NAME}-role", namespace=ns),
                type="Opaque",
                string_data=pulumi.Output.secret(access.role.secret_parameters),
                opts=child,
            )
        login = pod_login(access.admin.login, host=access.host, port=access.port, username=access.admin.username,
                          image=args["image"], uid=uid, secret_name=f"{OBJECT_NAME}-admin")
        secret_env = pulumi.Output.from_input(access.role.secret_parameters or {}).apply(
            lambda values: [k8s.core.v1.EnvVarArgs(
                name=f"{SECRET_PARAMETER_PREFIX}{key.upper()}",
                value_from=k8s.core.v1.EnvVarSourceArgs(secret_key_ref=k8s.core.v1.SecretKeySelectorArgs(
                    name=f"{OBJECT_NAME}-role", key=key))) for key in sorted(values)])
        spec = pulumi.Output.all(access.username, access.database, pulumi.Output.from_input(access.role.parameters),
                                 pulumi.Output.from_input(access.role.secret_parameters or {})).apply(
            lambda values: json.dumps({
                "role": values[0], "database": values[1], "schema": access.schema,
                "create": list(access.role.create), "ensure": list(access.role.ensure),
                "parameters": dict(values[2]), "secret_parameters": sorted(values[3]),
            }, sort_keys=True))
        fixed_env = [
            *libpq_env(access.host, access.port, access.database, access.admin.username, access.tls),
            *login.env,
            k8s.core.v1.EnvVarArgs(name="MLOPS_DB_BOOTSTRAP", value=spec),
            k8s.core.v1.EnvVarArgs(name="HOME", value="/tmp"),
        ]
        env = secret_env.apply(lambda extra: [*fixed_env, *extra])
        tmp_volumes, tmp_mounts = writable_volumes({"tmp": "/tmp"}, size_limit="64Mi")
        depends = [r for r in (service_account, admin_secret, role_secret) if r is not None]
        job = k8s.batch.v1.Job(
            f"{name}-job",
            metadata=k8s.meta.v1.ObjectMetaArgs(namespace=ns, labels=labels),
            spec=k8s.batch.v1.JobSpecArgs(
                backoff_limit=6,
                active_deadline_seconds=900,
                ttl_seconds_after_finished=86400,
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(labels=with_identity_labels(labels,
                                                                          args.get("service_account_labels"))),
                    spec=k8s.core.v1.PodSpecArgs(
                        restart_policy="Never",
                        service_account_name=account,
                        automount_service_account_token=False,
                        security_context=pod_security_context(uid),
                        volumes=[*tmp_volumes, *login.volumes],
                        init_containers=login.sidecars or None,
                        tolerations=toleration_args(args.get("tolerated_taints") or []),
                        containers=[k8s.core.v1.ContainerArgs(
                            name="bootstrap",
                            image=args["image"],
                            image_pull_policy="IfNotPresent",
                            command=BOOTSTRAP_COMMAND,
                            env=env,
                            resources=resource_requirements(BOOTSTRAP_COMPUTE),
                            security_context=container_security_context(uid),
                            volume_mounts=[*tmp_mounts, *login.mounts],
                        )],
                    ),
                ),
            ),
            opts=child.merge(pulumi.ResourceOptions(depends_on=depends)),
        )
        targets = [args["database_egress"],
                   *([args["credential_egress"]] if args.get("credential_egress") is not None else []),
                   *(args.get("identity_egress") or [])]
        allow_policy(f"{name}-allow", ns, labels, ingress=None, egress=egress_rules(targets), opts=child)

        self.job_name = job.metadata.apply(lambda metadata: metadata.name)
        self.role = pulumi.Output.from_input(access.username)
        self.register_outputs({"job_name": self.job_name, "role": self.role})
