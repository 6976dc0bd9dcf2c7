"""A tiny Pulumi program that the harness tests run as a program directory."""

import pulumi
import pulumi_aws as aws

greeting = pulumi.Config().require("greeting")
aws.s3.Bucket(f"echo-{greeting}")
pulumi.export("greeting", greeting)
pulumi.export("stack", pulumi.get_stack())
