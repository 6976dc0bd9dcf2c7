"""The team's model store on AWS, with its own cost tags on every resource."""

import pulumi
import pulumi_aws as aws

import naming
from components.model_store import ModelStore

config = pulumi.Config()
provider = aws.Provider("aws", region=config.require("region"))
store = ModelStore(naming.resource_name("models"), {
    "tags": config.require_object("tags"),
    "oidc_provider_arn": config.require("oidcProviderArn"),
    "oidc_issuer": config.require("oidcIssuer"),
}, opts=pulumi.ResourceOptions(providers=[provider]))

pulumi.export("bucket", store.bucket)
pulumi.export("service_account_annotations", store.service_account_annotations)
pulumi.export("registry_token", config.require_secret("registryToken"))
