"""A custom-mode VPC network for a GKE cluster and its Cloud SQL database, in one region.

What it gives: a VPC with no auto-created subnets; one regional subnet for the nodes with secondary ranges for pods
and services (VPC-native GKE), Private Google Access (nodes without external IPs still reach Google APIs, Artifact
Registry and GCS) and VPC flow logs; a Cloud Router with Cloud NAT for outbound internet (``none`` or ``single``,
the AWS strategy names: Cloud NAT is a regional, zone-redundant service, so there is no per-zone variant); and Private
Service Access (an allocated internal range peered with Google's service producer network) so Cloud SQL gets a
private IP only.

It creates no firewall rule: a custom VPC denies all ingress by default, GKE adds the control-plane-to-node rules it
needs itself, and nothing here opens a port to 0.0.0.0/0.

What it deliberately does not: Shared VPC, peering with other networks, IPv6, or Private Service Connect.
"""

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NotRequired, TypedDict

import pulumi
import pulumi_gcp as gcp

from ..tagging import tagged_options
from ..validation import ArgumentError, field_path, reject_unknown_keys

NAT_STRATEGIES = ("none", "single")
PODS_RANGE = "pods"
SERVICES_RANGE = "services"
SERVICE_NETWORKING = "servicenetworking.googleapis.com"
_DEFAULTS = {"cidr_block": "10.0.0.0/20", "pods_cidr": "10.4.0.0/14", "services_cidr": "10.8.0.0/20",
             "private_service_cidr": "10.9.0.0/20"}
_RANGES = {"cidr_block": (16, 24), "pods_cidr": (9, 21), "services_cidr": (16, 24), "private_service_cidr": (16, 24)}
"""Prefix lengths each range may have: GKE needs at least /21 for pods, Cloud SQL at least /24 for its peering."""
_CONFIG_KEYS = frozenset({*_DEFAULTS, "nat", "flow_log_sampling"})
_WIRING_KEYS = frozenset({"region"})


class NetworkArgs(TypedDict):
    """Inputs of a network. Only ``region`` is required; the rest have safe defaults."""

    region: str
    """The GCP region of the subnet, the Cloud Router and the NAT (``europe-west1``)."""
    cidr_block: NotRequired[str]
    """The nodes' primary range, a private /16 to /24 (default 10.0.0.0/20)."""
    pods_cidr: NotRequired[str]
    """The pods' secondary range, a private /9 to /21 (default 10.4.0.0/14)."""
    services_cidr: NotRequired[str]
    """The Services' secondary range, a private /16 to /24 (default 10.8.0.0/20)."""
    private_service_cidr: NotRequired[str]
    """The range allocated to Private Service Access (Cloud SQL's private IPs), a private /16 to /24 (default
    10.9.0.0/20)."""
    nat: NotRequired[str]
    """Outbound internet for the nodes: ``none`` or ``single`` (default; one regional Cloud NAT serves every zone)."""
    flow_log_sampling: NotRequired[float]
    """Share of flows VPC flow logs record, above 0 and at most 1 (default 0.5)."""
    tags: NotRequired[Mapping[str, str]]
    """Cost tags for everything the component creates (canonical rules, ``mlops_platform.tags``; AWS tags, GCP
    labels, Azure tags, Kubernetes labels); absent: only what the providers or an enclosing component apply."""


@dataclass(frozen=True)
class NetworkSettings:
    region: str
    cidr_block: str
    pods_cidr: str
    services_cidr: str
    private_service_cidr: str
    nat: str
    flow_log_sampling: float


def validate_network_args(args: Mapping[str, Any], field: str = "network", *, wiring: bool = True) -> NetworkSettings:
    """Check ``args`` and fill defaults. With ``wiring=False`` only the keys a stack config may set are accepted
    (``region`` must still be given, as the platform's region)."""
    reject_unknown_keys(args, _CONFIG_KEYS | _WIRING_KEYS | {"tags"}, field)
    region = args.get("region")
    if not isinstance(region, str) or not region:
        raise ArgumentError(f"{field_path(field, 'region')}: {region!r} is not allowed; use a GCP region name")
    ranges = {key: _private_range(args.get(key, default), field_path(field, key), *_RANGES[key])
              for key, default in _DEFAULTS.items()}
    keys = list(ranges)
    for index, key in enumerate(keys):
        for other in keys[:index]:
            if ranges[key].overlaps(ranges[other]):
                raise ArgumentError(f"{field_path(field, key)}: {str(ranges[key])!r} is not allowed; it overlaps "
                                    f"{other} ({ranges[other]}), and every range of the network must be distinct")
    nat = args.get("nat", "single")
    if nat not in NAT_STRATEGIES:
        hint = " (Cloud NAT is regional: single already serves every zone)" if nat == "one_per_az" else ""
        raise ArgumentError(f"{field_path(field, 'nat')}: {nat!r} is not allowed; use one of "
                            f"{', '.join(NAT_STRATEGIES)}{hint}")
    sampling = args.get("flow_log_sampling", 0.5)
    if isinstance(sampling, bool) or not isinstance(sampling, (int, float)) or not 0 < sampling <= 1:
        raise ArgumentError(f"{field_path(field, 'flow_log_sampling')}: {sampling!r} is not allowed; use a number "
                            f"above 0 and at most 1 (the share of flows logged)")
    return NetworkSettings(region=region, nat=nat, flow_log_sampling=float(sampling),
                           **{key: str(value) for key, value in ranges.items()})


def _private_range(cidr: Any, field: str, shortest: int, longest: int) -> ipaddress.IPv4Network:
    allowed = f"a private IPv4 range from /{shortest} to /{longest} such as 10.0.0.0/{max(shortest, 20)}"
    try:
        network = ipaddress.IPv4Network(cidr)
    except (ValueError, TypeError):
        raise ArgumentError(f"{field}: {cidr!r} is not allowed; use {allowed}") from None
    if not network.is_private or not shortest <= network.prefixlen <= longest:
        raise ArgumentError(f"{field}: {cidr!r} is not allowed; use {allowed}")
    return network


class Network(pulumi.ComponentResource):
    """A custom-mode VPC with one node subnet, Cloud NAT, flow logs and Private Service Access for Cloud SQL."""

    network_id: pulumi.Output[str]
    """``projects/<project>/global/networks/<name>``."""
    subnet_id: pulumi.Output[str]
    """The node subnet, ``projects/<project>/regions/<region>/subnetworks/<name>``."""
    pods_range_name: pulumi.Output[str]
    services_range_name: pulumi.Output[str]
    private_network_id: pulumi.Output[str]
    """The network id, known only once Private Service Access is connected: what Cloud SQL's private IP needs."""
    cidr_block: pulumi.Output[str]

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None):
        settings = validate_network_args(args)
        super().__init__("mlops:gcp:Network", name, None, tagged_options(args.get("tags"), opts, "network.tags"))
        child = pulumi.ResourceOptions(parent=self)

        network = gcp.compute.Network(
            f"{name}-vpc",
            auto_create_subnetworks=False,
            routing_mode="REGIONAL",
            description=f"VPC of {name}: nodes, pods and Cloud SQL's private IP",
            opts=child,
        )
        subnet = gcp.compute.Subnetwork(
            f"{name}-nodes",
            network=network.id,
            region=settings.region,
            ip_cidr_range=settings.cidr_block,
            secondary_ip_ranges=[
                gcp.compute.SubnetworkSecondaryIpRangeArgs(range_name=PODS_RANGE, ip_cidr_range=settings.pods_cidr),
                gcp.compute.SubnetworkSecondaryIpRangeArgs(range_name=SERVICES_RANGE,
                                                           ip_cidr_range=settings.services_cidr),
            ],
            private_ip_google_access=True,
            log_config=gcp.compute.SubnetworkLogConfigArgs(
                aggregation_interval="INTERVAL_5_SEC",
                flow_sampling=settings.flow_log_sampling,
                metadata="INCLUDE_ALL_METADATA",
            ),
            opts=child,
        )
        if settings.nat == "single":
            router = gcp.compute.Router(f"{name}-router", network=network.id, region=settings.region, opts=child)
            gcp.compute.RouterNat(
                f"{name}-nat",
                router=router.name,
                region=settings.region,
                nat_ip_allocate_option="AUTO_ONLY",
                source_subnetwork_ip_ranges_to_nat="LIST_OF_SUBNETWORKS",
                subnetworks=[gcp.compute.RouterNatSubnetworkArgs(name=subnet.id,
                                                                 source_ip_ranges_to_nats=["ALL_IP_RANGES"])],
                log_config=gcp.compute.RouterNatLogConfigArgs(enable=True, filter="ERRORS_ONLY"),
                opts=child,
            )

        private_service = ipaddress.IPv4Network(settings.private_service_cidr)
        allocated = gcp.compute.GlobalAddress(
            f"{name}-private-services",
            network=network.id,
            purpose="VPC_PEERING",
            address_type="INTERNAL",
            address=str(private_service.network_address),
            prefix_length=private_service.prefixlen,
            description="Private Service Access range: Cloud SQL private IPs",
            opts=child,
        )
        connection = gcp.servicenetworking.Connection(
            f"{name}-private-services",
            network=network.id,
            service=SERVICE_NETWORKING,
            reserved_peering_ranges=[allocated.name],
            # Google keeps the peering while a producer (Cloud SQL) still uses it, so deleting it fails; abandoning
            # it on delete lets the network go once the database is gone.
            deletion_policy="ABANDON",
            opts=child,
        )

        self.network_id = network.id
        self.subnet_id = subnet.id
        self.pods_range_name = pulumi.Output.from_input(PODS_RANGE)
        self.services_range_name = pulumi.Output.from_input(SERVICES_RANGE)
        self.private_network_id = pulumi.Output.all(network.id, connection.id).apply(lambda values: values[0])
        self.cidr_block = subnet.ip_cidr_range
        self.register_outputs({"network_id": self.network_id, "subnet_id": self.subnet_id,
                               "pods_range_name": self.pods_range_name,
                               "services_range_name": self.services_range_name,
                               "private_network_id": self.private_network_id, "cidr_block": self.cidr_block})
