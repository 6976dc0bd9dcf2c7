"""The team's model store on AWS, with its own cost tags on every resource."""

import pulumi
import pulumi_aws as aws
from mlops_platform.tagging import aws_default_tags
from mlops_platform.tags import CostTags

import naming
from components.model_store import ModelStore

config = pulumi.Config()
tags = CostTags.from_mapping(config.require_object("tags"))
provider = aws.Provider("aws", region=config.require("region"), default_tags=aws_default_tags(tags))
store = ModelStore(naming.resource_name("models"), {
    "oidc_provider_arn": config.require("oidcProviderArn"),
    "oidc_issuer": config.require("oidcIssuer"),
}, opts=pulumi.ResourceOptions(providers=[provider]))

pulumi.export("bucket", store.bucket)
pulumi.export("service_account_annotations", store.service_account_annotations)
pulumi.export("registry_token", config.require_secret("registryToken"))
