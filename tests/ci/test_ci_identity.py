"""The cloud side of the CI's keyless credentials, as the ci-aws, ci-gcp and ci-azure stacks build it: each cloud
trusts exactly one repository, pull requests get only the preview identity, and only the deploy branch and the
production environment get the deploying one. Judged by behaviour: the AWS trust policies through an evaluator of
STS's condition logic, the GCP provider's attribute condition with cel-python, Azure's federated credentials by
Entra's exact (issuer, subject, audience) match."""

from __future__ import annotations

import json
from pathlib import Path

import celpy
import pytest

from mlops_platform.aws.ci_identity import validate_ci_identity_args as validate_aws
from mlops_platform.azure.ci_identity import validate_ci_identity_args as validate_azure
from mlops_platform.gcp.ci_identity import ATTRIBUTE_MAPPING
from mlops_platform.gcp.ci_identity import validate_ci_identity_args as validate_gcp
from mlops_platform.validation import ArgumentError
from mlops_platform_offline.analyzer import run_policy_pack
from mlops_platform_offline.harness import ProgramError, ProjectFiles, read_stack_config, run_program
from tests.ci.iam_trust import web_identity_allowed

ROOT = Path(__file__).resolve().parents[2]
REPOSITORY = "mlops-platform/pulumi-mlops-platform"
ISSUER = "https://token.actions.githubusercontent.com"
PULL_REQUEST = f"repo:{REPOSITORY}:pull_request"
MAIN = f"repo:{REPOSITORY}:ref:refs/heads/main"
PRODUCTION = f"repo:{REPOSITORY}:environment:production"
OTHER_REPOSITORY = "repo:someone/pulumi-mlops-platform:pull_request"
FEATURE_BRANCH = f"repo:{REPOSITORY}:ref:refs/heads/feature"
STAGING = f"repo:{REPOSITORY}:environment:staging"


def claims(subject: str, **extra: str) -> dict[str, str]:
    """A GitHub Actions token's claims for a subject, consistent with it (repository, event, ref)."""
    repository = subject.split(":")[1]
    event = "pull_request" if subject.endswith(":pull_request") else "push"
    ref = "refs/pull/7/merge" if event == "pull_request" else (
        subject.split(":ref:")[1] if ":ref:" in subject else "refs/heads/main")
    return {"sub": subject, "aud": "sts.amazonaws.com", "repository": repository, "repository_id": "42",
            "event_name": event, "ref": ref, "iss": ISSUER, **extra}


@pytest.mark.parametrize("stack", ["ci-aws", "ci-gcp", "ci-azure"])
def test_the_identity_stack_previews_with_zero_violations_under_its_ci_policy_config(preview, stack):
    violations = run_policy_pack(preview(stack), ROOT / "policies", ROOT / "policies" / "config" / "prod.json")
    assert violations == []


# --- AWS -----------------------------------------------------------------------------------------------------------

def aws_roles(preview):
    plan = preview("ci-aws")
    provider = plan.one("aws:iam/openIdConnectProvider:OpenIdConnectProvider")
    roles = {r.name: r.inputs["assumeRolePolicy"] for r in plan.all("aws:iam/role:Role")}
    return provider, roles["ci-preview"], roles["ci-deploy"]


def test_the_aws_oidc_provider_is_githubs_with_the_sts_audience(preview):
    provider, _, _ = aws_roles(preview)
    assert provider.inputs["url"] == ISSUER
    assert provider.inputs["clientIdLists"] == ["sts.amazonaws.com"]
    assert provider.protect


@pytest.mark.parametrize("subject, preview_allowed, deploy_allowed", [
    (PULL_REQUEST, True, False), (MAIN, False, True), (PRODUCTION, False, True), (OTHER_REPOSITORY, False, False),
    (FEATURE_BRANCH, False, False), (STAGING, False, False), (PULL_REQUEST.upper(), False, False)])
def test_aws_roles_admit_exactly_their_subjects(preview, subject, preview_allowed, deploy_allowed):
    provider, preview_trust, deploy_trust = aws_roles(preview)
    arn = provider.outputs["arn"]
    assert web_identity_allowed(preview_trust, arn, claims(subject)) is preview_allowed
    assert web_identity_allowed(deploy_trust, arn, claims(subject)) is deploy_allowed


def test_aws_roles_refuse_another_audience_and_another_provider(preview):
    provider, preview_trust, _ = aws_roles(preview)
    arn = provider.outputs["arn"]
    assert not web_identity_allowed(preview_trust, arn, claims(PULL_REQUEST, aud="sigstore"))
    assert not web_identity_allowed(preview_trust, "arn:aws:iam::123456789012:oidc-provider/other", claims(PULL_REQUEST))


def test_the_evaluator_would_admit_a_wildcard_subject(preview):
    """Guards the tests above: a trust policy with a StringLike pattern is judged open, so 'denied' means denied."""
    provider, preview_trust, _ = aws_roles(preview)
    loose = preview_trust.replace("StringEquals", "StringLike").replace(PULL_REQUEST, "repo:*")
    assert web_identity_allowed(loose, provider.outputs["arn"], claims(OTHER_REPOSITORY))


def test_the_aws_deploy_role_has_no_administrator_and_iam_only_under_the_platform_prefix(preview):
    plan = preview("ci-aws")
    managed = {r.name: r.inputs["policyArn"] for r in plan.all("aws:iam/rolePolicyAttachment:RolePolicyAttachment")}
    assert managed == {"ci-preview-managed-0": "arn:aws:iam::aws:policy/ReadOnlyAccess",
                       "ci-deploy-managed-0": "arn:aws:iam::aws:policy/PowerUserAccess"}
    iam = json.loads(plan.one("aws:iam/rolePolicy:RolePolicy", "ci-deploy-platform-iam").inputs["policy"])
    resources = [r for s in iam["Statement"] for r in (s["Resource"] if isinstance(s["Resource"], list)
                                                        else [s["Resource"]])]
    assert all(":role/mlops-" in r or ":policy/mlops-" in r or ":instance-profile/mlops-" in r
               or "oidc-provider/oidc.eks." in r or "aws-service-role" in r for r in resources)
    locks = json.loads(plan.one("aws:iam/rolePolicy:RolePolicy", "ci-preview-state").inputs["policy"])
    [write] = [s for s in locks["Statement"] if "s3:PutObject" in s["Action"]]
    assert write["Resource"] == "arn:aws:s3:::mlops-platform-pulumi-state/.pulumi/locks/*"


# --- GCP -----------------------------------------------------------------------------------------------------------

def cel(expression: str, assertion: dict[str, str]):
    environment = celpy.Environment()
    return environment.program(environment.compile(expression)).evaluate(
        {"assertion": celpy.json_to_cel(assertion)})


def gcp_admits(plan, token: dict[str, str], account: str) -> bool:
    """Whether a token gets into the pool and may impersonate ``account`` (github-preview or github-deploy): the
    provider's attribute condition, then google.subject from the attribute mapping against the account's
    principal:// bindings."""
    provider = plan.one("gcp:iam/workloadIdentityPoolProvider:WorkloadIdentityPoolProvider")
    if provider.inputs["oidc"]["issuerUri"] != token["iss"] or not bool(cel(provider.inputs["attributeCondition"],
                                                                           token)):
        return False
    subject = str(cel(provider.inputs["attributeMapping"]["google.subject"], token))
    pool = plan.one("gcp:iam/workloadIdentityPool:WorkloadIdentityPool").outputs["name"]
    names = {r.name: r.outputs["email"] for r in plan.all("gcp:serviceaccount/account:Account")}
    email = names[f"ci-{account.removeprefix('github-')}"]
    members = {r.inputs["member"] for r in plan.all("gcp:serviceaccount/iAMMember:IAMMember")
               if r.inputs["role"] == "roles/iam.workloadIdentityUser"
               and r.inputs["serviceAccountId"].endswith(email)}
    return f"principal://iam.googleapis.com/{pool}/subject/{subject}" in members


@pytest.mark.parametrize("subject, preview_allowed, deploy_allowed", [
    (PULL_REQUEST, True, False), (MAIN, False, True), (PRODUCTION, False, True), (OTHER_REPOSITORY, False, False),
    (FEATURE_BRANCH, False, False), (STAGING, False, False)])
def test_gcp_admits_exactly_the_repositorys_subjects(preview, subject, preview_allowed, deploy_allowed):
    plan = preview("ci-gcp")
    token = claims(subject)
    assert gcp_admits(plan, token, "github-preview") is preview_allowed
    assert gcp_admits(plan, token, "github-deploy") is deploy_allowed


def test_the_gcp_attribute_condition_refuses_other_repositories_before_any_binding(preview):
    condition = preview("ci-gcp").one(
        "gcp:iam/workloadIdentityPoolProvider:WorkloadIdentityPoolProvider").inputs["attributeCondition"]
    assert bool(cel(condition, claims(PULL_REQUEST)))
    assert not bool(cel(condition, claims(OTHER_REPOSITORY)))
    assert not bool(cel(condition, claims(FEATURE_BRANCH)))
    # A token of another repository that claims this one's pull_request subject is still refused by the condition.
    assert not bool(cel(condition, {**claims(PULL_REQUEST), "repository": "someone/pulumi-mlops-platform"}))


def test_the_gcp_condition_checks_the_repository_id_when_given():
    from mlops_platform.gcp.ci_identity import attribute_condition
    settings = validate_gcp({"project": "mlops-platform-prod", "repository": REPOSITORY, "repository_id": "42"})
    condition = attribute_condition(settings.trust, settings.repository_id)
    assert bool(cel(condition, claims(PULL_REQUEST)))
    assert not bool(cel(condition, claims(PULL_REQUEST, repository_id="43")))


def test_the_gcp_mapping_takes_the_subject_from_the_token():
    assert ATTRIBUTE_MAPPING["google.subject"] == "assertion.sub"


def test_gcp_accounts_get_no_basic_role_and_no_key(preview):
    plan = preview("ci-gcp")
    roles = {r.inputs["role"] for r in plan.all("gcp:projects/iAMMember:IAMMember")}
    assert roles and not roles & {"roles/owner", "roles/editor", "roles/viewer"}
    assert plan.all("gcp:serviceaccount/key:Key") == []


# --- Azure ---------------------------------------------------------------------------------------------------------

def azure_admits(plan, token: dict[str, str], identity: str) -> bool:
    """Entra exchanges a token for an identity when one of its federated credentials has exactly the token's
    issuer and subject, and the token's audience among its audiences."""
    credentials = [r for r in plan.all("azure-native:managedidentity:FederatedIdentityCredential")
                   if r.name.startswith(f"ci-{identity}-")]
    return any(c.inputs["issuer"] == token["iss"] and c.inputs["subject"] == token["sub"]
               and token["aud"] in c.inputs["audiences"] for c in credentials)


@pytest.mark.parametrize("subject, preview_allowed, deploy_allowed", [
    (PULL_REQUEST, True, False), (MAIN, False, True), (PRODUCTION, False, True), (OTHER_REPOSITORY, False, False),
    (FEATURE_BRANCH, False, False), (STAGING, False, False)])
def test_azure_identities_admit_exactly_their_subjects(preview, subject, preview_allowed, deploy_allowed):
    plan = preview("ci-azure")
    token = claims(subject, aud="api://AzureADTokenExchange")
    assert azure_admits(plan, token, "preview") is preview_allowed
    assert azure_admits(plan, token, "deploy") is deploy_allowed
    assert not azure_admits(plan, {**token, "aud": "sts.amazonaws.com"}, "preview")


def test_azure_deploy_identity_changes_only_the_platforms_resource_groups(preview):
    plan = preview("ci-azure")
    scopes = {r.name: r.inputs["scope"] for r in plan.all("azure-native:authorization:RoleAssignment")}
    assert scopes["ci-preview-role-0"] == "/subscriptions/00000000-0000-4000-8000-000000000000"
    deploy = [scope for name, scope in scopes.items() if name.startswith("ci-deploy-")]
    assert deploy and all("/resourceGroups/" in scope for scope in deploy)


# --- arguments and the program mode -------------------------------------------------------------------------------

@pytest.mark.parametrize("validate, args, message", [
    (validate_aws, {"repository": "acme/*"}, "ci_identity.repository: 'acme/*' is not allowed"),
    (validate_aws, {"repository": "acme/app", "deploy_policy_arns": ["arn:aws:iam::aws:policy/AdministratorAccess"]},
     "ci_identity.deploy_policy_arns[0]: 'arn:aws:iam::aws:policy/AdministratorAccess' is not allowed"),
    (validate_aws, {"repository": "acme/app", "create_oidc_provider": False},
     "ci_identity.oidc_provider_arn: None is not allowed with create_oidc_provider false"),
    (validate_gcp, {"project": "mlops-platform-prod", "repository": "acme/app", "preview_roles": ["roles/viewer"]},
     "ci_identity.preview_roles[0]: 'roles/viewer' is not allowed"),
    (validate_azure, {"subscription_id": "00000000-0000-4000-8000-000000000000", "location": "westeurope",
                      "repository": "acme/app", "deploy_scopes": ["/subscriptions/00000000-0000-4000-8000-000000000000"]},
     "ci_identity.deploy_scopes[0]: '/subscriptions/00000000-0000-4000-8000-000000000000' is not allowed"),
    (validate_aws, {"repository": "acme/app", "roles": []}, "ci_identity.roles: unknown key"),
])
def test_bad_arguments_fail_with_the_field_the_value_and_what_is_allowed(validate, args, message):
    with pytest.raises(ArgumentError) as error:
        validate(args)
    assert str(error.value).startswith(message)
    assert "\n" not in str(error.value)


def test_a_ci_identity_stack_refuses_platform_sections():
    project = ProjectFiles.load(ROOT)
    config = {**read_stack_config(project, "ci-aws"), "mlops:network": "{}"}
    with pytest.raises(ProgramError) as error:
        run_program(project.program, project=project.name, stack="ci-aws", config=config)
    assert "mlops:network: not read by a CI identity stack" in str(error.value.__cause__)
    assert error.value.registered == []
