"""What the program does, importable so that the harness and other tools share it with ``__main__``."""

from __future__ import annotations

import pulumi
import pulumi.runtime.config

from mlops_platform.platform import MlopsPlatform
from .ci_identity import is_ci_identity_stack, run_ci_identity
from .config import load_stack_config


def run() -> None:
    """Build the platform from the current stack's config and export its outputs; a stack with an
    ``mlops:ci_identity`` section builds the CI's cloud identities instead (``mlops_platform_offline.ci_identity``)."""
    config = pulumi.runtime.config.CONFIG.get()
    if is_ci_identity_stack(config):
        run_ci_identity(config)
        return
    default_name = f"{pulumi.get_project()}-{pulumi.get_stack()}".lower()
    stack_config = load_stack_config(config, default_name=default_name)
    platform = MlopsPlatform("mlops", stack_config.args)
    pulumi.export("cloud", stack_config.settings.cloud)
    pulumi.export("region", stack_config.settings.region)
    pulumi.export("artifact_bucket", platform.artifact_bucket)
    pulumi.export("artifact_uri", platform.artifact_uri)
    pulumi.export("cluster_name", platform.cluster_name)
    pulumi.export("cluster_endpoint", platform.cluster_endpoint)
    pulumi.export("oidc_issuer", platform.oidc_issuer)
    pulumi.export("kubeconfig", platform.kubeconfig)
    pulumi.export("database_host", platform.database_host)
    pulumi.export("mlflow_tracking_uri", platform.mlflow_tracking_uri)
    pulumi.export("mlflow_admin_password", platform.mlflow_admin_password)
    pulumi.export("grafana_admin_password", platform.grafana_admin_password)
    pulumi.export("endpoint_urls", platform.endpoint_urls)
