"""The IAM policy documents the AWS components render, as pure functions of plain values.

They live apart from the components so that the exact JSON a role receives can be rendered, read and exercised
(tests load it into moto with IAM enforcement) without Pulumi. Every function returns a ``json.dumps`` string with
sorted keys, so an unchanged input never shows up as a diff.
"""

import json
from typing import Any

VERSION = "2012-10-17"


def document(*statements: dict[str, Any]) -> str:
    """A policy document holding ``statements``."""
    return json.dumps({"Version": VERSION, "Statement": list(statements)}, sort_keys=True)


def service_trust_policy(service: str, *, tag_session: bool = False) -> str:
    """Trust for one AWS service principal (``eks.amazonaws.com``, ``ec2.amazonaws.com`` ...) to assume a role."""
    actions = ["sts:AssumeRole", "sts:TagSession"] if tag_session else "sts:AssumeRole"
    return document({"Effect": "Allow", "Principal": {"Service": service}, "Action": actions})


def irsa_trust_policy(oidc_provider_arn: str, oidc_issuer: str, namespace: str, service_account: str) -> str:
    """Trust for exactly one Kubernetes ServiceAccount (IRSA): the cluster's OIDC provider may hand a web identity
    token to STS only when its subject is ``system:serviceaccount:<namespace>:<name>`` and its audience is STS."""
    issuer_host = oidc_issuer.removeprefix("https://")
    return document(
        {
            "Effect": "Allow",
            "Principal": {"Federated": oidc_provider_arn},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {
                "StringEquals": {
                    f"{issuer_host}:sub": f"system:serviceaccount:{namespace}:{service_account}",
                    f"{issuer_host}:aud": "sts.amazonaws.com",
                }
            },
        }
    )


def artifact_access_policy(bucket_arn: str, prefix: str = "", kms_key_arn: str | None = None,
                           read_only: bool = False) -> str:
    """What MLflow or a model endpoint needs on its own bucket, under ``prefix`` only (the whole bucket when the
    prefix is empty): list its keys, read objects, and unless ``read_only`` write and delete them and finish or
    abort multipart uploads. With a customer-managed key, the key use S3 needs on its behalf. Nothing else: no
    bucket configuration, no policy changes, no other bucket."""
    object_actions = ["s3:GetObject", "s3:GetObjectVersion"]
    if not read_only:
        object_actions += ["s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"]
    list_bucket: dict[str, Any] = {
        "Sid": "ListOwnPrefix",
        "Effect": "Allow",
        "Action": "s3:ListBucket",
        "Resource": bucket_arn,
    }
    if prefix:
        list_bucket["Condition"] = {"StringLike": {"s3:prefix": [prefix, f"{prefix}*"]}}
    statements = [
        list_bucket,
        {"Sid": "LocateBucket", "Effect": "Allow", "Action": "s3:GetBucketLocation", "Resource": bucket_arn},
        {"Sid": "UseOwnObjects", "Effect": "Allow", "Action": object_actions, "Resource": f"{bucket_arn}/{prefix}*"},
    ]
    if kms_key_arn:
        key_actions = ["kms:Decrypt"] if read_only else ["kms:Decrypt", "kms:GenerateDataKey"]
        statements.append({"Sid": "UseBucketKey", "Effect": "Allow", "Action": key_actions, "Resource": kms_key_arn})
    return document(*statements)


def logs_key_policy(account_id: str, partition: str, region: str) -> str:
    """Key policy of a KMS key that encrypts CloudWatch log groups of this account and region: the account
    administers it through IAM, and the regional CloudWatch Logs service may use it for its own log groups only."""
    return document(
        {
            "Sid": "AccountAdministersThroughIam",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:{partition}:iam::{account_id}:root"},
            "Action": "kms:*",
            "Resource": "*",
        },
        {
            "Sid": "CloudWatchLogsEncryptsOwnLogGroups",
            "Effect": "Allow",
            "Principal": {"Service": f"logs.{region}.amazonaws.com"},
            "Action": ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
            "Resource": "*",
            "Condition": {
                "ArnLike": {"kms:EncryptionContext:aws:logs:arn": f"arn:{partition}:logs:{region}:{account_id}:*"}
            },
        },
    )


KEY_ADMINISTRATION = ["kms:Create*", "kms:Describe*", "kms:Enable*", "kms:List*", "kms:Put*", "kms:Update*",
                      "kms:Revoke*", "kms:Disable*", "kms:Get*", "kms:Delete*", "kms:TagResource",
                      "kms:UntagResource", "kms:ScheduleKeyDeletion", "kms:CancelKeyDeletion", "kms:RotateKeyOnDemand"]
"""What the account's administrators may do with a service key: manage it, not encrypt or decrypt with it."""


def service_key_policy(account_id: str, partition: str, services: list[str],
                       users: list[str] | None = None) -> str:
    """Key policy of a KMS key that AWS services use on the account's behalf (RDS, Secrets Manager, EKS): the
    account administers it through IAM (it can always change this policy, so it cannot lock itself out) but may
    not use it directly; principals of this account may use it only through ``services`` (RDS encrypting its
    storage, say); ``users`` (role ARNs, such as the EKS cluster role) may use it directly for envelope
    encryption."""
    use = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"]
    account = f"arn:{partition}:iam::{account_id}:root"
    statements: list[dict[str, Any]] = [
        {
            "Sid": "AccountAdministersThroughIam",
            "Effect": "Allow",
            "Principal": {"AWS": account},
            "Action": KEY_ADMINISTRATION,
            "Resource": "*",
        },
        {
            "Sid": "UseThroughTheServicesOnly",
            "Effect": "Allow",
            "Principal": {"AWS": account},
            "Action": [*use, "kms:CreateGrant", "kms:ListGrants"],
            "Resource": "*",
            "Condition": {"StringEquals": {"kms:CallerAccount": account_id, "kms:ViaService": sorted(services)}},
        },
    ]
    if users:
        statements.append({"Sid": "NamedRolesEncryptDirectly", "Effect": "Allow", "Principal": {"AWS": sorted(users)},
                           "Action": [*use, "kms:ListGrants"], "Resource": "*"})
    return document(*statements)


def log_writer_policy(log_group_arn: str) -> str:
    """Write access to one log group's streams (what VPC flow logs need)."""
    return document(
        {
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
            "Resource": [log_group_arn, f"{log_group_arn}:*"],
        }
    )


def key_user_policy(key_arn: str) -> str:
    """Use of one KMS key for envelope encryption (what the EKS control plane needs for Secrets)."""
    return document(
        {
            "Effect": "Allow",
            "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ListGrants", "kms:DescribeKey"],
            "Resource": key_arn,
        }
    )


def github_actions_trust_policy(oidc_provider_arn: str, subjects: list[str]) -> str:
    """Trust for GitHub Actions jobs of exactly the given token subjects (``repo:<owner>/<repo>:pull_request``,
    ``...:ref:refs/heads/main``, ``...:environment:production``): STS accepts a token from the account's GitHub
    OIDC provider only when its audience is STS and its subject is one of them, compared exactly (no wildcards)."""
    return document(
        {
            "Effect": "Allow",
            "Principal": {"Federated": oidc_provider_arn},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {
                "StringEquals": {
                    "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
                    "token.actions.githubusercontent.com:sub": sorted(subjects),
                }
            },
        }
    )


def state_access_policy(bucket_arn: str, key_arn: str | None, *, write: bool) -> str:
    """Use of a self-managed Pulumi state backend: list and read the state bucket, and (``write``) write it; the
    preview identity writes only the backend's lock files. With a KMS secrets provider, decrypt (and encrypt)."""
    statements: list[dict[str, Any]] = [
        {"Sid": "ListState", "Effect": "Allow", "Action": ["s3:ListBucket", "s3:GetBucketLocation"],
         "Resource": bucket_arn},
        {"Sid": "ReadState", "Effect": "Allow", "Action": ["s3:GetObject", "s3:GetObjectVersion"],
         "Resource": f"{bucket_arn}/*"},
        {"Sid": "WriteState" if write else "WriteLocks", "Effect": "Allow",
         "Action": ["s3:PutObject", "s3:DeleteObject"],
         "Resource": f"{bucket_arn}/*" if write else f"{bucket_arn}/.pulumi/locks/*"},
    ]
    if key_arn:
        actions = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"] if write else ["kms:Decrypt"]
        statements.append({"Sid": "UseSecretsKey", "Effect": "Allow", "Action": actions, "Resource": key_arn})
    return document(*statements)


def platform_iam_policy(account_id: str, partition: str, name_prefix: str) -> str:
    """The IAM a deploying identity needs for the platform and nothing wider: roles, policies and instance profiles
    whose names start with the platform's prefix (every IAM name the components create does), passing those roles,
    the EKS clusters' OIDC providers, and the service-linked roles AWS services create for themselves."""
    base = f"arn:{partition}:iam::{account_id}"
    return document(
        {"Sid": "ManagePlatformRoles", "Effect": "Allow",
         "Action": ["iam:CreateRole", "iam:DeleteRole", "iam:GetRole", "iam:UpdateRole", "iam:TagRole",
                    "iam:UntagRole", "iam:UpdateAssumeRolePolicy", "iam:PutRolePolicy", "iam:GetRolePolicy",
                    "iam:DeleteRolePolicy", "iam:ListRolePolicies", "iam:AttachRolePolicy", "iam:DetachRolePolicy",
                    "iam:ListAttachedRolePolicies", "iam:ListInstanceProfilesForRole", "iam:PassRole",
                    "iam:CreateInstanceProfile", "iam:DeleteInstanceProfile", "iam:GetInstanceProfile",
                    "iam:AddRoleToInstanceProfile", "iam:RemoveRoleFromInstanceProfile", "iam:TagInstanceProfile"],
         "Resource": [f"{base}:role/{name_prefix}*", f"{base}:instance-profile/{name_prefix}*"]},
        {"Sid": "ManagePlatformPolicies", "Effect": "Allow",
         "Action": ["iam:CreatePolicy", "iam:DeletePolicy", "iam:GetPolicy", "iam:GetPolicyVersion",
                    "iam:CreatePolicyVersion", "iam:DeletePolicyVersion", "iam:ListPolicyVersions",
                    "iam:TagPolicy", "iam:UntagPolicy"],
         "Resource": f"{base}:policy/{name_prefix}*"},
        {"Sid": "ManageClusterOidcProviders", "Effect": "Allow",
         "Action": ["iam:CreateOpenIDConnectProvider", "iam:DeleteOpenIDConnectProvider",
                    "iam:GetOpenIDConnectProvider", "iam:TagOpenIDConnectProvider",
                    "iam:UpdateOpenIDConnectProviderThumbprint"],
         "Resource": f"{base}:oidc-provider/oidc.eks.*"},
        {"Sid": "ServiceLinkedRoles", "Effect": "Allow", "Action": "iam:CreateServiceLinkedRole",
         "Resource": f"{base}:role/aws-service-role/*"},
    )
def database_connect_policy(db_user_arn: str) -> str:
    """Sign in to RDS with IAM authentication tokens as exactly one database user (``rds-db:connect`` on its
    ``arn:aws:rds-db:...:dbuser:<resource id>/<user>``), and nothing else."""
    return document({"Sid": "ConnectAsOwnDatabaseUser", "Effect": "Allow", "Action": "rds-db:connect",
                     "Resource": db_user_arn})


def secret_read_policy(secret_arn: str, kms_key_arn: str | None = None) -> str:
    """Read the current value of exactly one Secrets Manager secret (the RDS-managed master secret), and decrypt it
    with its customer-managed key only when Secrets Manager asks on the reader's behalf. Nothing else: no listing,
    no other secret, no writes, no rotation."""
    statements: list[dict[str, Any]] = [{"Sid": "ReadOneSecret", "Effect": "Allow",
                                         "Action": ["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue"],
                                         "Resource": secret_arn}]
    if kms_key_arn:
        region = secret_arn.split(":")[3]
        statements.append({"Sid": "DecryptThroughSecretsManager", "Effect": "Allow", "Action": "kms:Decrypt",
                           "Resource": kms_key_arn,
                           "Condition": {"StringEquals": {"kms:ViaService": f"secretsmanager.{region}.amazonaws.com"}}})
    return document(*statements)
