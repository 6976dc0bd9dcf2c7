"""Model files in a private bucket, readable by the model server's ServiceAccount on an existing EKS cluster."""

import pulumi
from mlops_platform.aws.artifact_store import ArtifactStore
from mlops_platform.aws.workload_identity import WorkloadIdentity


class ModelStore(pulumi.ComponentResource):
    def __init__(self, name: str, args: dict, opts: pulumi.ResourceOptions | None = None):
        super().__init__("shop:ml:ModelStore", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = args["tags"]
        store = ArtifactStore(f"{name}-store", {"name_prefix": "shop-models-", "tags": tags}, opts=child)
        reader = WorkloadIdentity(f"{name}-reader", {
            "oidc_provider_arn": args["oidc_provider_arn"], "oidc_issuer": args["oidc_issuer"],
            "namespace": "recs", "service_account": "model-server", "bucket_arn": store.arn,
            "kms_key_arn": store.kms_key_arn, "read_only": True, "tags": tags}, opts=child)
        self.bucket = store.name
        self.service_account_annotations = reader.service_account_annotations
        self.register_outputs({"bucket": self.bucket})
