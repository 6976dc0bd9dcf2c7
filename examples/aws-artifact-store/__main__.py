"""An artifact store on AWS and a workload identity that lets one ServiceAccount of an existing EKS cluster write to
it, both tagged with the program's own cost tags."""

import pulumi
from mlops_platform.aws.artifact_store import ArtifactStore
from mlops_platform.aws.workload_identity import WorkloadIdentity

config = pulumi.Config()
tags = config.require_object("tags")

store = ArtifactStore("models", {"name_prefix": "churn-models-", "noncurrent_days": 30, "tags": tags})
trainer = WorkloadIdentity("trainer", {
    "oidc_provider_arn": config.require("oidcProviderArn"),
    "oidc_issuer": config.require("oidcIssuer"),
    "namespace": "training",
    "service_account": "trainer",
    "bucket_arn": store.arn,
    "kms_key_arn": store.kms_key_arn,
    "prefix": "runs/",
    "tags": tags,
})

pulumi.export("bucket", store.name)
pulumi.export("artifact_uri", store.uri)
# Annotate the ServiceAccount training/trainer with these (eks.amazonaws.com/role-arn).
pulumi.export("service_account_annotations", trainer.service_account_annotations)
