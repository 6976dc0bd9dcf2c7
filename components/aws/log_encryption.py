"""The customer-managed KMS key that encrypts a CloudWatch log group (control-plane logs, VPC flow logs).

CloudWatch Logs may use a key only if the key policy lets the regional logs service principal use it; this module
creates the key with that policy (``iam_documents.logs_key_policy``), rotation on, and protected like every key.
"""

import pulumi
import pulumi_aws as aws

from . import iam_documents


def logs_encryption_key(resource_name: str, *, description: str, region: str, parent: pulumi.Resource) -> aws.kms.Key:
    """A rotating, protected KMS key that CloudWatch Logs in ``region`` of this account may use."""
    invoke = pulumi.InvokeOutputOptions(parent=parent)
    account = aws.get_caller_identity_output(opts=invoke).account_id
    partition = aws.get_partition_output(opts=invoke).partition
    return aws.kms.Key(
        resource_name,
        description=description,
        enable_key_rotation=True,
        deletion_window_in_days=30,
        policy=pulumi.Output.all(account, partition).apply(
            lambda values: iam_documents.logs_key_policy(values[0], values[1], region)
        ),
        opts=pulumi.ResourceOptions(parent=parent, protect=True),
    )
