"""IAM rules across the three clouds: no administrator wildcards, no GCP basic roles, no subscription Owner for
workloads, no long-lived keys, and federated trust that names exactly one Kubernetes service account (or exact
GitHub Actions subjects of one repository).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from pulumi_policy import EnforcementLevel, ResourceValidationArgs, Severity

from .resources import UNKNOWN, get, items, json_document
from .rule import CIS_GCP, by_type, cis, iso, nist, pci, resource_rule

AWS_POLICY_TYPES = (
    "aws:iam/policy:Policy", "aws:iam/rolePolicy:RolePolicy", "aws:iam/userPolicy:UserPolicy",
    "aws:iam/groupPolicy:GroupPolicy",
)
AWS_ATTACHMENTS = (
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment", "aws:iam/userPolicyAttachment:UserPolicyAttachment",
    "aws:iam/groupPolicyAttachment:GroupPolicyAttachment", "aws:iam/policyAttachment:PolicyAttachment",
)
AWS_ROLE = "aws:iam/role:Role"
GCP_IAM_TYPES = (
    "gcp:projects/iAMMember:IAMMember", "gcp:projects/iAMBinding:IAMBinding",
    "gcp:organizations/iAMMember:IAMMember", "gcp:organizations/iAMBinding:IAMBinding",
    "gcp:folder/iAMMember:IAMMember", "gcp:folder/iAMBinding:IAMBinding",
)
GCP_SA_IAM_TYPES = ("gcp:serviceaccount/iAMMember:IAMMember", "gcp:serviceaccount/iAMBinding:IAMBinding")
AZURE_ROLE_ASSIGNMENT = "azure-native:authorization:RoleAssignment"
AZURE_FEDERATED_CREDENTIAL = "azure-native:managedidentity:FederatedIdentityCredential"
AWS_ACCESS_KEY = "aws:iam/accessKey:AccessKey"
GCP_SA_KEY = "gcp:serviceaccount/key:Key"
GCP_HMAC_KEY = "gcp:storage/hmacKey:HmacKey"

ADMIN_POLICY_ARN = re.compile(r"^arn:aws[a-z-]*:iam::aws:policy/AdministratorAccess$")
_PRIVILEGED_AZURE_ROLES = {
    "8e3af657-a8ff-443c-a75c-2fe8c4bcb635": "Owner",
    "b24988ac-6180-42a0-ab88-20f7382dd24c": "Contributor",
    "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9": "User Access Administrator",
}
_SUBSCRIPTION_SCOPE = re.compile(r"^/subscriptions/[^/]+/?$")
_SERVICE_ACCOUNT_SUBJECT = re.compile(r"^system:serviceaccount:[a-z0-9]([-a-z0-9]*[a-z0-9])?:[a-z0-9]([-.a-z0-9]*[a-z0-9])?$")
_GKE_MEMBER = re.compile(r"^serviceAccount:[^\[\]]+\.svc\.id\.goog\[[a-z0-9-]+/[a-z0-9.-]+\]$")
GITHUB_ISSUER = "https://token.actions.githubusercontent.com"
_GITHUB_SUBJECT = re.compile(r"^repo:(?P<repository>[A-Za-z0-9-]+/[A-Za-z0-9._-]+):"
                             r"(pull_request|ref:refs/heads/[A-Za-z0-9._/-]+|environment:[A-Za-z0-9._-]+)$")
"""A GitHub Actions token subject of one repository and one event, branch or environment (no pattern)."""
_GITHUB_PRINCIPAL = re.compile(r"^principal://iam\.googleapis\.com/projects/[^/]+/locations/global/"
                               r"workloadIdentityPools/[^/]+/subject/(?P<subject>.+)$")


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def wildcard_admin_statements(document: Any) -> list[dict[str, Any]]:
    """The Allow statements of a policy document that grant every action on every resource."""
    if not isinstance(document, dict):
        return []
    found = []
    for statement in _listed(document.get("Statement") or []):
        if not isinstance(statement, dict) or statement.get("Effect") != "Allow":
            continue
        if "*" in _listed(statement.get("Action")) and "*" in _listed(statement.get("Resource")):
            found.append(statement)
    return found


# --- no wildcard actions on wildcard resources -------------------------------------------------------------------

def _aws_policy_document(props: Any, _args: ResourceValidationArgs) -> Iterator[str]:
    document = json_document(get(props, "policy"))
    if document is not UNKNOWN and wildcard_admin_statements(document):
        yield 'policy allows "*" actions on "*" resources: full administrator rights'


def _aws_attachment(props: Any, _args: ResourceValidationArgs) -> Iterator[str]:
    arn = get(props, "policyArn")
    if isinstance(arn, str) and ADMIN_POLICY_ARN.match(arn):
        yield "attaches AdministratorAccess"


def _aws_role_inline(props: Any, args: ResourceValidationArgs) -> Iterator[str]:
    for arn in items(get(props, "managedPolicyArns")):
        if isinstance(arn, str) and ADMIN_POLICY_ARN.match(arn):
            yield "role carries AdministratorAccess"
    for inline in items(get(props, "inlinePolicies")):
        yield from _aws_policy_document(inline, args)


NO_WILDCARD_ADMIN = resource_rule(
    name="iam-no-wildcard-admin",
    description='No IAM policy allows "*" actions on "*" resources or attaches AdministratorAccess, so a stolen '
                "workload credential is not the keys to the account.",
    severity=Severity.CRITICAL,
    level=EnforcementLevel.MANDATORY,
    controls=[nist("AC-6"), pci("7.2.1"), iso("A.8.2")],
    validate=by_type({**{t: _aws_policy_document for t in AWS_POLICY_TYPES},
                      **{t: _aws_attachment for t in AWS_ATTACHMENTS}, AWS_ROLE: _aws_role_inline}),
    applies_to=(*AWS_POLICY_TYPES, *AWS_ATTACHMENTS, AWS_ROLE),
    remediation_steps="Grant the actions and resources the workload needs (e.g. s3:GetObject on its own bucket).",
)


# --- no GCP basic roles -------------------------------------------------------------------------------------------

def _gcp_basic_role(props: Any, _args: ResourceValidationArgs) -> Iterator[str]:
    role = get(props, "role")
    if role in ("roles/owner", "roles/editor", "roles/viewer"):
        yield f"grants the basic role {role}; use a predefined or custom role"


NO_BASIC_ROLES = resource_rule(
    name="iam-no-gcp-basic-roles",
    description="No GCP principal gets a basic role (Owner, Editor, Viewer): they span every service in the project.",
    severity=Severity.HIGH,
    level=EnforcementLevel.MANDATORY,
    controls=[cis(*CIS_GCP, "1.5"), nist("AC-6"), pci("7.2.2"), iso("A.8.2")],
    validate=by_type({t: _gcp_basic_role for t in GCP_IAM_TYPES}),
    applies_to=GCP_IAM_TYPES,
    remediation_steps="Replace roles/owner|editor|viewer with the predefined roles the principal needs.",
)


# --- no subscription Owner for workloads -------------------------------------------------------------------------

def _azure_owner(props: Any, _args: ResourceValidationArgs) -> Iterator[str]:
    role = get(props, "roleDefinitionId")
    scope = get(props, "scope")
    principal_type = get(props, "principalType")
    if not isinstance(role, str) or principal_type not in ("ServicePrincipal", None):
        return
    name = _PRIVILEGED_AZURE_ROLES.get(role.rstrip("/").rsplit("/", 1)[-1].lower())
    if name and isinstance(scope, str) and _SUBSCRIPTION_SCOPE.match(scope):
        yield f"gives a workload identity {name} on the whole subscription"


NO_SUBSCRIPTION_OWNER = resource_rule(
    name="iam-no-subscription-owner",
    description="No workload identity (service principal or managed identity) is Owner, Contributor or User Access "
                "Administrator of the subscription; workloads get roles on their own resources.",
    severity=Severity.CRITICAL,
    level=EnforcementLevel.MANDATORY,
    controls=[nist("AC-6"), pci("7.2.1"), iso("A.8.2")],
    validate=by_type({AZURE_ROLE_ASSIGNMENT: _azure_owner}),
    applies_to=(AZURE_ROLE_ASSIGNMENT,),
    remediation_steps="Assign a data-plane role (e.g. Storage Blob Data Contributor) scoped to the storage account.",
)


# --- no static keys -----------------------------------------------------------------------------------------------

def _static_key(kind: str) -> Any:
    def check(_props: Any, _args: ResourceValidationArgs) -> Iterator[str]:
        yield f"creates a long-lived {kind}; use workload identity instead"
    return check


NO_STATIC_KEYS = resource_rule(
    name="iam-no-static-keys",
    description="No long-lived access keys or service-account keys are created: workloads authenticate with "
                "short-lived federated tokens, so nothing can leak that works forever.",
    severity=Severity.HIGH,
    level=EnforcementLevel.MANDATORY,
    controls=[nist("IA-5"), nist("IA-2"), pci("8.3.2"), iso("A.5.17")],
    validate=by_type({AWS_ACCESS_KEY: _static_key("IAM access key"), GCP_SA_KEY: _static_key("service-account key"),
                      GCP_HMAC_KEY: _static_key("HMAC key")}),
    applies_to=(AWS_ACCESS_KEY, GCP_SA_KEY, GCP_HMAC_KEY),
    remediation_steps="Delete the key resource; bind the workload's Kubernetes service account instead.",
)


# --- federated trust scoped to one service account ----------------------------------------------------------------

def _aws_trust(props: Any, _args: ResourceValidationArgs) -> Iterator[str]:
    document = json_document(get(props, "assumeRolePolicy"))
    if not isinstance(document, dict):
        return
    for statement in _listed(document.get("Statement") or []):
        if not isinstance(statement, dict) or statement.get("Effect") != "Allow":
            continue
        if "sts:AssumeRoleWithWebIdentity" not in _listed(statement.get("Action")):
            continue
        condition = statement.get("Condition") or {}
        equals = condition.get("StringEquals") or {}
        github = equals.get(f"{GITHUB_ISSUER.removeprefix('https://')}:sub")
        if github is not None:
            yield from _github_subjects_problems(_listed(github))
            if equals.get(f"{GITHUB_ISSUER.removeprefix('https://')}:aud") != "sts.amazonaws.com":
                yield "GitHub Actions trust has no StringEquals condition on the token's aud (sts.amazonaws.com)"
            continue
        subjects = [v for key, v in equals.items() if key.endswith(":sub")]
        if not subjects:
            yield ("web-identity trust has no StringEquals condition on the token's sub: any service account of "
                   "the cluster (or of any cluster) can assume the role")
            continue
        values = [s for value in subjects for s in _listed(value)]
        if len(values) != 1 or not _SERVICE_ACCOUNT_SUBJECT.match(str(values[0])):
            yield f"web-identity trust must name exactly one system:serviceaccount:<namespace>:<name>, not {values}"


def _gcp_trust(props: Any, _args: ResourceValidationArgs) -> Iterator[str]:
    if get(props, "role") != "roles/iam.workloadIdentityUser":
        return
    members = get(props, "members") if get(props, "member") is None else [get(props, "member")]
    if members is UNKNOWN:
        return
    for member in items(members):
        github = _GITHUB_PRINCIPAL.match(member) if isinstance(member, str) else None
        if github:
            yield from _github_subjects_problems([github["subject"]])
        elif isinstance(member, str) and not _GKE_MEMBER.match(member):
            yield f"workload identity binding {member!r} is not one Kubernetes service account (pool[namespace/name])"


def _azure_trust(props: Any, _args: ResourceValidationArgs) -> Iterator[str]:
    subject = get(props, "subject")
    if get(props, "issuer") == GITHUB_ISSUER:
        if isinstance(subject, str):
            yield from _github_subjects_problems([subject])
        return
    if isinstance(subject, str) and not _SERVICE_ACCOUNT_SUBJECT.match(subject):
        yield f"federated credential subject {subject!r} is not one system:serviceaccount:<namespace>:<name>"


def _github_subjects_problems(subjects: list[Any]) -> Iterator[str]:
    """GitHub Actions subjects must each name one repository's event, branch or environment exactly, all the same
    repository."""
    matches = [_GITHUB_SUBJECT.match(s) if isinstance(s, str) else None for s in subjects]
    if not subjects or not all(matches):
        yield (f"GitHub Actions trust must name exact subjects repo:<owner>/<repo>:pull_request|ref:refs/heads/<b>|"
               f"environment:<e>, not {subjects}")
    elif len({match["repository"] for match in matches if match}) > 1:
        yield f"GitHub Actions trust names more than one repository: {subjects}"


SCOPED_FEDERATION = resource_rule(
    name="iam-federation-scoped",
    description="Federated trust (IRSA, GKE Workload Identity, Entra federated credentials) names exactly one "
                "Kubernetes namespace and service account, so another pod cannot borrow the identity; GitHub "
                "Actions trust names exact subjects of one repository, so a fork or another repository cannot.",
    severity=Severity.HIGH,
    level=EnforcementLevel.MANDATORY,
    controls=[nist("AC-6"), nist("IA-5"), iso("A.5.15")],
    validate=by_type({AWS_ROLE: _aws_trust, AZURE_FEDERATED_CREDENTIAL: _azure_trust,
                      **{t: _gcp_trust for t in GCP_SA_IAM_TYPES}}),
    applies_to=(AWS_ROLE, AZURE_FEDERATED_CREDENTIAL, *GCP_SA_IAM_TYPES),
    remediation_steps='AWS: Condition StringEquals {"<issuer>:sub": "system:serviceaccount:<ns>:<name>", '
                      '"<issuer>:aud": "sts.amazonaws.com"}.',
)

POLICIES = [NO_WILDCARD_ADMIN, NO_BASIC_ROLES, NO_SUBSCRIPTION_OWNER, NO_STATIC_KEYS, SCOPED_FEDERATION]
