"""A VNet for an AKS cluster and its PostgreSQL Flexible Server: a node subnet, a subnet delegated to the
database, a subnet delegated to the AKS API server, a NAT gateway for egress and a private DNS zone for the database.

What it gives: three subnets carved from one private range (nodes: the first half; database: a /24; API server: a
/28), each with its own network security group, and none with Azure's implicit default outbound access. The node
subnet leaves through a NAT gateway with one static public IP (the AKS outbound type ``userAssignedNATGateway``)
and reaches Azure Storage through a service endpoint, so the storage account can deny every network but this
subnet. The database subnet admits PostgreSQL from the node subnet only. The database's private DNS zone is linked
to the VNet, so pods resolve the server's private address.

What it deliberately does not: peering, VPN, VNet flow logs (they need Network Watcher and a storage account per
region; add them where the organisation runs Network Watcher), or private endpoints (a service endpoint keeps
storage traffic on the Azure backbone at no hourly cost).
"""

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NotRequired, TypedDict

import pulumi
import pulumi_azure_native.network as network
import pulumi_azure_native.privatedns as privatedns
from pulumi import Input

from ..tagging import tagged_options
from ..validation import ArgumentError, field_path, reject_unknown_keys, require_wired

POSTGRES_PORT = 5432
_CONFIG_KEYS = frozenset({"cidr_block", "nat_idle_timeout_minutes"})
_WIRING_KEYS = frozenset({"resource_group_name", "location"})


class NetworkArgs(TypedDict):
    """Inputs of a network. The resource group and location are required; the rest have safe defaults."""

    resource_group_name: Input[str]
    location: str
    """The Azure region of the VNet and everything in it."""
    cidr_block: NotRequired[str]
    """The VNet's IPv4 range, a private /16 to /20 (default 10.40.0.0/16). Pods get addresses from the cluster's
    overlay range, not from here, so a /20 is enough for hundreds of nodes."""
    nat_idle_timeout_minutes: NotRequired[int]
    """Idle timeout of outbound connections through the NAT gateway, 4-120 (default 4)."""
    tags: NotRequired[Mapping[str, str]]
    """Cost tags for everything the component creates (canonical rules, ``mlops_platform.tags``; AWS tags, GCP
    labels, Azure tags, Kubernetes labels); absent: only what the providers or an enclosing component apply."""


@dataclass(frozen=True)
class NetworkSettings:
    resource_group_name: Any
    location: str
    cidr_block: str
    node_cidr: str
    database_cidr: str
    api_server_cidr: str
    nat_idle_timeout_minutes: int


def validate_network_args(args: Mapping[str, Any], field: str = "network", *, wiring: bool = True) -> NetworkSettings:
    """Check ``args`` and fill defaults. With ``wiring=False`` only the keys a stack config may set are accepted."""
    reject_unknown_keys(args, _CONFIG_KEYS | (_WIRING_KEYS | {"tags"} if wiring else frozenset()), field)
    if wiring:
        require_wired(args, sorted(_WIRING_KEYS), field)
    cidr = args.get("cidr_block", "10.40.0.0/16")
    allowed = "a private IPv4 range from /16 to /20 such as 10.40.0.0/16"
    try:
        vnet = ipaddress.IPv4Network(cidr)
    except (ValueError, TypeError):
        raise ArgumentError(f"{field_path(field, 'cidr_block')}: {cidr!r} is not allowed; use {allowed}") from None
    if not vnet.is_private or not 16 <= vnet.prefixlen <= 20:
        raise ArgumentError(f"{field_path(field, 'cidr_block')}: {cidr!r} is not allowed; use {allowed}")
    nodes, rest = vnet.subnets(prefixlen_diff=1)
    database, api_server_block = list(rest.subnets(new_prefix=24))[:2]
    timeout = args.get("nat_idle_timeout_minutes", 4)
    if isinstance(timeout, bool) or not isinstance(timeout, int) or not 4 <= timeout <= 120:
        raise ArgumentError(f"{field_path(field, 'nat_idle_timeout_minutes')}: {timeout!r} is not allowed; use an "
                            f"integer from 4 to 120")
    return NetworkSettings(
        resource_group_name=args.get("resource_group_name"),
        location=args.get("location", ""),
        cidr_block=str(vnet),
        node_cidr=str(nodes),
        database_cidr=str(database),
        api_server_cidr=str(next(api_server_block.subnets(new_prefix=28))),
        nat_idle_timeout_minutes=timeout,
    )


class Network(pulumi.ComponentResource):
    """A VNet with node, database and API-server subnets, NSGs, a NAT gateway and the database's private DNS zone."""

    vnet_id: pulumi.Output[str]
    node_subnet_id: pulumi.Output[str]
    """Where the AKS nodes live (pods use the cluster's overlay range)."""
    database_subnet_id: pulumi.Output[str]
    """Delegated to PostgreSQL Flexible Server."""
    api_server_subnet_id: pulumi.Output[str]
    """Delegated to AKS for API server VNet integration."""
    database_dns_zone_id: pulumi.Output[str]
    """The private DNS zone the database registers in, linked to the VNet."""
    node_cidr: pulumi.Output[str]
    database_cidr: pulumi.Output[str]
    egress_ip: pulumi.Output[str]
    """The NAT gateway's public IP: where the cluster's outbound traffic comes from."""

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None):
        settings = validate_network_args(args)
        super().__init__("mlops:azure:Network", name, None, tagged_options(args.get("tags"), opts, "network.tags"))
        child = pulumi.ResourceOptions(parent=self)
        group, location = settings.resource_group_name, settings.location

        vnet = network.VirtualNetwork(
            f"{name}-vnet",
            resource_group_name=group,
            location=location,
            address_space=network.AddressSpaceArgs(address_prefixes=[settings.cidr_block]),
            opts=child,  # subnets are their own resources below; azure-native keeps those it does not manage here
        )
        address = network.PublicIPAddress(
            f"{name}-nat-ip",
            resource_group_name=group,
            location=location,
            sku=network.PublicIPAddressSkuArgs(name="Standard", tier="Regional"),
            public_ip_allocation_method="Static",
            public_ip_address_version="IPv4",
            opts=child,
        )
        nat = network.NatGateway(
            f"{name}-nat",
            resource_group_name=group,
            location=location,
            sku=network.NatGatewaySkuArgs(name="Standard"),
            idle_timeout_in_minutes=settings.nat_idle_timeout_minutes,
            public_ip_addresses=[network.SubResourceArgs(id=address.id)],
            opts=child,
        )

        node_nsg = self._security_group(name, "nodes", group, location, [])
        database_nsg = self._security_group(name, "database", group, location, [
            network.SecurityRuleArgs(
                name="postgres-from-nodes", priority=100, direction="Inbound", access="Allow", protocol="Tcp",
                source_address_prefix=settings.node_cidr, source_port_range="*",
                destination_address_prefix=settings.database_cidr, destination_port_range=str(POSTGRES_PORT),
                description="PostgreSQL from the cluster's nodes (pods leave their node with its address)",
            ),
            network.SecurityRuleArgs(
                name="deny-other-vnet-inbound", priority=4000, direction="Inbound", access="Deny", protocol="*",
                source_address_prefix="VirtualNetwork", source_port_range="*",
                destination_address_prefix="*", destination_port_range="*",
                description="Nothing else in the VNet reaches the database subnet",
            ),
        ])
        api_server_nsg = self._security_group(name, "api-server", group, location, [])

        # One subnet at a time: Azure rejects concurrent changes to the subnets of one VNet.
        nodes = network.Subnet(
            f"{name}-nodes",
            resource_group_name=group,
            virtual_network_name=vnet.name,
            address_prefix=settings.node_cidr,
            network_security_group=network.NetworkSecurityGroupArgs(id=node_nsg.id),
            nat_gateway=network.SubResourceArgs(id=nat.id),
            service_endpoints=[network.ServiceEndpointPropertiesFormatArgs(service="Microsoft.Storage")],
            default_outbound_access=False,
            opts=child,
        )
        database = network.Subnet(
            f"{name}-database",
            resource_group_name=group,
            virtual_network_name=vnet.name,
            address_prefix=settings.database_cidr,
            network_security_group=network.NetworkSecurityGroupArgs(id=database_nsg.id),
            delegations=[network.DelegationArgs(name="postgres-flexible-server",
                                                service_name="Microsoft.DBforPostgreSQL/flexibleServers")],
            default_outbound_access=False,
            opts=child.merge(pulumi.ResourceOptions(depends_on=[nodes])),
        )
        api_server = network.Subnet(
            f"{name}-api-server",
            resource_group_name=group,
            virtual_network_name=vnet.name,
            address_prefix=settings.api_server_cidr,
            network_security_group=network.NetworkSecurityGroupArgs(id=api_server_nsg.id),
            delegations=[network.DelegationArgs(name="aks-api-server",
                                                service_name="Microsoft.ContainerService/managedClusters")],
            default_outbound_access=False,
            opts=child.merge(pulumi.ResourceOptions(depends_on=[database])),
        )

        zone = privatedns.PrivateZone(
            f"{name}-database-dns",
            resource_group_name=group,
            location="global",
            private_zone_name=f"{name}.private.postgres.database.azure.com",
            opts=child,
        )
        link = privatedns.VirtualNetworkLink(
            f"{name}-database-dns-link",
            resource_group_name=group,
            private_zone_name=zone.name,
            location="global",
            registration_enabled=False,
            virtual_network=privatedns.SubResourceArgs(id=vnet.id),
            opts=child,
        )

        self.vnet_id = vnet.id
        self.node_subnet_id = nodes.id
        self.database_subnet_id = database.id
        self.api_server_subnet_id = api_server.id
        # The zone is usable by the database once it is linked to the VNet.
        self.database_dns_zone_id = pulumi.Output.all(zone.id, link.id).apply(lambda ids: ids[0])
        self.node_cidr = pulumi.Output.from_input(settings.node_cidr)
        self.database_cidr = pulumi.Output.from_input(settings.database_cidr)
        self.egress_ip = address.ip_address.apply(lambda ip: ip or "")
        self.register_outputs({"vnet_id": self.vnet_id, "node_subnet_id": self.node_subnet_id,
                               "database_subnet_id": self.database_subnet_id,
                               "api_server_subnet_id": self.api_server_subnet_id,
                               "database_dns_zone_id": self.database_dns_zone_id, "node_cidr": self.node_cidr,
                               "database_cidr": self.database_cidr, "egress_ip": self.egress_ip})

    def _security_group(self, name: str, role: str, group: Any, location: str,
                        rules: list["network.SecurityRuleArgs"]) -> "network.NetworkSecurityGroup":
        """An NSG for one subnet: Azure's default rules (VNet and load balancer in, nothing from the internet) plus
        ``rules``."""
        return network.NetworkSecurityGroup(f"{name}-{role}-nsg", resource_group_name=group, location=location,
                                            security_rules=rules, opts=pulumi.ResourceOptions(parent=self))
