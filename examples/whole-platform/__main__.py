"""The whole MLOps platform from a few lines of stack config: the cloud, its region, the cost tags, the images and
the model endpoints."""

import pulumi
from mlops_platform.platform import MlopsPlatform

config = pulumi.Config()
platform = MlopsPlatform("mlops", {
    "name": "churn",
    "cloud": config.require("cloud"),
    "region": config.require("region"),
    "tags": config.require_object("tags"),
    "images": config.require_object("images"),
    "endpoints": config.get_object("endpoints") or [],
})

pulumi.export("cluster_name", platform.cluster_name)
pulumi.export("artifact_uri", platform.artifact_uri)
pulumi.export("mlflow_tracking_uri", platform.mlflow_tracking_uri)
pulumi.export("mlflow_admin_password", platform.mlflow_admin_password)
pulumi.export("endpoint_urls", platform.endpoint_urls)
pulumi.export("kubeconfig", platform.kubeconfig)
