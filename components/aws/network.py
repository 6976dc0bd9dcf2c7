"""A VPC for an EKS cluster and its database: public and private subnets over 2 or 3 availability zones.

What it gives: one public and one private subnet per zone (tagged for EKS load balancers and Karpenter discovery),
an internet gateway for the public side, a NAT strategy for the private side (``none``, ``single`` or
``one_per_az``), an S3 gateway endpoint so artifact traffic never crosses a NAT, VPC flow logs to a KMS-encrypted
CloudWatch log group with a retention, and a default security group stripped of all rules. Public subnets never
give instances a public IP; only load balancers and NAT gateways live there.

What it deliberately does not: peering, transit gateways, IPv6, or interface endpoints (each costs per hour and
zone; add them when a workload needs one).
"""

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NotRequired, TypedDict

import pulumi
import pulumi_aws as aws

from . import iam_documents
from .log_encryption import logs_encryption_key
from ..tagging import tagged_options
from ..validation import ArgumentError, field_path, optional_int, reject_unknown_keys

NAT_STRATEGIES = ("none", "single", "one_per_az")
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
                      3288, 3653)
"""The retention values CloudWatch Logs accepts."""
_ZONE = r"[a-z]{2}(-gov)?-[a-z]+-\d[a-z]"
_CONFIG_KEYS = frozenset({"cidr_block", "zone_count", "availability_zones", "nat", "flow_log_retention_days"})
_WIRING_KEYS = frozenset({"region", "cluster_name"})


class NetworkArgs(TypedDict):
    """Inputs of a network. Only ``region`` is required; the rest have safe defaults."""

    region: str
    """The region; zone names default to ``<region>a``, ``<region>b``, ``<region>c``."""
    cluster_name: NotRequired[str]
    """The EKS cluster that will use the subnets; tags them for its load balancers and Karpenter discovery."""
    cidr_block: NotRequired[str]
    """The VPC's IPv4 range, a private /16 to /20 (default 10.0.0.0/16). Private subnets get a quarter each."""
    zone_count: NotRequired[int]
    """How many availability zones to span: 2 or 3 (default 3)."""
    availability_zones: NotRequired[list[str]]
    """Explicit zone names (2 or 3, in the region), for accounts where the default letters do not exist."""
    nat: NotRequired[str]
    """Outbound internet for private subnets: ``none``, ``single`` (one NAT, cheaper, one zone's outage cuts egress)
    or ``one_per_az`` (default)."""
    flow_log_retention_days: NotRequired[int]
    """Days VPC flow logs are kept; a value CloudWatch Logs accepts (default 90)."""
    tags: NotRequired[Mapping[str, str]]
    """Cost tags for everything the component creates (canonical rules, ``mlops_platform.tags``; AWS tags, GCP
    labels, Azure tags, Kubernetes labels); absent: only what the providers or an enclosing component apply."""


@dataclass(frozen=True)
class NetworkSettings:
    region: str
    cluster_name: str | None
    cidr_block: str
    availability_zones: tuple[str, ...]
    nat: str
    flow_log_retention_days: int
    public_cidrs: tuple[str, ...]
    private_cidrs: tuple[str, ...]


def validate_network_args(args: Mapping[str, Any], field: str = "network", *, wiring: bool = True) -> NetworkSettings:
    """Check ``args`` and fill defaults. With ``wiring=False`` only the keys a stack config may set are accepted
    (``region`` must still be given, as the platform's region)."""
    reject_unknown_keys(args, _CONFIG_KEYS | (_WIRING_KEYS | {"tags"} if wiring else {"region"}), field)
    region = args.get("region")
    if not isinstance(region, str) or not region:
        raise ArgumentError(f"{field_path(field, 'region')}: {region!r} is not allowed; use an AWS region name")
    cidr = args.get("cidr_block", "10.0.0.0/16")
    network = _private_network(cidr, field_path(field, "cidr_block"))
    zones = _zones(args, region, field)
    nat = args.get("nat", "one_per_az")
    if nat not in NAT_STRATEGIES:
        raise ArgumentError(f"{field_path(field, 'nat')}: {nat!r} is not allowed; use one of {', '.join(NAT_STRATEGIES)}")
    retention = args.get("flow_log_retention_days", 90)
    if isinstance(retention, bool) or retention not in LOG_RETENTION_DAYS:
        raise ArgumentError(
            f"{field_path(field, 'flow_log_retention_days')}: {retention!r} is not allowed; use one of "
            f"{', '.join(map(str, LOG_RETENTION_DAYS))}"
        )
    cluster_name = args.get("cluster_name")
    if cluster_name is not None and (not isinstance(cluster_name, str) or not cluster_name):
        raise ArgumentError(f"{field_path(field, 'cluster_name')}: {cluster_name!r} is not allowed; use a cluster name")
    quarters = list(network.subnets(prefixlen_diff=2))
    public_blocks = list(quarters[3].subnets(prefixlen_diff=2))
    return NetworkSettings(
        region=region,
        cluster_name=cluster_name,
        cidr_block=str(network),
        availability_zones=zones,
        nat=nat,
        flow_log_retention_days=retention,
        private_cidrs=tuple(str(block) for block in quarters[: len(zones)]),
        public_cidrs=tuple(str(block) for block in public_blocks[: len(zones)]),
    )


def _private_network(cidr: Any, field: str) -> ipaddress.IPv4Network:
    allowed = "a private IPv4 range from /16 to /20 such as 10.0.0.0/16"
    try:
        network = ipaddress.IPv4Network(cidr)
    except (ValueError, TypeError):
        raise ArgumentError(f"{field}: {cidr!r} is not allowed; use {allowed}") from None
    if not network.is_private or not 16 <= network.prefixlen <= 20:
        raise ArgumentError(f"{field}: {cidr!r} is not allowed; use {allowed}")
    return network


def _zones(args: Mapping[str, Any], region: str, field: str) -> tuple[str, ...]:
    explicit = args.get("availability_zones")
    if explicit is not None:
        path = field_path(field, "availability_zones")
        if (not isinstance(explicit, (list, tuple)) or len(explicit) not in (2, 3) or len(set(explicit)) != len(explicit)
                or not all(isinstance(z, str) and re.fullmatch(_ZONE, z) and z.startswith(region) for z in explicit)):
            raise ArgumentError(f"{path}: {explicit!r} is not allowed; use 2 or 3 distinct zone names of {region}")
        if "zone_count" in args and args["zone_count"] != len(explicit):
            raise ArgumentError(
                f"{field_path(field, 'zone_count')}: {args['zone_count']!r} is not allowed; it must equal the number "
                f"of availability_zones ({len(explicit)}) or be left out"
            )
        return tuple(explicit)
    count = optional_int(args, "zone_count", field, 3, 2, 3)
    return tuple(f"{region}{letter}" for letter in "abc"[:count])


class Network(pulumi.ComponentResource):
    """A VPC with public and private subnets over 2 or 3 zones, NAT, an S3 gateway endpoint and flow logs."""

    vpc_id: pulumi.Output[str]
    private_subnet_ids: pulumi.Output[list[str]]
    """One per zone, in zone order: where nodes, pods and the database live."""
    public_subnet_ids: pulumi.Output[list[str]]
    """One per zone: internet-facing load balancers and NAT gateways only."""
    cidr_block: pulumi.Output[str]

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None):
        settings = validate_network_args(args)
        super().__init__("mlops:aws:Network", name, None, tagged_options(args.get("tags"), opts, "network.tags"))
        child = pulumi.ResourceOptions(parent=self)

        vpc = aws.ec2.Vpc(f"{name}-vpc", cidr_block=settings.cidr_block, enable_dns_hostnames=True,
                          enable_dns_support=True, opts=child)
        # The default security group admits all traffic between its members; strip it so nothing relies on it.
        aws.ec2.DefaultSecurityGroup(f"{name}-default-sg", vpc_id=vpc.id, opts=child)
        gateway = aws.ec2.InternetGateway(f"{name}-igw", vpc_id=vpc.id, opts=child)

        public_route_table = aws.ec2.RouteTable(f"{name}-public", vpc_id=vpc.id, opts=child)
        aws.ec2.Route(f"{name}-public-internet", route_table_id=public_route_table.id,
                      destination_cidr_block="0.0.0.0/0", gateway_id=gateway.id, opts=child)

        public_subnets, private_subnets, private_route_tables, nat_gateways = [], [], [], []
        for index, zone in enumerate(settings.availability_zones):
            letter = zone[-1]
            public = aws.ec2.Subnet(
                f"{name}-public-{letter}",
                vpc_id=vpc.id,
                cidr_block=settings.public_cidrs[index],
                availability_zone=zone,
                map_public_ip_on_launch=False,
                tags={"Name": f"{name}-public-{letter}", **_subnet_role_tags("public", settings.cluster_name)},
                opts=child,
            )
            aws.ec2.RouteTableAssociation(f"{name}-public-{letter}", subnet_id=public.id,
                                          route_table_id=public_route_table.id, opts=child)
            public_subnets.append(public)
            if settings.nat == "one_per_az" or (settings.nat == "single" and index == 0):
                address = aws.ec2.Eip(f"{name}-nat-{letter}", domain="vpc", opts=child)
                nat_gateways.append(aws.ec2.NatGateway(
                    f"{name}-nat-{letter}", allocation_id=address.id, subnet_id=public.id, connectivity_type="public",
                    opts=child.merge(pulumi.ResourceOptions(depends_on=[gateway])),
                ))

        for index, zone in enumerate(settings.availability_zones):
            letter = zone[-1]
            private = aws.ec2.Subnet(
                f"{name}-private-{letter}",
                vpc_id=vpc.id,
                cidr_block=settings.private_cidrs[index],
                availability_zone=zone,
                map_public_ip_on_launch=False,
                tags={"Name": f"{name}-private-{letter}", **_subnet_role_tags("private", settings.cluster_name)},
                opts=child,
            )
            route_table = aws.ec2.RouteTable(f"{name}-private-{letter}", vpc_id=vpc.id, opts=child)
            if nat_gateways:
                nat = nat_gateways[index] if settings.nat == "one_per_az" else nat_gateways[0]
                aws.ec2.Route(f"{name}-private-{letter}-egress", route_table_id=route_table.id,
                              destination_cidr_block="0.0.0.0/0", nat_gateway_id=nat.id, opts=child)
            aws.ec2.RouteTableAssociation(f"{name}-private-{letter}", subnet_id=private.id,
                                          route_table_id=route_table.id, opts=child)
            private_subnets.append(private)
            private_route_tables.append(route_table)

        aws.ec2.VpcEndpoint(
            f"{name}-s3",
            vpc_id=vpc.id,
            service_name=f"com.amazonaws.{settings.region}.s3",
            vpc_endpoint_type="Gateway",
            route_table_ids=[table.id for table in [public_route_table, *private_route_tables]],
            opts=child,
        )
        self._flow_logs(name, vpc, settings, child)

        self.vpc_id = vpc.id
        self.cidr_block = vpc.cidr_block
        self.private_subnet_ids = pulumi.Output.all(*[subnet.id for subnet in private_subnets])
        self.public_subnet_ids = pulumi.Output.all(*[subnet.id for subnet in public_subnets])
        self.register_outputs({"vpc_id": self.vpc_id, "cidr_block": self.cidr_block,
                               "private_subnet_ids": self.private_subnet_ids,
                               "public_subnet_ids": self.public_subnet_ids})

    def _flow_logs(self, name: str, vpc: aws.ec2.Vpc, settings: NetworkSettings, child: pulumi.ResourceOptions) -> None:
        key = logs_encryption_key(f"{name}-logs-key", description=f"Encrypts the VPC flow logs of {name}",
                                  region=settings.region, parent=self)
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-flow-logs",
            name_prefix=f"/aws/vpc/{name}-flow-logs-",
            retention_in_days=settings.flow_log_retention_days,
            kms_key_id=key.arn,
            opts=child,
        )
        role = aws.iam.Role(
            f"{name}-flow-logs",
            assume_role_policy=iam_documents.service_trust_policy("vpc-flow-logs.amazonaws.com"),
            opts=child,
        )
        aws.iam.RolePolicy(f"{name}-flow-logs", role=role.id,
                           policy=log_group.arn.apply(iam_documents.log_writer_policy), opts=child)
        aws.ec2.FlowLog(
            f"{name}-flow-logs",
            vpc_id=vpc.id,
            traffic_type="ALL",
            log_destination_type="cloud-watch-logs",
            log_destination=log_group.arn,
            iam_role_arn=role.arn,
            max_aggregation_interval=60,
            opts=child,
        )


def _subnet_role_tags(side: str, cluster_name: str | None) -> dict[str, str]:
    """Discovery tags: the AWS load balancer controller picks subnets by role, Karpenter by cluster."""
    if side == "public":
        return {"kubernetes.io/role/elb": "1"}
    tags = {"kubernetes.io/role/internal-elb": "1"}
    if cluster_name:
        tags["karpenter.sh/discovery"] = cluster_name
    return tags
