"""Realistic provider behaviour for offline runs: the ids and computed outputs a cloud would return, and the results
of provider invokes (data sources).

Values are deterministic (derived from the resource's type and name), so two previews of the same stack are equal.
Every resource gets its inputs back plus, where the provider computes them, outputs shaped like the real ones: ARNs,
bucket names with their generated suffix, endpoints, certificate data. An invoke without a fake raises an error
naming its token, so a new data source in a component cannot silently return nothing; add its fake here.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from typing import Any

ACCOUNT_ID = "123456789012"
DEFAULT_REGION = "eu-west-1"

ResourceFake = Callable[[str, dict[str, Any], str], dict[str, Any]]
"""(name, inputs, suffix) -> computed outputs to add to the inputs. ``inputs`` carries ``region`` from the provider
when the resource does not set it."""
InvokeFake = Callable[[dict[str, Any]], dict[str, Any]]
"""(args, with ``region`` from the provider when the call does not set it) -> result."""


def suffix(type_: str, name: str, length: int = 8) -> str:
    """A stable hex suffix for a resource, like the random suffix of an auto-named cloud resource."""
    return hashlib.sha256(f"{type_}::{name}".encode()).hexdigest()[:length]


def new_resource(
    type_: str, name: str, inputs: dict[str, Any], provider: dict[str, Any] | None = None
) -> tuple[str, dict[str, Any]]:
    """The id and state a provider would return for a new resource; ``provider`` holds the explicit provider's
    inputs (its region, for example)."""
    tail = suffix(type_, name)
    if type_.startswith("pulumi:providers:"):
        return f"{name}-provider-id", dict(inputs)
    fake = RESOURCE_FAKES.get(type_)
    context = _with_provider_region(inputs, provider)
    if type_.startswith("azure-native:"):
        context = _with_azure_provider(context, provider)
    computed = fake(name, context, tail) if fake else {}
    state = {**inputs, **computed}
    resource_id = str(computed.get("id") or _default_id(type_, name, inputs, tail))
    state.setdefault("id", resource_id)
    if type_.startswith("aws:") and "arn" not in state:
        state["arn"] = _aws_arn(type_, resource_id, context)
    if type_.startswith("kubernetes:"):
        state = _kubernetes_object(type_, name, state, tail)
    return resource_id, state


def call(token: str, args: dict[str, Any], provider: dict[str, Any] | None = None) -> dict[str, Any]:
    """The result of a provider invoke."""
    fake = INVOKE_FAKES.get(token)
    if fake is None:
        raise NotImplementedError(
            f"the offline harness has no fake for invoke {token!r}; add one to infra/fakes.py INVOKE_FAKES"
        )
    if token.startswith("azure-native:"):
        return fake(_with_azure_provider(args, provider))
    return fake(_with_provider_region(args, provider))


def _with_provider_region(values: dict[str, Any], provider: dict[str, Any] | None) -> dict[str, Any]:
    """``values`` with the explicit provider's ``region`` (and GCP ``project``) where they do not set their own."""
    defaults = {key: (provider or {}).get(key) for key in ("region", "project")}
    missing = {key: value for key, value in defaults.items() if value and not values.get(key)}
    return {**values, **missing} if missing else values


def _default_id(type_: str, name: str, inputs: dict[str, Any], tail: str) -> str:
    return f"{name}-{tail}"


def _region(inputs: dict[str, Any]) -> str:
    return str(inputs.get("region") or DEFAULT_REGION)


def _aws_arn(type_: str, resource_id: str, inputs: dict[str, Any]) -> str:
    service = type_.split(":")[1].split("/")[0]
    kind = type_.rsplit(":", 1)[1].lower()
    return f"arn:aws:{service}:{_region(inputs)}:{ACCOUNT_ID}:{kind}/{resource_id}"


def _s3_bucket(name: str, inputs: dict[str, Any], tail: str) -> dict[str, Any]:
    bucket = inputs.get("bucket") or f"{inputs.get('bucketPrefix') or name + '-'}{tail}"
    region = _region(inputs)
    return {
        "id": bucket,
        "bucket": bucket,
        "arn": f"arn:aws:s3:::{bucket}",
        "region": region,
        "bucketDomainName": f"{bucket}.s3.amazonaws.com",
        "bucketRegionalDomainName": f"{bucket}.s3.{region}.amazonaws.com",
        "hostedZoneId": "Z1BKCTXD74EZPE",
    }


def _kms_key(name: str, inputs: dict[str, Any], tail: str) -> dict[str, Any]:
    key_id = f"{tail}-{suffix('kms', name, 4)}-4{tail[:3]}-8{tail[3:6]}-{suffix('kms-id', name, 12)}"
    return {"id": key_id, "keyId": key_id, "arn": f"arn:aws:kms:{_region(inputs)}:{ACCOUNT_ID}:key/{key_id}"}


def _iam_role(name: str, inputs: dict[str, Any], tail: str) -> dict[str, Any]:
    role_name = inputs.get("name") or f"{inputs.get('namePrefix') or name + '-'}{tail}"
    path = inputs.get("path") or "/"
    return {"id": role_name, "name": role_name, "arn": f"arn:aws:iam::{ACCOUNT_ID}:role{path}{role_name}",
            "uniqueId": f"AROA{tail.upper()}EXAMPLE"}


def _iam_policy(name: str, inputs: dict[str, Any], tail: str) -> dict[str, Any]:
    policy_name = inputs.get("name") or f"{inputs.get('namePrefix') or name + '-'}{tail}"
    arn = f"arn:aws:iam::{ACCOUNT_ID}:policy{inputs.get('path') or '/'}{policy_name}"
    return {"id": arn, "arn": arn, "name": policy_name, "policyId": f"ANPA{tail.upper()}EXAMPLE"}


def _random_password(name: str, inputs: dict[str, Any], tail: str) -> dict[str, Any]:
    length = int(inputs.get("length") or 32)
    material = hashlib.sha256(f"password::{name}".encode()).hexdigest()
    result = (material * (length // len(material) + 1))[:length]
    return {"id": "none", "result": result, "bcryptHash": f"$2a$10${material[:53]}"}


def _random_string(name: str, inputs: dict[str, Any], tail: str) -> dict[str, Any]:
    length = int(inputs.get("length") or 8)
    material = hashlib.sha256(f"string::{name}".encode()).hexdigest()
    value = (material * (length // len(material) + 1))[:length]
    return {"id": value, "result": value}


def _kubernetes_object(type_: str, name: str, state: dict[str, Any], tail: str) -> dict[str, Any]:
    """Kubernetes objects: the provider auto-names ``metadata.name`` from the resource name plus a suffix."""
    metadata = dict(state.get("metadata") or {})
    metadata.setdefault("name", f"{name}-{tail}")
    metadata.setdefault("uid", f"{tail}-0000-4000-8000-{suffix(type_, name, 12)}")
    state = {**state, "metadata": metadata}
    namespace = metadata.get("namespace")
    state["id"] = f"{namespace}/{metadata['name']}" if namespace else str(metadata["name"])
    return state


def certificate_authority_data(name: str) -> str:
    """A base64 blob shaped like a cluster CA certificate (not a real certificate)."""
    body = base64.b64encode(hashlib.sha512(f"ca::{name}".encode()).digest() * 8).decode()
    pem = f"-----BEGIN CERTIFICATE-----\n{body}\n-----END CERTIFICATE-----\n"
    return base64.b64encode(pem.encode()).decode()


RESOURCE_FAKES: dict[str, ResourceFake] = {
    "aws:s3/bucket:Bucket": _s3_bucket,
    "aws:kms/key:Key": _kms_key,
    "aws:iam/role:Role": _iam_role,
    "aws:iam/policy:Policy": _iam_policy,
    "random:index/randomPassword:RandomPassword": _random_password,
    "random:index/randomString:RandomString": _random_string,
}
"""Computed outputs per resource type. Add an entry when a component reads an output the provider computes."""


INVOKE_FAKES: dict[str, InvokeFake] = {
    "aws:index/getCallerIdentity:getCallerIdentity": lambda args: {
        "accountId": ACCOUNT_ID,
        "arn": f"arn:aws:iam::{ACCOUNT_ID}:user/preview",
        "id": ACCOUNT_ID,
        "userId": "AIDAPREVIEWEXAMPLE",
    },
    "aws:index/getPartition:getPartition": lambda args: {
        "id": "aws", "partition": "aws", "dnsSuffix": "amazonaws.com", "reverseDnsPrefix": "com.amazonaws",
    },
    "aws:index/getRegion:getRegion": lambda args: {
        "id": args.get("region") or DEFAULT_REGION,
        "name": args.get("region") or DEFAULT_REGION,
        "region": args.get("region") or DEFAULT_REGION,
        "endpoint": f"ec2.{args.get('region') or DEFAULT_REGION}.amazonaws.com",
        "description": "Europe (Ireland)",
    },
}
"""Results per invoke token. Add an entry when a component calls a new data source."""


# --- AWS cloud layer: network, EKS, RDS, Karpenter's queue ----------------------------------------------

def _aws_hex_id(prefix: str, length: int = 17) -> ResourceFake:
    """EC2-style ids: ``vpc-0a1b...``, ``subnet-...``, ``sg-...``."""
    return lambda name, inputs, tail: {"id": f"{prefix}-0{suffix(prefix, name, length - 1)}"}


def _named_by_provider(name: str, inputs: dict[str, Any], tail: str) -> dict[str, Any]:
    """Resources the provider auto-names from the resource name (subnet groups, parameter groups, node groups)."""
    value = inputs.get("name") or f"{inputs.get('namePrefix') or name + '-'}{tail}"
    return {"id": value, "name": value}


def _eks_cluster(name: str, inputs: dict[str, Any], tail: str) -> dict[str, Any]:
    cluster_name = inputs.get("name") or f"{name}-{tail}"
    region = _region(inputs)
    oidc_id = suffix("eks-oidc", cluster_name, 32).upper()
    vpc_config = dict(inputs.get("vpcConfig") or {})
    vpc_config.setdefault("clusterSecurityGroupId", f"sg-0{suffix('eks-sg', cluster_name, 16)}")
    vpc_config.setdefault("vpcId", f"vpc-0{suffix('eks-vpc', cluster_name, 16)}")
    return {
        "id": cluster_name,
        "name": cluster_name,
        "arn": f"arn:aws:eks:{region}:{ACCOUNT_ID}:cluster/{cluster_name}",
        "endpoint": f"https://{oidc_id}.gr7.{region}.eks.amazonaws.com",
        "certificateAuthority": {"data": certificate_authority_data(cluster_name)},
        "identities": [{"oidcs": [{"issuer": f"https://oidc.eks.{region}.amazonaws.com/id/{oidc_id}"}]}],
        "vpcConfig": vpc_config,
        "status": "ACTIVE",
        "platformVersion": "eks.10",
    }


def _oidc_provider(name: str, inputs: dict[str, Any], tail: str) -> dict[str, Any]:
    url = str(inputs.get("url") or f"https://oidc.eks.{_region(inputs)}.amazonaws.com/id/{tail.upper()}")
    arn = f"arn:aws:iam::{ACCOUNT_ID}:oidc-provider/{url.removeprefix('https://')}"
    return {"id": arn, "arn": arn}


def _launch_template(name: str, inputs: dict[str, Any], tail: str) -> dict[str, Any]:
    template_id = f"lt-0{suffix('lt', name, 16)}"
    return {"id": template_id, "name": inputs.get("name") or f"{name}-{tail}", "latestVersion": 1,
            "defaultVersion": 1}


def _log_group(name: str, inputs: dict[str, Any], tail: str) -> dict[str, Any]:
    group = inputs.get("name") or f"{inputs.get('namePrefix') or name + '-'}{tail}"
    return {"id": group, "name": group, "arn": f"arn:aws:logs:{_region(inputs)}:{ACCOUNT_ID}:log-group:{group}"}


def _rds_instance(name: str, inputs: dict[str, Any], tail: str) -> dict[str, Any]:
    identifier = inputs.get("identifier") or f"{name}-{tail}"
    region = _region(inputs)
    address = f"{identifier}.c{suffix('rds', identifier, 11)}.{region}.rds.amazonaws.com"
    port = int(inputs.get("port") or 5432)
    secrets = []
    if inputs.get("manageMasterUserPassword"):
        secret_name = f"rds!db-{suffix('rds-secret', identifier, 8)}-0000-4000-8000-{suffix('rds-id', identifier, 12)}"
        secrets = [{"secretArn": f"arn:aws:secretsmanager:{region}:{ACCOUNT_ID}:secret:{secret_name}-{tail[:6]}",
                    "kmsKeyId": inputs.get("masterUserSecretKmsKeyId"), "secretStatus": "active"}]
    return {
        "id": f"db-{tail.upper()}",
        "identifier": identifier,
        "resourceId": f"db-{suffix('rds-resource', identifier, 26).upper()}",
        "arn": f"arn:aws:rds:{region}:{ACCOUNT_ID}:db:{identifier}",
        "address": address,
        "endpoint": f"{address}:{port}",
        "port": port,
        "hostedZoneId": "Z29XKXDKYMONMX",
        "masterUserSecrets": secrets,
    }


def _sqs_queue(name: str, inputs: dict[str, Any], tail: str) -> dict[str, Any]:
    queue = inputs.get("name") or f"{name}-{tail}"
    region = _region(inputs)
    return {"id": f"https://sqs.{region}.amazonaws.com/{ACCOUNT_ID}/{queue}", "name": queue,
            "url": f"https://sqs.{region}.amazonaws.com/{ACCOUNT_ID}/{queue}",
            "arn": f"arn:aws:sqs:{region}:{ACCOUNT_ID}:{queue}"}


RESOURCE_FAKES.update({
    "aws:ec2/vpc:Vpc": _aws_hex_id("vpc"),
    "aws:ec2/subnet:Subnet": _aws_hex_id("subnet"),
    "aws:ec2/securityGroup:SecurityGroup": _aws_hex_id("sg"),
    "aws:ec2/internetGateway:InternetGateway": _aws_hex_id("igw"),
    "aws:ec2/natGateway:NatGateway": _aws_hex_id("nat"),
    "aws:ec2/eip:Eip": _aws_hex_id("eipalloc"),
    "aws:ec2/routeTable:RouteTable": _aws_hex_id("rtb"),
    "aws:ec2/launchTemplate:LaunchTemplate": _launch_template,
    "aws:cloudwatch/logGroup:LogGroup": _log_group,
    "aws:eks/cluster:Cluster": _eks_cluster,
    "aws:eks/nodeGroup:NodeGroup": lambda name, inputs, tail: {
        "nodeGroupName": f"{inputs.get('nodeGroupNamePrefix') or name + '-'}{tail}",
        # EKS runs each managed node group as an Auto Scaling group named eks-<group>-<uuid>
        "resources": [{"autoscalingGroups": [{"name": f"eks-{inputs.get('nodeGroupNamePrefix') or name + '-'}{tail}-"
                                                      f"{suffix('asg', name, 8)}"}],
                       "remoteAccessSecurityGroupId": ""}]},
    "aws:iam/openIdConnectProvider:OpenIdConnectProvider": _oidc_provider,
    "aws:rds/instance:Instance": _rds_instance,
    "aws:rds/subnetGroup:SubnetGroup": _named_by_provider,
    "aws:rds/parameterGroup:ParameterGroup": _named_by_provider,
    "aws:sqs/queue:Queue": _sqs_queue,
    "aws:cloudwatch/eventRule:EventRule": _named_by_provider,
})


def _ecr_image(args: dict[str, Any]) -> dict[str, Any]:
    """A pushed image: its digest is a hash of the repository and tag, as stable as a real immutable tag's."""
    repository, tag = str(args.get("repositoryName")), str(args.get("imageTag"))
    digest = "sha256:" + hashlib.sha256(f"ecr-image::{repository}:{tag}".encode()).hexdigest()
    registry = str(args.get("registryId") or ACCOUNT_ID)
    return {"id": digest, "imageDigest": digest, "imageTag": tag, "imageTags": [tag], "registryId": registry,
            "repositoryName": repository, "imagePushedAt": 1764547200, "imageSizeInBytes": 734003200,
            "imageUri": f"{registry}.dkr.ecr.{DEFAULT_REGION}.amazonaws.com/{repository}@{digest}",
            "mostRecent": False}


INVOKE_FAKES.update({
    "aws:ecr/getImage:getImage": _ecr_image,
    "aws:iam/getSessionContext:getSessionContext": lambda args: {
        "id": str(args.get("arn")),
        "arn": str(args.get("arn")),
        # an assumed-role session resolves to its role; a user is its own issuer
        "issuerArn": f"arn:aws:iam::{ACCOUNT_ID}:role/preview" if ":assumed-role/" in str(args.get("arn"))
        else str(args.get("arn")),
        "issuerId": "AROAPREVIEWEXAMPLE",
        "issuerName": "preview",
        "sessionName": "",
    },
})


# --- CI identities (GitHub Actions OIDC trust): the GCP workload identity pool and its provider -----------------

GCP_PROJECT_NUMBER = "123456789012"


def _gcp_workload_identity_pool(name: str, inputs: dict[str, Any], tail: str) -> dict[str, Any]:
    pool_id = inputs.get("workloadIdentityPoolId") or f"{name}-{tail}"
    full = f"projects/{GCP_PROJECT_NUMBER}/locations/global/workloadIdentityPools/{pool_id}"
    return {"id": full, "name": full, "state": "ACTIVE"}


def _gcp_workload_identity_pool_provider(name: str, inputs: dict[str, Any], tail: str) -> dict[str, Any]:
    pool_id = inputs.get("workloadIdentityPoolId")
    provider_id = inputs.get("workloadIdentityPoolProviderId") or f"{name}-{tail}"
    full = (f"projects/{GCP_PROJECT_NUMBER}/locations/global/workloadIdentityPools/{pool_id}/providers/"
            f"{provider_id}")
    return {"id": full, "name": full, "state": "ACTIVE"}


RESOURCE_FAKES.update({
    "gcp:iam/workloadIdentityPool:WorkloadIdentityPool": _gcp_workload_identity_pool,
    "gcp:iam/workloadIdentityPoolProvider:WorkloadIdentityPoolProvider": _gcp_workload_identity_pool_provider,
})
"""The CI identities' service accounts, managed identities and resource groups are the cloud layers' fakes below."""


# --- GCP cloud layer: VPC, GKE, GCS, Cloud SQL, KMS, service accounts --------------------------------------------

GCP_PROJECT = "mlops-preview"
"""The project of resources whose provider names none."""


def _gcp_project(inputs: dict[str, Any]) -> str:
    return str(inputs.get("project") or GCP_PROJECT)


def gcp_project_number(project: str) -> str:
    """A stable 12-digit project number for a project id."""
    return str(int(hashlib.sha256(f"project-number::{project}".encode()).hexdigest(), 16))[:12]


def _gcp_name(name: str, inputs: dict[str, Any], tail: str) -> str:
    """Pulumi auto-names GCP resources ``<resource name>-<7 hex>`` when the program sets no name."""
    return str(inputs.get("name") or f"{name}-{tail[:7]}")


def _gcp_path(kind: str, *, scope: str = "global") -> ResourceFake:
    """Resources whose id is their relative name, ``projects/<p>/<scope>/<kind>/<name>``; ``scope`` is ``global``,
    or ``regions`` for regional resources (the region from the inputs or the provider)."""
    def fake(name: str, inputs: dict[str, Any], tail: str) -> dict[str, Any]:
        resource_name = _gcp_name(name, inputs, tail)
        where = "global" if scope == "global" else f"regions/{_region(inputs)}"
        relative = f"projects/{_gcp_project(inputs)}/{where}/{kind}/{resource_name}"
        return {"id": relative, "name": resource_name, "project": _gcp_project(inputs),
                "selfLink": f"https://www.googleapis.com/compute/v1/{relative}"}
    return fake


def _gcp_subnetwork(name: str, inputs: dict[str, Any], tail: str) -> dict[str, Any]:
    state = _gcp_path("subnetworks", scope="regions")(name, inputs, tail)
    cidr = str(inputs.get("ipCidrRange") or "10.0.0.0/20")
    gateway = ".".join([*cidr.split("/")[0].split(".")[:3], "1"])
    return {**state, "region": _region(inputs), "gatewayAddress": gateway, "fingerprint": tail}


def _gcp_global_address(name: str, inputs: dict[str, Any], tail: str) -> dict[str, Any]:
    return {**_gcp_path("addresses")(name, inputs, tail), "address": inputs.get("address") or "10.9.0.0"}


def _gcp_router_nat(name: str, inputs: dict[str, Any], tail: str) -> dict[str, Any]:
    nat = _gcp_name(name, inputs, tail)
    return {"id": f"{_gcp_project(inputs)}/{_region(inputs)}/{inputs.get('router')}/{nat}", "name": nat}


def _service_networking(name: str, inputs: dict[str, Any], tail: str) -> dict[str, Any]:
    network = str(inputs.get("network"))
    return {"id": f"{network}:{inputs.get('service')}", "peering": "servicenetworking-googleapis-com"}


def _kms_key_ring(name: str, inputs: dict[str, Any], tail: str) -> dict[str, Any]:
    ring = _gcp_name(name, inputs, tail)
    return {"id": f"projects/{_gcp_project(inputs)}/locations/{inputs.get('location') or _region(inputs)}"
                  f"/keyRings/{ring}", "name": ring}


def _kms_crypto_key(name: str, inputs: dict[str, Any], tail: str) -> dict[str, Any]:
    key = _gcp_name(name, inputs, tail)
    ring = str(inputs.get("keyRing") or f"projects/{GCP_PROJECT}/locations/{_region(inputs)}/keyRings/ring")
    return {"id": f"{ring}/cryptoKeys/{key}", "name": key, "primary": [{"name": f"{ring}/cryptoKeys/{key}/"
                                                                               "cryptoKeyVersions/1",
                                                                       "state": "ENABLED"}]}


def _gcp_service_account(name: str, inputs: dict[str, Any], tail: str) -> dict[str, Any]:
    project = _gcp_project(inputs)
    email = f"{inputs.get('accountId') or name}@{project}.iam.gserviceaccount.com"
    return {"id": f"projects/{project}/serviceAccounts/{email}", "name": f"projects/{project}/serviceAccounts/{email}",
            "email": email, "member": f"serviceAccount:{email}", "project": project,
            "uniqueId": str(int(suffix("sa-unique", email, 16), 16))[:21]}


def _gcp_iam_member(name: str, inputs: dict[str, Any], tail: str) -> dict[str, Any]:
    return {"etag": f"BwY{tail}="}


def _gcp_service_identity(name: str, inputs: dict[str, Any], tail: str) -> dict[str, Any]:
    number = gcp_project_number(_gcp_project(inputs))
    agents = {"sqladmin.googleapis.com": "gcp-sa-cloud-sql", "container.googleapis.com": "container-engine-robot"}
    email = f"service-{number}@{agents.get(str(inputs.get('service')), 'gcp-sa-unknown')}.iam.gserviceaccount.com"
    return {"id": f"projects/{_gcp_project(inputs)}/services/{inputs.get('service')}", "email": email,
            "member": f"serviceAccount:{email}"}


def _gke_cluster(name: str, inputs: dict[str, Any], tail: str) -> dict[str, Any]:
    cluster = _gcp_name(name, inputs, tail)
    project = _gcp_project(inputs)
    location = str(inputs.get("location") or _region(inputs))
    octets = hashlib.sha256(f"gke-endpoint::{cluster}".encode()).digest()
    private = dict(inputs.get("privateClusterConfig") or {})
    master = str(private.get("masterIpv4CidrBlock") or "172.16.0.0/28").split("/")[0].rsplit(".", 1)[0]
    private.setdefault("privateEndpoint", f"{master}.2")
    private.setdefault("peeringName", f"gke-n{tail[:17]}-peer")
    if not private.get("enablePrivateEndpoint"):
        private.setdefault("publicEndpoint", f"34.{octets[0]}.{octets[1]}.{octets[2]}")
    master_auth = dict(inputs.get("masterAuth") or {})
    master_auth["clusterCaCertificate"] = certificate_authority_data(cluster)
    relative = f"projects/{project}/locations/{location}/clusters/{cluster}"
    return {
        "id": relative,
        "name": cluster,
        "project": project,
        "location": location,
        "endpoint": private.get("publicEndpoint") or private["privateEndpoint"],
        "masterAuth": master_auth,
        "privateClusterConfig": private,
        "selfLink": f"https://container.googleapis.com/v1/{relative}",
        "masterVersion": f"{inputs.get('minMasterVersion') or '1.33'}.5-gke.1162000",
        "labelFingerprint": tail,
        "operation": "",
    }


def _gke_node_pool(name: str, inputs: dict[str, Any], tail: str) -> dict[str, Any]:
    pool = _gcp_name(name, inputs, tail)
    cluster = str(inputs.get("cluster") or f"projects/{GCP_PROJECT}/locations/{_region(inputs)}/clusters/cluster")
    return {"id": f"{cluster}/nodePools/{pool}", "name": pool,
            "instanceGroupUrls": [f"https://www.googleapis.com/compute/v1/projects/{_gcp_project(inputs)}/zones/"
                                  f"{_region(inputs)}-b/instanceGroupManagers/gke-{pool}-{tail[:8]}-grp"]}


def _gcs_bucket(name: str, inputs: dict[str, Any], tail: str) -> dict[str, Any]:
    bucket = _gcp_name(name, inputs, tail)
    return {"id": bucket, "name": bucket, "project": _gcp_project(inputs), "url": f"gs://{bucket}",
            "selfLink": f"https://www.googleapis.com/storage/v1/b/{bucket}", "projectNumber":
                gcp_project_number(_gcp_project(inputs))}


def _cloud_sql_instance(name: str, inputs: dict[str, Any], tail: str) -> dict[str, Any]:
    instance = _gcp_name(name, inputs, tail)
    project, region = _gcp_project(inputs), _region(inputs)
    octets = hashlib.sha256(f"sql-ip::{instance}".encode()).digest()
    private_ip = f"10.9.{octets[0] % 16}.{octets[1] % 250 + 3}"
    return {
        "id": instance,
        "name": instance,
        "project": project,
        "region": region,
        "connectionName": f"{project}:{region}:{instance}",
        "privateIpAddress": private_ip,
        "firstIpAddress": private_ip,
        "ipAddresses": [{"ipAddress": private_ip, "type": "PRIVATE"}],
        "selfLink": f"https://sqladmin.googleapis.com/sql/v1beta4/projects/{project}/instances/{instance}",
        "serviceAccountEmailAddress": f"p{gcp_project_number(project)}-{tail[:6]}@gcp-sa-cloud-sql.iam"
                                      ".gserviceaccount.com",
        "dnsName": f"{tail[:12]}.{region}.sql.goog.",
    }


def _cloud_sql_database(name: str, inputs: dict[str, Any], tail: str) -> dict[str, Any]:
    database = _gcp_name(name, inputs, tail)
    return {"id": f"projects/{_gcp_project(inputs)}/instances/{inputs.get('instance')}/databases/{database}",
            "name": database, "selfLink": f"https://sqladmin.googleapis.com/sql/v1beta4/projects/"
                                          f"{_gcp_project(inputs)}/instances/{inputs.get('instance')}/databases/"
                                          f"{database}"}


def _cloud_sql_user(name: str, inputs: dict[str, Any], tail: str) -> dict[str, Any]:
    user = _gcp_name(name, inputs, tail)
    return {"id": f"{user}//{inputs.get('instance')}", "name": user}


RESOURCE_FAKES.update({
    "gcp:compute/network:Network": _gcp_path("networks"),
    "gcp:compute/subnetwork:Subnetwork": _gcp_subnetwork,
    "gcp:compute/router:Router": _gcp_path("routers", scope="regions"),
    "gcp:compute/routerNat:RouterNat": _gcp_router_nat,
    "gcp:compute/globalAddress:GlobalAddress": _gcp_global_address,
    "gcp:servicenetworking/connection:Connection": _service_networking,
    "gcp:kms/keyRing:KeyRing": _kms_key_ring,
    "gcp:kms/cryptoKey:CryptoKey": _kms_crypto_key,
    "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember": _gcp_iam_member,
    "gcp:serviceaccount/account:Account": _gcp_service_account,
    "gcp:serviceaccount/iAMMember:IAMMember": _gcp_iam_member,
    "gcp:projects/iAMMember:IAMMember": _gcp_iam_member,
    "gcp:storage/bucketIAMMember:BucketIAMMember": _gcp_iam_member,
    "gcp:projects/serviceIdentity:ServiceIdentity": _gcp_service_identity,
    "gcp:container/cluster:Cluster": _gke_cluster,
    "gcp:container/nodePool:NodePool": _gke_node_pool,
    "gcp:storage/bucket:Bucket": _gcs_bucket,
    "gcp:sql/databaseInstance:DatabaseInstance": _cloud_sql_instance,
    "gcp:sql/database:Database": _cloud_sql_database,
    "gcp:sql/user:User": _cloud_sql_user,
})


def _gcp_project_invoke(args: dict[str, Any]) -> dict[str, Any]:
    project = str(args.get("projectId") or args.get("project") or GCP_PROJECT)
    return {"id": f"projects/{project}", "projectId": project, "number": gcp_project_number(project),
            "name": project, "labels": {}, "effectiveLabels": {}}


def _gcs_service_agent(args: dict[str, Any]) -> dict[str, Any]:
    project = str(args.get("project") or GCP_PROJECT)
    email = f"service-{gcp_project_number(project)}@gs-project-accounts.iam.gserviceaccount.com"
    return {"id": email, "emailAddress": email, "member": f"serviceAccount:{email}", "project": project}


def _artifact_registry_image(args: dict[str, Any]) -> dict[str, Any]:
    """A pushed image: its digest is a hash of the repository path and tag, as stable as a real immutable tag's."""
    location, project, repository = (str(args.get(key)) for key in ("location", "project", "repositoryId"))
    name, _, tag = str(args.get("imageName")).partition(":")
    digest = "sha256:" + hashlib.sha256(f"artifact-registry::{project}/{repository}/{name}:{tag}".encode()).hexdigest()
    return {"id": f"projects/{project}/locations/{location}/repositories/{repository}/dockerImages/{name}@{digest}",
            "selfLink": f"{location}-docker.pkg.dev/{project}/{repository}/{name}@{digest}",
            "name": f"projects/{project}/locations/{location}/repositories/{repository}/dockerImages/{name}@{digest}",
            "tags": [tag], "imageSizeBytes": "734003200", "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "location": location, "project": project, "repositoryId": repository, "imageName": str(args.get("imageName")),
            "uploadTime": "2026-11-30T12:00:00Z", "buildTime": "2026-11-30T11:58:00Z", "updateTime": "2026-11-30T12:00:00Z"}


INVOKE_FAKES.update({
    "gcp:artifactregistry/getDockerImage:getDockerImage": _artifact_registry_image,
    "gcp:organizations/getProject:getProject": _gcp_project_invoke,
    "gcp:storage/getProjectServiceAccount:getProjectServiceAccount": _gcs_service_agent,
})


# --- Azure cloud layer: resource group, VNet, AKS, Blob storage, PostgreSQL Flexible Server, Entra identities -----

AZURE_SUBSCRIPTION_ID = "00000000-0000-4000-8000-000000000001"
"""Used when the azure-native provider names no subscription."""
AZURE_TENANT_ID = "00000000-0000-4000-8000-00000000000a"
AZURE_DEFAULT_LOCATION = "westeurope"

_AZURE_CLUSTERS: dict[tuple[str, str], dict[str, Any]] = {}
"""Managed clusters by (resource group, name), for the credentials invoke, as the real API looks them up."""


def azure_guid(*parts: str) -> str:
    """A stable, well-formed GUID (version 4 layout) derived from ``parts``."""
    digest = hashlib.sha256("::".join(parts).encode()).hexdigest()
    return f"{digest[:8]}-{digest[8:12]}-4{digest[13:16]}-8{digest[17:20]}-{digest[20:32]}"


def _with_azure_provider(values: dict[str, Any], provider: dict[str, Any] | None) -> dict[str, Any]:
    """The azure-native provider's subscription and location, which ARM ids and regional names carry."""
    provider = provider or {}
    return {**values, "_subscription": provider.get("subscriptionId") or AZURE_SUBSCRIPTION_ID,
            "_location": values.get("location") or provider.get("location") or AZURE_DEFAULT_LOCATION}


def _group_id(inputs: dict[str, Any], group: Any = None) -> str:
    return f"/subscriptions/{inputs['_subscription']}/resourceGroups/{group or inputs.get('resourceGroupName')}"


def _azure_arm(name_key: str, path: str | Callable[[dict[str, Any], str], str],
               extra: Callable[[str, dict[str, Any], str], dict[str, Any]] | None = None) -> ResourceFake:
    """A fake for an ARM resource named by input ``name_key`` (azure-native auto-names it ``<name><suffix>``
    otherwise), whose id is ``<group id>/providers/<path>/<name>`` or ``path(inputs, name)``."""

    def fake(name: str, inputs: dict[str, Any], tail: str) -> dict[str, Any]:
        resource_name = str(inputs.get(name_key) or f"{name}{tail}")
        resource_id = path(inputs, resource_name) if callable(path) else \
            f"{_group_id(inputs)}/providers/{path}/{resource_name}"
        state = {"id": resource_id, "name": resource_name,
                 "type": resource_id.split("/providers/")[-1].rsplit("/", 1)[0], "azureApiVersion": "2025-01-01"}
        if "location" in inputs or "_location" in inputs:
            state["location"] = inputs.get("location") or inputs["_location"]
        identity = inputs.get("identity")
        if isinstance(identity, dict) and identity.get("userAssignedIdentities") is not None:
            state["identity"] = _identity_response(identity)
        if extra:
            state.update(extra(resource_name, inputs, resource_id))
        return state

    return fake


def _identity_response(identity: dict[str, Any]) -> dict[str, Any]:
    """ARM answers a list (or map) of user-assigned identity ids with a map of each id to its client and principal
    ids."""
    assigned = identity["userAssignedIdentities"]
    ids = list(assigned) if isinstance(assigned, (list, dict)) else []
    return {**identity, "userAssignedIdentities": {
        identity_id: {"clientId": azure_guid("client", identity_id),
                      "principalId": azure_guid("principal", identity_id)}
        for identity_id in ids}}


def _child_of(parent_key: str, parent_path: str, child_path: str) -> Callable[[dict[str, Any], str], str]:
    return lambda inputs, child: (f"{_group_id(inputs)}/providers/{parent_path}/{inputs.get(parent_key)}/"
                                  f"{child_path}/{child}")


def _identity_outputs(name: str, inputs: dict[str, Any], resource_id: str) -> dict[str, Any]:
    return {"clientId": azure_guid("client", resource_id), "principalId": azure_guid("principal", resource_id),
            "tenantId": AZURE_TENANT_ID}


def _public_ip(name: str, inputs: dict[str, Any], resource_id: str) -> dict[str, Any]:
    digest = hashlib.sha256(resource_id.encode()).digest()
    return {"ipAddress": f"20.{digest[0] % 200 + 20}.{digest[1]}.{digest[2] % 250 + 1}"}


def _vault(name: str, inputs: dict[str, Any], resource_id: str) -> dict[str, Any]:
    properties = dict(inputs.get("properties") or {})
    properties["vaultUri"] = f"https://{name}.vault.azure.net/"
    return {"properties": properties}


def _key(name: str, inputs: dict[str, Any], resource_id: str) -> dict[str, Any]:
    uri = f"https://{inputs.get('vaultName')}.vault.azure.net/keys/{name}"
    return {"keyUri": uri, "keyUriWithVersion": f"{uri}/{suffix('key-version', resource_id, 32)}"}


def _managed_cluster(name: str, inputs: dict[str, Any], resource_id: str) -> dict[str, Any]:
    location = inputs.get("location") or inputs["_location"]
    prefix = inputs.get("dnsPrefix") or name
    hashed = suffix("aks-fqdn", resource_id, 8)
    private = bool((inputs.get("apiServerAccessProfile") or {}).get("enablePrivateCluster"))
    state = {
        "fqdn": f"{prefix}-{hashed}.hcp.{location}.azmk8s.io",
        "privateFQDN": f"{prefix}-{hashed}.{azure_guid('aks-dns', resource_id)}.privatelink.{location}.azmk8s.io"
        if private else None,
        "azurePortalFQDN": f"{prefix}-{hashed}.portal.hcp.{location}.azmk8s.io",
        "nodeResourceGroup": f"MC_{inputs.get('resourceGroupName')}_{name}_{location}",
        "oidcIssuerProfile": {"enabled": True, "issuerURL": f"https://{location}.oic.prod-aks.azure.com/"
                              f"{AZURE_TENANT_ID}/{azure_guid('aks-oidc', resource_id)}/"},
        "identityProfile": {"kubeletidentity": {"clientId": azure_guid("kubelet-client", resource_id),
                                                "objectId": azure_guid("kubelet-object", resource_id),
                                                "resourceId": f"{resource_id}-agentpool"}},
        "provisioningState": "Succeeded",
        "currentKubernetesVersion": f"{inputs.get('kubernetesVersion') or '1.36'}.2",
    }
    _AZURE_CLUSTERS[(str(inputs.get("resourceGroupName")), name)] = state
    return state


def _cluster_user_credentials(args: dict[str, Any]) -> dict[str, Any]:
    """``listManagedClusterUserCredentials``: a base64 kubeconfig whose server is the cluster's (private) FQDN."""
    key = (str(args.get("resourceGroupName")), str(args.get("resourceName")))
    cluster = _AZURE_CLUSTERS.get(key) or {}
    host = cluster.get("privateFQDN") or cluster.get("fqdn") or f"{key[1]}.hcp.{AZURE_DEFAULT_LOCATION}.azmk8s.io"
    document = (
        "apiVersion: v1\nkind: Config\n"
        f"clusters:\n- name: {key[1]}\n  cluster:\n    server: https://{host}:443\n"
        f"    certificate-authority-data: {certificate_authority_data(key[1])}\n"
        f"contexts:\n- name: {key[1]}\n  context: {{cluster: {key[1]}, user: clusterUser_{key[0]}_{key[1]}}}\n"
        f"current-context: {key[1]}\n"
        f"users:\n- name: clusterUser_{key[0]}_{key[1]}\n  user:\n    exec:\n"
        "      apiVersion: client.authentication.k8s.io/v1beta1\n      command: kubelogin\n"
        "      args: [get-token, --login, devicecode, --server-id, 6dae42f8-4368-4678-94ff-3960e28e3630]\n"
    )
    return {"kubeconfigs": [{"name": "clusterUser", "value": base64.b64encode(document.encode()).decode()}]}


def _storage_account(name: str, inputs: dict[str, Any], resource_id: str) -> dict[str, Any]:
    endpoints = {service: f"https://{name}.{service}.core.windows.net/" for service in ("blob", "dfs", "file",
                                                                                         "queue", "table", "web")}
    endpoints["web"] = f"https://{name}.z6.web.core.windows.net/"
    return {"primaryEndpoints": endpoints, "primaryLocation": inputs.get("location") or inputs["_location"],
            "provisioningState": "Succeeded"}


def _postgres_server(name: str, inputs: dict[str, Any], resource_id: str) -> dict[str, Any]:
    return {"fullyQualifiedDomainName": f"{name}.postgres.database.azure.com", "state": "Ready"}


def _role_assignment(name: str, inputs: dict[str, Any], tail: str) -> dict[str, Any]:
    assignment = str(inputs.get("roleAssignmentName") or azure_guid("role-assignment", name))
    resource_id = f"{inputs.get('scope')}/providers/Microsoft.Authorization/roleAssignments/{assignment}"
    return {"id": resource_id, "name": assignment, "type": "Microsoft.Authorization/roleAssignments"}


def _scoped(path: str, scope_key: str, name_key: str) -> ResourceFake:
    def fake(name: str, inputs: dict[str, Any], tail: str) -> dict[str, Any]:
        resource_name = str(inputs.get(name_key) or f"{name}{tail}")
        return {"id": f"{inputs.get(scope_key)}/providers/{path}/{resource_name}", "name": resource_name,
                "type": path}
    return fake


_AZURE_RESOURCE_FAKES: dict[str, ResourceFake] = {
    "azure-native:resources:ResourceGroup": _azure_arm(
        "resourceGroupName", lambda inputs, group: _group_id(inputs, group)),
    "azure-native:operationalinsights:Workspace": _azure_arm(
        "workspaceName", "Microsoft.OperationalInsights/workspaces",
        lambda name, inputs, rid: {"customerId": azure_guid("workspace", rid)}),
    "azure-native:network:VirtualNetwork": _azure_arm("virtualNetworkName", "Microsoft.Network/virtualNetworks"),
    "azure-native:network:Subnet": _azure_arm(
        "subnetName", _child_of("virtualNetworkName", "Microsoft.Network/virtualNetworks", "subnets")),
    "azure-native:network:NetworkSecurityGroup": _azure_arm("networkSecurityGroupName",
                                                             "Microsoft.Network/networkSecurityGroups"),
    "azure-native:network:PublicIPAddress": _azure_arm("publicIpAddressName", "Microsoft.Network/publicIPAddresses",
                                                       _public_ip),
    "azure-native:network:NatGateway": _azure_arm("natGatewayName", "Microsoft.Network/natGateways"),
    "azure-native:privatedns:PrivateZone": _azure_arm("privateZoneName", "Microsoft.Network/privateDnsZones"),
    "azure-native:privatedns:VirtualNetworkLink": _azure_arm(
        "virtualNetworkLinkName", _child_of("privateZoneName", "Microsoft.Network/privateDnsZones",
                                            "virtualNetworkLinks")),
    "azure-native:managedidentity:UserAssignedIdentity": _azure_arm(
        "resourceName", "Microsoft.ManagedIdentity/userAssignedIdentities", _identity_outputs),
    "azure-native:managedidentity:FederatedIdentityCredential": _azure_arm(
        "federatedIdentityCredentialResourceName",
        _child_of("resourceName", "Microsoft.ManagedIdentity/userAssignedIdentities", "federatedIdentityCredentials")),
    "azure-native:keyvault:Vault": _azure_arm("vaultName", "Microsoft.KeyVault/vaults", _vault),
    "azure-native:keyvault:Key": _azure_arm("keyName", _child_of("vaultName", "Microsoft.KeyVault/vaults", "keys"),
                                            _key),
    "azure-native:containerservice:ManagedCluster": _azure_arm(
        "resourceName", "Microsoft.ContainerService/managedClusters", _managed_cluster),
    "azure-native:containerservice:AgentPool": _azure_arm(
        "agentPoolName", _child_of("resourceName", "Microsoft.ContainerService/managedClusters", "agentPools")),
    "azure-native:storage:StorageAccount": _azure_arm("accountName", "Microsoft.Storage/storageAccounts",
                                                      _storage_account),
    "azure-native:storage:BlobServiceProperties": _azure_arm(
        "blobServicesName", _child_of("accountName", "Microsoft.Storage/storageAccounts", "blobServices")),
    "azure-native:storage:BlobContainer": _azure_arm(
        "containerName", _child_of("accountName", "Microsoft.Storage/storageAccounts",
                                   "blobServices/default/containers")),
    "azure-native:storage:ManagementPolicy": _azure_arm(
        "managementPolicyName", _child_of("accountName", "Microsoft.Storage/storageAccounts", "managementPolicies")),
    "azure-native:dbforpostgresql:Server": _azure_arm("serverName", "Microsoft.DBforPostgreSQL/flexibleServers",
                                                      _postgres_server),
    "azure-native:dbforpostgresql:Configuration": _azure_arm(
        "configurationName", _child_of("serverName", "Microsoft.DBforPostgreSQL/flexibleServers", "configurations")),
    "azure-native:dbforpostgresql:Database": _azure_arm(
        "databaseName", _child_of("serverName", "Microsoft.DBforPostgreSQL/flexibleServers", "databases")),
    "azure-native:dbforpostgresql:AdministratorsMicrosoftEntra": _azure_arm(
        "objectId", _child_of("serverName", "Microsoft.DBforPostgreSQL/flexibleServers", "administrators")),
    "azure-native:authorization:RoleAssignment": _role_assignment,
    "azure-native:authorization:ManagementLockByScope": _scoped("Microsoft.Authorization/locks", "scope",
                                                                "lockName"),
    "azure-native:monitor:DiagnosticSetting": _scoped("Microsoft.Insights/diagnosticSettings", "resourceUri", "name"),
}
RESOURCE_FAKES.update(_AZURE_RESOURCE_FAKES)

INVOKE_FAKES.update({
    "azure-native:authorization:getClientConfig": lambda args: {
        "clientId": azure_guid("deployer-client"), "objectId": azure_guid("deployer-object"),
        "subscriptionId": args.get("_subscription") or AZURE_SUBSCRIPTION_ID, "tenantId": AZURE_TENANT_ID,
    },
    "azure-native:containerservice:listManagedClusterUserCredentials": _cluster_user_credentials,
})
