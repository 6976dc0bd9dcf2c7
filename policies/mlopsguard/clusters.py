"""Cluster rules for EKS, GKE and AKS: the control plane is private, nodes are private, secrets are encrypted,
the API is audited, network policies are enforced, workloads get keyless identity and the version is supported.

Each rule is one policy across the three clouds; a check per resource type says what that cloud calls the setting.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from pulumi_policy import EnforcementLevel, PolicyConfigSchema, ResourceValidationArgs, Severity, StackValidationArgs

from .resources import UNKNOWN, get, items, json_document, of_types, referring, undecided_links
from .rule import by_type, iso, nist, pci, resource_rule, stack_rule

EKS = "aws:eks/cluster:Cluster"
EKS_NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
EKS_ADDON = "aws:eks/addon:Addon"
EKS_POD_IDENTITY = "aws:eks/podIdentityAssociation:PodIdentityAssociation"
IAM_OIDC_PROVIDER = "aws:iam/openIdConnectProvider:OpenIdConnectProvider"
GKE = "gcp:container/cluster:Cluster"
GKE_NODE_POOL = "gcp:container/nodePool:NodePool"
AKS = "azure-native:containerservice:ManagedCluster"
AKS_AGENT_POOL = "azure-native:containerservice:AgentPool"
HELM_RELEASES = frozenset({"kubernetes:helm.sh/v3:Release", "kubernetes:helm.sh/v4:Chart", "kubernetes:helm.sh/v3:Chart"})
CLUSTERS = (EKS, GKE, AKS)

ANYWHERE = frozenset({"0.0.0.0/0", "::/0"})


def _open_to_anywhere(cidrs: Any) -> bool | Any:
    """Whether an allow-list is missing or includes the whole internet; UNKNOWN when it is unknown."""
    if cidrs is UNKNOWN:
        return UNKNOWN
    values = [c for c in items(cidrs)]
    if UNKNOWN in values:
        return UNKNOWN
    return not values or any(c in ANYWHERE for c in values)


# --- private or allow-listed API endpoint -------------------------------------------------------------------------

def _eks_endpoint(props: Any, _args: ResourceValidationArgs) -> Iterator[str]:
    public = get(props, "vpcConfig", "endpointPublicAccess")
    if public is False or public is UNKNOWN:
        return
    if _open_to_anywhere(get(props, "vpcConfig", "publicAccessCidrs")) is True:
        yield ("EKS API endpoint is public to the whole internet; set vpcConfig.endpointPublicAccess false, or "
               "publicAccessCidrs to your own ranges")


def _gke_endpoint(props: Any, _args: ResourceValidationArgs) -> Iterator[str]:
    private = get(props, "privateClusterConfig", "enablePrivateEndpoint")
    if private is True or private is UNKNOWN:
        return
    blocks = get(props, "masterAuthorizedNetworksConfig", "cidrBlocks")
    if blocks is UNKNOWN:
        return
    if _open_to_anywhere([get(block, "cidrBlock") for block in items(blocks)]) is True:
        yield ("GKE control plane is public; enable privateClusterConfig.enablePrivateEndpoint or list your "
                   "ranges in masterAuthorizedNetworksConfig.cidrBlocks")


def _aks_endpoint(props: Any, _args: ResourceValidationArgs) -> Iterator[str]:
    private = get(props, "apiServerAccessProfile", "enablePrivateCluster")
    if private is True or private is UNKNOWN:
        return
    if _open_to_anywhere(get(props, "apiServerAccessProfile", "authorizedIPRanges")) is True:
        yield ("AKS API server is public; set apiServerAccessProfile.enablePrivateCluster or authorizedIPRanges to "
               "your own ranges")


PRIVATE_ENDPOINT = resource_rule(
    name="cluster-private-endpoint",
    description="The Kubernetes API of EKS, GKE and AKS is private or reachable only from allow-listed ranges, so "
                "the control plane is not an internet-facing login page.",
    severity=Severity.HIGH,
    level=EnforcementLevel.MANDATORY,
    controls=[nist("SC-7"), nist("AC-17"), pci("1.3.1"), iso("A.8.20")],
    validate=by_type({EKS: _eks_endpoint, GKE: _gke_endpoint, AKS: _aks_endpoint}),
    applies_to=CLUSTERS,
    remediation_steps="Make the endpoint private, or restrict it to your office/VPN ranges (never 0.0.0.0/0).",
)


# --- private nodes ------------------------------------------------------------------------------------------------

def _gke_nodes(props: Any, _args: ResourceValidationArgs) -> Iterator[str]:
    private = get(props, "privateClusterConfig", "enablePrivateNodes")
    network = get(props, "networkConfig", "enablePrivateNodes")
    if private not in (True, UNKNOWN) and network not in (True, UNKNOWN):
        yield "GKE nodes get public IPs; set privateClusterConfig.enablePrivateNodes true"


def _gke_pool_nodes(props: Any, _args: ResourceValidationArgs) -> Iterator[str]:
    if get(props, "networkConfig", "enablePrivateNodes") is False:
        yield "GKE node pool turns private nodes off (networkConfig.enablePrivateNodes false)"


def _aks_nodes(props: Any, _args: ResourceValidationArgs) -> Iterator[str]:
    for pool in items(get(props, "agentPoolProfiles")):
        if get(pool, "enableNodePublicIP") is True:
            yield f"AKS agent pool {get(pool, 'name')!r} gives nodes public IPs (enableNodePublicIP)"


def _aks_pool_nodes(props: Any, _args: ResourceValidationArgs) -> Iterator[str]:
    if get(props, "enableNodePublicIP") is True:
        yield "AKS agent pool gives nodes public IPs (enableNodePublicIP)"


def _eks_nodes(props: Any, _args: ResourceValidationArgs) -> Iterator[str]:
    remote = get(props, "remoteAccess")
    if remote is not None and remote is not UNKNOWN:
        yield "EKS node group opens SSH remote access to its nodes; use SSM Session Manager instead"


PRIVATE_NODES = resource_rule(
    name="cluster-private-nodes",
    description="Cluster nodes have no public IPs and no SSH from outside, so a node is only reachable through the "
                "cluster's own network.",
    severity=Severity.HIGH,
    level=EnforcementLevel.MANDATORY,
    controls=[nist("SC-7"), pci("1.4.4"), iso("A.8.22")],
    validate=by_type({GKE: _gke_nodes, GKE_NODE_POOL: _gke_pool_nodes, AKS: _aks_nodes, AKS_AGENT_POOL: _aks_pool_nodes,
                      EKS_NODE_GROUP: _eks_nodes}),
    applies_to=(GKE, GKE_NODE_POOL, AKS, AKS_AGENT_POOL, EKS_NODE_GROUP),
    remediation_steps="GKE: private nodes. AKS: no enableNodePublicIP. EKS: private subnets and no remoteAccess.",
)


# --- secrets encryption -------------------------------------------------------------------------------------------

def _eks_secrets(props: Any, _args: ResourceValidationArgs) -> Iterator[str]:
    configs = get(props, "encryptionConfig")
    if configs is UNKNOWN:
        return
    resources = [r for config in items(configs) for r in items(get(config, "resources"))]
    if UNKNOWN not in resources and "secrets" not in resources:
        yield "EKS cluster does not envelope-encrypt Secrets with a KMS key (encryptionConfig.resources: secrets)"


def _gke_secrets(props: Any, _args: ResourceValidationArgs) -> Iterator[str]:
    if get(props, "databaseEncryption", "state") not in ("ENCRYPTED", UNKNOWN):
        yield "GKE cluster does not encrypt Secrets with Cloud KMS (databaseEncryption.state ENCRYPTED)"


def _aks_secrets(props: Any, _args: ResourceValidationArgs) -> Iterator[str]:
    if get(props, "securityProfile", "azureKeyVaultKms", "enabled") not in (True, UNKNOWN):
        yield "AKS cluster does not encrypt Secrets with Key Vault KMS (securityProfile.azureKeyVaultKms.enabled)"


SECRETS_ENCRYPTION = resource_rule(
    name="cluster-secrets-encryption",
    description="Kubernetes Secrets are envelope-encrypted with a key the platform controls, so a copy of etcd does "
                "not give away database passwords and tokens.",
    severity=Severity.HIGH,
    level=EnforcementLevel.MANDATORY,
    controls=[nist("SC-28"), nist("SC-12"), iso("A.8.24")],
    validate=by_type({EKS: _eks_secrets, GKE: _gke_secrets, AKS: _aks_secrets}),
    applies_to=CLUSTERS,
    remediation_steps="EKS: encryptionConfig with a KMS key for 'secrets'. GKE: databaseEncryption with a Cloud KMS "
                      "key. AKS: securityProfile.azureKeyVaultKms.",
)


# --- control-plane audit logs -------------------------------------------------------------------------------------

def _eks_audit(props: Any, _args: ResourceValidationArgs) -> Iterator[str]:
    types = get(props, "enabledClusterLogTypes")
    if types is UNKNOWN:
        return
    missing = [t for t in ("audit", "authenticator") if t not in items(types)]
    if missing:
        yield f"EKS control-plane log types {', '.join(missing)} are not enabled (enabledClusterLogTypes)"


def _gke_audit(props: Any, _args: ResourceValidationArgs) -> Iterator[str]:
    if get(props, "loggingService") == "none":
        yield "GKE cluster turns Cloud Logging off (loggingService none)"
    components = get(props, "loggingConfig", "enableComponents")
    if components not in (None, UNKNOWN) and "APISERVER" not in items(components):
        yield "GKE loggingConfig.enableComponents leaves out APISERVER"


AKS_DIAGNOSTICS = frozenset({"azure-native:monitor:DiagnosticSetting", "azure-native:insights:DiagnosticSetting"})
"""Azure Native 3 calls the module ``monitor``; 2.x called it ``insights``."""
AKS_AUDIT_CATEGORIES = ("kube-audit", "kube-audit-admin")


def aks_sends_audit_log(args: StackValidationArgs, cluster: Any) -> bool | Any:
    """Whether a diagnostic setting of an AKS cluster sends its audit log (``kube-audit``, ``kube-audit-admin``, or
    the ``audit``/``allLogs`` category group) somewhere; UNKNOWN when that cannot be told during preview."""
    settings = referring(args.resources, AKS_DIAGNOSTICS, "resourceUri", cluster)
    if not settings and undecided_links(args.resources, AKS_DIAGNOSTICS, "resourceUri"):
        return UNKNOWN
    for setting in settings:
        logs = get(setting.props, "logs")
        if logs is UNKNOWN:
            return UNKNOWN
        for log in items(logs):
            category, group, enabled = get(log, "category"), get(log, "categoryGroup"), get(log, "enabled")
            if UNKNOWN in (category, group, enabled):
                return UNKNOWN
            if enabled is not False and (category in AKS_AUDIT_CATEGORIES or group in ("audit", "allLogs")):
                return True
    return False


def _validate_audit_logs(args: StackValidationArgs, report) -> None:
    checks = {EKS: _eks_audit, GKE: _gke_audit}
    for cluster in of_types(args.resources, set(CLUSTERS)):
        if cluster.resource_type in checks:
            for message in checks[cluster.resource_type](cluster.props, None):
                report(message, cluster.urn)
        elif aks_sends_audit_log(args, cluster) is False:
            report("AKS cluster has no diagnostic setting sending kube-audit or kube-audit-admin anywhere",
                   cluster.urn)


AUDIT_LOGS = stack_rule(
    name="cluster-audit-logs",
    description="The control plane logs API and authentication events, so every change to the cluster can be traced "
                "to a principal.",
    severity=Severity.MEDIUM,
    level=EnforcementLevel.MANDATORY,
    controls=[nist("AU-2"), nist("AU-12"), pci("10.2.1"), iso("A.8.15")],
    validate=_validate_audit_logs,
    applies_to=CLUSTERS,
    remediation_steps="EKS: enabledClusterLogTypes with audit and authenticator. GKE: keep Cloud Logging on with "
                      "APISERVER. AKS: a DiagnosticSetting on the cluster with kube-audit or kube-audit-admin.",
)


# --- network policy enforcement (stack: EKS enforces through the VPC CNI add-on or a CNI chart) ---------------------

def eks_enforces_network_policy(args: StackValidationArgs, cluster: Any) -> bool | Any:
    """Whether an EKS cluster enforces NetworkPolicies: a vpc-cni add-on with enableNetworkPolicy, or a Calico or
    Cilium chart in the stack."""
    for addon in referring(args.resources, {EKS_ADDON}, "clusterName", cluster):
        if get(addon.props, "addonName") != "vpc-cni":
            continue
        values = json_document(get(addon.props, "configurationValues"))
        if values is UNKNOWN:
            return UNKNOWN
        if isinstance(values, dict) and str(values.get("enableNetworkPolicy")).lower() == "true":
            return True
    if undecided_links(args.resources, {EKS_ADDON}, "clusterName") or any(
            get(a.props, "addonName") is UNKNOWN for a in of_types(args.resources, {EKS_ADDON})):
        return UNKNOWN
    for release in of_types(args.resources, HELM_RELEASES):
        chart = get(release.props, "chart")
        if isinstance(chart, str) and re.search(r"calico|tigera|cilium", chart):
            return True
    return False


def _validate_network_policy(args: StackValidationArgs, report) -> None:
    for cluster in of_types(args.resources, set(CLUSTERS)):
        props = cluster.props
        if cluster.resource_type == EKS:
            if eks_enforces_network_policy(args, cluster) is False:
                report("EKS cluster does not enforce NetworkPolicies: add the vpc-cni add-on with "
                       'configurationValues {"enableNetworkPolicy": "true"}', cluster.urn)
        elif cluster.resource_type == GKE:
            enabled = get(props, "networkPolicy", "enabled")
            datapath = get(props, "datapathProvider")
            if enabled not in (True, UNKNOWN) and datapath not in ("ADVANCED_DATAPATH", UNKNOWN):
                report("GKE cluster does not enforce NetworkPolicies (networkPolicy.enabled or Dataplane V2)",
                       cluster.urn)
        else:
            policy = get(props, "networkProfile", "networkPolicy")
            if policy not in ("azure", "calico", "cilium", UNKNOWN):
                report("AKS cluster does not enforce NetworkPolicies (networkProfile.networkPolicy)", cluster.urn)


NETWORK_POLICY = stack_rule(
    name="cluster-network-policy-enforced",
    description="The cluster enforces Kubernetes NetworkPolicies; without an enforcing CNI every default-deny "
                "policy the platform renders is silently ignored.",
    severity=Severity.HIGH,
    level=EnforcementLevel.MANDATORY,
    controls=[nist("SC-7"), nist("AC-4"), pci("1.2.1"), iso("A.8.22")],
    validate=_validate_network_policy,
    applies_to=CLUSTERS,
    remediation_steps="EKS: vpc-cni add-on with enableNetworkPolicy. GKE: Dataplane V2. AKS: networkPolicy azure, "
                      "calico or cilium.",
)


# --- workload identity on, node keys and local accounts off ------------------------------------------------------

def _validate_workload_identity(args: StackValidationArgs, report) -> None:
    eks_identity = bool(of_types(args.resources, {IAM_OIDC_PROVIDER, EKS_POD_IDENTITY})) or any(
        get(a.props, "addonName") == "eks-pod-identity-agent" for a in of_types(args.resources, {EKS_ADDON}))
    for cluster in of_types(args.resources, set(CLUSTERS)):
        props = cluster.props
        if cluster.resource_type == EKS:
            if not eks_identity:
                report("EKS cluster has no IAM OIDC provider (IRSA) or pod identity: workloads would need static keys",
                       cluster.urn)
        elif cluster.resource_type == GKE:
            if get(props, "workloadIdentityConfig", "workloadPool") is None:
                report("GKE Workload Identity is off (workloadIdentityConfig.workloadPool)", cluster.urn)
        else:
            oidc = get(props, "oidcIssuerProfile", "enabled")
            identity = get(props, "securityProfile", "workloadIdentity", "enabled")
            if oidc not in (True, UNKNOWN) or identity not in (True, UNKNOWN):
                report("AKS workload identity is off (oidcIssuerProfile.enabled and "
                       "securityProfile.workloadIdentity.enabled)", cluster.urn)
    for pool in of_types(args.resources, {GKE_NODE_POOL}):
        mode = get(pool.props, "nodeConfig", "workloadMetadataConfig", "mode")
        if mode not in (None, "GKE_METADATA", UNKNOWN):
            report(f"GKE node pool exposes the node's metadata server to pods (workloadMetadataConfig.mode {mode})",
                   pool.urn)


WORKLOAD_IDENTITY = stack_rule(
    name="cluster-workload-identity",
    description="Pods get cloud credentials through workload identity (IRSA / GKE Workload Identity / Entra "
                "workload identity), short-lived and bound to one service account, never through node credentials.",
    severity=Severity.HIGH,
    level=EnforcementLevel.MANDATORY,
    controls=[nist("IA-5"), nist("AC-6"), iso("A.5.17"), iso("A.8.5")],
    validate=_validate_workload_identity,
    applies_to=CLUSTERS,
    remediation_steps="EKS: an IAM OIDC provider for the cluster (or pod identity). GKE: workloadIdentityConfig. "
                      "AKS: oidcIssuerProfile and securityProfile.workloadIdentity.",
)


def _default_service_account(account: Any) -> bool:
    return account is None or account == "default" or (isinstance(account, str) and account.endswith(
        "-compute@developer.gserviceaccount.com"))


def _eks_local(props: Any, _args: ResourceValidationArgs) -> Iterator[str]:
    mode = get(props, "accessConfig", "authenticationMode")
    if mode not in ("API", "API_AND_CONFIG_MAP", UNKNOWN):
        yield (f"EKS authenticationMode is {mode or 'CONFIG_MAP (default)'}: access lives in the aws-auth ConfigMap "
               "outside IAM; use API (access entries)")


def _gke_local(props: Any, _args: ResourceValidationArgs) -> Iterator[str]:
    if get(props, "masterAuth", "clientCertificateConfig", "issueClientCertificate") is True:
        yield "GKE cluster issues a client certificate (a static cluster credential)"
    if get(props, "removeDefaultNodePool") not in (True, UNKNOWN):
        account = get(props, "nodeConfig", "serviceAccount")
        if account is not UNKNOWN and _default_service_account(account):
            yield "GKE default node pool runs as the Compute Engine default service account"


def _gke_pool_local(props: Any, _args: ResourceValidationArgs) -> Iterator[str]:
    account = get(props, "nodeConfig", "serviceAccount")
    if account is not UNKNOWN and _default_service_account(account):
        yield "GKE node pool runs as the Compute Engine default service account; give it a dedicated one"


def _aks_local(props: Any, _args: ResourceValidationArgs) -> Iterator[str]:
    if get(props, "disableLocalAccounts") not in (True, UNKNOWN):
        yield "AKS local accounts are on (disableLocalAccounts): a static admin kubeconfig exists"


LOCAL_ACCOUNTS = resource_rule(
    name="cluster-no-local-accounts",
    description="Cluster access goes through the cloud's identity (no local admin accounts, client certificates or "
                "default node service accounts), so access can be revoked in one place.",
    severity=Severity.HIGH,
    level=EnforcementLevel.MANDATORY,
    controls=[nist("AC-2"), nist("IA-2"), pci("8.2.2"), iso("A.5.16")],
    validate=by_type({EKS: _eks_local, GKE: _gke_local, GKE_NODE_POOL: _gke_pool_local, AKS: _aks_local}),
    applies_to=(EKS, GKE, GKE_NODE_POOL, AKS),
    remediation_steps="EKS: accessConfig.authenticationMode API. GKE: dedicated node service account, no client "
                      "certificate. AKS: disableLocalAccounts true.",
)


# --- supported version with an upgrade channel ------------------------------------------------------------------

_VERSION_SCHEMA = PolicyConfigSchema(properties={
    "minimumKubernetesVersion": {
        "type": "string", "pattern": r"^\d+\.\d+$", "default": "1.31",
        "description": "Oldest Kubernetes minor version still in standard support on all three clouds.",
    },
})
_MINOR = re.compile(r"^v?(\d+)\.(\d+)")


def _too_old(version: Any, minimum: str) -> bool:
    if not isinstance(version, str):
        return False
    found, wanted = _MINOR.match(version), _MINOR.match(minimum)
    return bool(found and wanted) and (int(found[1]), int(found[2])) < (int(wanted[1]), int(wanted[2]))


def _eks_version(props: Any, args: ResourceValidationArgs) -> Iterator[str]:
    minimum = args.get_config()["minimumKubernetesVersion"]
    if _too_old(get(props, "version"), minimum):
        yield f"EKS version {get(props, 'version')} is older than {minimum}"


def _gke_version(props: Any, args: ResourceValidationArgs) -> Iterator[str]:
    channel = get(props, "releaseChannel", "channel")
    if channel in (None, "UNSPECIFIED"):
        yield "GKE cluster is on no release channel; set releaseChannel.channel (REGULAR or STABLE)"
    minimum = args.get_config()["minimumKubernetesVersion"]
    if _too_old(get(props, "minMasterVersion"), minimum):
        yield f"GKE minMasterVersion is older than {minimum}"


def _aks_version(props: Any, args: ResourceValidationArgs) -> Iterator[str]:
    channel = get(props, "autoUpgradeProfile", "upgradeChannel")
    if channel in (None, "none"):
        yield "AKS cluster has no auto-upgrade channel (autoUpgradeProfile.upgradeChannel patch or stable)"
    minimum = args.get_config()["minimumKubernetesVersion"]
    if _too_old(get(props, "kubernetesVersion"), minimum):
        yield f"AKS kubernetesVersion is older than {minimum}"


SUPPORTED_VERSION = resource_rule(
    name="cluster-supported-version",
    description="Clusters run a Kubernetes version still in standard support and follow an upgrade channel where the "
                "cloud has one, so security fixes keep arriving.",
    severity=Severity.MEDIUM,
    level=EnforcementLevel.ADVISORY,
    controls=[nist("SI-2"), nist("SA-22"), pci("6.3.3"), iso("A.8.8")],
    validate=by_type({EKS: _eks_version, GKE: _gke_version, AKS: _aks_version}),
    config_schema=_VERSION_SCHEMA,
    applies_to=CLUSTERS,
    remediation_steps="Upgrade to a supported minor version; GKE: releaseChannel; AKS: autoUpgradeProfile.",
)

POLICIES = [PRIVATE_ENDPOINT, PRIVATE_NODES, SECRETS_ENCRYPTION, AUDIT_LOGS, NETWORK_POLICY, WORKLOAD_IDENTITY,
            LOCAL_ACCOUNTS, SUPPORTED_VERSION]
