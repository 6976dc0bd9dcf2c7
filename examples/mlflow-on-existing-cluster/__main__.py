"""MLflow and a blue-green model endpoint on a cluster you already have, through your own Kubernetes provider.

PostgreSQL and an S3-compatible store come from the local layer, in the same cluster; MLflow signs in to the
database as its own role, and the endpoint reads its model from MLflow as a reader that may read that model only.
Prometheus (kube-prometheus-stack) scrapes both and alerts on the endpoint's SLO; on a cluster that has its own
Prometheus Operator, drop it and keep the ServiceMonitors, or pass ``"monitoring": False`` to both components.
"""

import pulumi
import pulumi_kubernetes as k8s
from mlops_platform.kubernetes.mlflow_server import MlflowServer
from mlops_platform.kubernetes.model_endpoint import BlueGreenModelEndpoint
from mlops_platform.kubernetes.prometheus_stack import PrometheusStack
from mlops_platform.local.layer import LocalLayer

config = pulumi.Config()
tags = config.require_object("tags")
registry = config.require("registry")
cluster = k8s.Provider("cluster", context=config.require("context"), kubeconfig=config.get("kubeconfig"))
on_cluster = pulumi.ResourceOptions(providers=[cluster])

MODEL = "churn-classifier"
READER = "endpoint-churn"

monitoring = PrometheusStack("monitoring", {"retention_days": 3, "storage_size": "10Gi", "tags": tags},
                             opts=on_cluster)
after_monitoring = on_cluster.merge(pulumi.ResourceOptions(depends_on=[monitoring]))  # its CRDs come first
data = LocalLayer("data", {"client_namespaces": ["mlflow", "models"], "tags": tags}, opts=on_cluster).layer
mlflow_args = {
    "namespace": "mlflow",
    "image": f"{registry}/mlops-mlflow-server:3.17.2",
    "database": data.database,
    "artifact_uri": data.artifact_uri,
    "artifact_pod_env": data.artifact_pod_env,
    "artifact_secret_env": data.artifact_secret_env,
    "database_egress": data.database_egress,
    "storage_egress": data.storage_egress,
    "replicas": 1,
    "client_namespaces": ["models"],
    "readers": [{"username": READER, "model_name": MODEL, "model_versions": ["1", "2"]}],
    "tags": tags,
}
mlflow = MlflowServer("mlflow", mlflow_args, opts=after_monitoring)

endpoint = BlueGreenModelEndpoint("churn", {
    "name": "churn",
    "namespace": "models",
    "model_name": MODEL,
    "active": "blue",  # promote: "green"
    "blue": {"model_uri": f"models:/{MODEL}/1", "model_version": "1", "image": f"{registry}/mlops-serving:0.1.0",
             "replicas": 1},
    "green": {"model_uri": f"models:/{MODEL}/2", "model_version": "2", "image": f"{registry}/mlops-serving:0.1.0",
              "replicas": 1},
    "artifact_pod_env": data.artifact_pod_env,
    "artifact_secret_env": data.artifact_secret_env,
    "storage_egress": data.storage_egress,
    "tracking": {"uri": mlflow.tracking_uri, "namespace": "mlflow", "username": READER,
                 "password": mlflow.reader_passwords[READER]},
    "tags": tags,
}, opts=after_monitoring)

pulumi.export("mlflow_tracking_uri", mlflow.tracking_uri)
pulumi.export("mlflow_admin_password", mlflow.admin_password)
pulumi.export("endpoint_url", endpoint.url)
pulumi.export("grafana_admin_password", monitoring.grafana_admin_password)
