"""The VPC of one environment: three subnet tiers over two AZs, NAT, flow logs and endpoints."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from aws_cdk import Acknowledgment, RemovalPolicy, Stack, Validations
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from constructs import Construct

from cdk_constructs.nag import NIST, acknowledge, acknowledge_all
from cdk_constructs.options import InterfaceEndpoint, NatMode, SubnetGroup

NAT_INSTANCE_TYPE = "t4g.nano"
"""Smallest ARM (Graviton) instance: enough for a dev environment's egress."""

NAT_INSTANCE_ROOT_DEVICE = "/dev/xvda"
"""Root device name of Amazon Linux 2023 AMIs."""

HTTPS_PORT = 443


class Network(Construct):
    """A VPC with public, app (private with egress) and db (isolated) subnets in two AZs.

    Secure by default: every app subnet has a default route out in every NAT mode; all traffic
    is recorded by flow logs into a log group encrypted with ``flow_log_key`` (which must admit
    it), written by a role that can write to that group only; interface endpoints admit HTTPS
    from inside the VPC only; the default security group admits and emits nothing.
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        cidr: str,
        availability_zones: Sequence[str],
        nat_mode: NatMode,
        interface_endpoints: Sequence[InterfaceEndpoint] = (),
        flow_log_retention: logs.RetentionDays,
        flow_log_group_name: str,
        flow_log_key: kms.IKey,
        removal_policy: RemovalPolicy = RemovalPolicy.RETAIN,
    ) -> None:
        super().__init__(scope, id_)
        stack = Stack.of(self)
        # Each of the six subnets gets an eighth of the VPC (a /24 in a /21, a /19 in a /16).
        subnet_mask = ipaddress.IPv4Network(cidr).prefixlen + 3
        self.cidr = cidr

        self.nat_mode = NatMode(nat_mode)
        self.nat_provider = self._nat_provider(self.nat_mode)
        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            ip_addresses=ec2.IpAddresses.cidr(cidr),
            availability_zones=list(availability_zones),
            nat_gateway_provider=self.nat_provider,
            nat_gateways=2 if self.nat_mode is NatMode.GATEWAY_PER_AZ else 1,
            restrict_default_security_group=True,
            subnet_configuration=[
                ec2.SubnetConfiguration(
                    name=SubnetGroup.PUBLIC,
                    subnet_type=ec2.SubnetType.PUBLIC,
                    cidr_mask=subnet_mask,
                    map_public_ip_on_launch=False,
                ),
                ec2.SubnetConfiguration(
                    name=SubnetGroup.APP,
                    subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS,
                    cidr_mask=subnet_mask,
                ),
                ec2.SubnetConfiguration(
                    name=SubnetGroup.DB,
                    subnet_type=ec2.SubnetType.PRIVATE_ISOLATED,
                    cidr_mask=subnet_mask,
                ),
            ],
        )
        for subnet in (
            self.vpc.public_subnets + self.vpc.private_subnets + self.vpc.isolated_subnets
        ):
            # A CloudFormation Validate rule, which nag.py's rule ids do not name.
            Validations.of(subnet).acknowledge(
                Acknowledgment(
                    id="CloudFormation-Validate::W3010",
                    reason="AZ names are explicit in the environment config by design: synth "
                    "makes no AWS lookups, and the two AZs are chosen per account.",
                )
            )
        for subnet in self.vpc.public_subnets:
            acknowledge(
                subnet.node.find_child("DefaultRoute"),
                f"{NIST}VPCNoUnrestrictedRouteToIGW",
                "The public subnets hold only the internet-facing load balancer and the NAT, "
                "which need this route; they assign no public IPs, and the app and database "
                "subnets have no route to the internet gateway.",
            )
        if isinstance(self.nat_provider, ec2.NatInstanceProviderV2):
            self._harden_nat_instances(self.nat_provider)

        self.app_subnets = ec2.SubnetSelection(subnet_group_name=SubnetGroup.APP)
        self.db_subnets = ec2.SubnetSelection(subnet_group_name=SubnetGroup.DB)
        self.public_subnets = ec2.SubnetSelection(subnet_group_name=SubnetGroup.PUBLIC)

        # --- flow logs: ALL traffic, encrypted, retained with the data policy -------------------
        self.flow_log_group = logs.LogGroup(
            self,
            "FlowLogGroup",
            log_group_name=flow_log_group_name,
            encryption_key=flow_log_key,
            retention=flow_log_retention,
            removal_policy=removal_policy,
        )
        self.flow_log_role = iam.Role(
            self,
            "FlowLogRole",
            description="Lets VPC Flow Logs of this account write to the flow log group only",
            assumed_by=iam.ServicePrincipal(
                "vpc-flow-logs.amazonaws.com",
                conditions={
                    "StringEquals": {"aws:SourceAccount": stack.account},
                    "ArnLike": {
                        "aws:SourceArn": stack.format_arn(
                            service="ec2", resource="vpc-flow-log", resource_name="*"
                        )
                    },
                },
            ),
        )
        self.flow_log = ec2.FlowLog(
            self,
            "FlowLog",
            resource_type=ec2.FlowLogResourceType.from_vpc(self.vpc),
            traffic_type=ec2.FlowLogTrafficType.ALL,
            destination=ec2.FlowLogDestination.to_cloud_watch_logs(
                self.flow_log_group, self.flow_log_role
            ),
        )

        # --- endpoints ---------------------------------------------------------------------------
        private_route_subnets = [self.app_subnets, self.db_subnets]
        self.s3_endpoint = self.vpc.add_gateway_endpoint(
            "S3Endpoint",
            service=ec2.GatewayVpcEndpointAwsService.S3,
            subnets=private_route_subnets,
        )
        self.dynamodb_endpoint = self.vpc.add_gateway_endpoint(
            "DynamoDbEndpoint",
            service=ec2.GatewayVpcEndpointAwsService.DYNAMODB,
            subnets=private_route_subnets,
        )
        self.endpoint_security_group = ec2.SecurityGroup(
            self,
            "EndpointSecurityGroup",
            vpc=self.vpc,
            description="Interface VPC endpoints: HTTPS from inside the VPC only",
            allow_all_outbound=False,
        )
        self.endpoint_security_group.add_ingress_rule(
            ec2.Peer.ipv4(self.cidr),
            ec2.Port.tcp(HTTPS_PORT),
            "HTTPS from inside the VPC",
        )
        wanted = {InterfaceEndpoint(endpoint) for endpoint in interface_endpoints}
        self.interface_endpoints: dict[InterfaceEndpoint, ec2.InterfaceVpcEndpoint] = {}
        for endpoint in InterfaceEndpoint:
            if endpoint not in wanted:
                continue
            self.interface_endpoints[endpoint] = self.vpc.add_interface_endpoint(
                _endpoint_construct_id(endpoint),
                service=ec2.InterfaceVpcEndpointAwsService(endpoint.value),
                subnets=self.app_subnets,
                private_dns_enabled=True,
                security_groups=[self.endpoint_security_group],
                open=False,
            )

    @property
    def execute_api_endpoint(self) -> ec2.InterfaceVpcEndpoint:
        """The endpoint a private REST API is reachable through (when it was asked for)."""
        try:
            return self.interface_endpoints[InterfaceEndpoint.EXECUTE_API]
        except KeyError:
            raise ValueError(
                "this network has no execute-api endpoint: pass it in interface_endpoints"
            ) from None

    @staticmethod
    def _nat_provider(nat_mode: NatMode) -> ec2.NatProvider:
        if nat_mode is NatMode.INSTANCE:
            return ec2.NatProvider.instance_v2(
                instance_type=ec2.InstanceType(NAT_INSTANCE_TYPE),
                machine_image=ec2.MachineImage.latest_amazon_linux2023(
                    cpu_type=ec2.AmazonLinuxCpuType.ARM_64
                ),
                default_allowed_traffic=ec2.NatTrafficDirection.OUTBOUND_ONLY,
                # The public subnets assign no public IPs by default: a NAT instance without
                # one would route the app subnets' egress nowhere.
                associate_public_ip_address=True,
            )
        return ec2.NatProvider.gateway()

    def _harden_nat_instances(self, provider: ec2.NatInstanceProviderV2) -> None:
        """Admit traffic from inside the VPC only; encrypted root volume; IMDSv2."""
        provider.connections.allow_from(
            ec2.Peer.ipv4(self.cidr), ec2.Port.all_traffic(), "Egress of the VPC's subnets"
        )
        for gateway in provider.gateway_instances:
            cfn_instance = gateway.instance
            cfn_instance.metadata_options = ec2.CfnInstance.MetadataOptionsProperty(
                http_tokens="required"
            )
            cfn_instance.block_device_mappings = [
                ec2.CfnInstance.BlockDeviceMappingProperty(
                    device_name=NAT_INSTANCE_ROOT_DEVICE,
                    ebs=ec2.CfnInstance.EbsProperty(encrypted=True, volume_type="gp3"),
                )
            ]
            acknowledge_all(
                gateway,
                (
                    (
                        "AwsSolutions-EC28",
                        "The NAT instance is the cheapest egress, for dev: its basic 5-minute "
                        "metrics suffice there, and detailed ones would cost 2.10 USD a month, a "
                        "tenth of what it saves over a NAT gateway.",
                    ),
                    (
                        "AwsSolutions-EC29",
                        "The NAT instance holds no state and CloudFormation replaces it; "
                        "termination protection would only block deleting the (dev) stack.",
                    ),
                ),
            )


def _endpoint_construct_id(endpoint: InterfaceEndpoint) -> str:
    """``ecr.dkr`` -> ``EcrDkrEndpoint``: stable construct ids derived from the service name."""
    words = endpoint.value.replace(".", "-").split("-")
    return "".join(word.capitalize() for word in words) + "Endpoint"


_SUBNET_SELECTION_FIELDS = (
    "availability_zones",
    "one_per_az",
    "subnet_filters",
    "subnet_group_name",
    "subnets",
    "subnet_type",
)


def subnet_ids(vpc: ec2.IVpc, selection: ec2.SubnetSelection) -> list[str]:
    """The ids of the subnets ``selection`` picks, for L1 resources that take ids (App Runner's
    VPC connector). In Python, ``select_subnets`` takes the selection's fields as keywords."""
    fields = {name: getattr(selection, name) for name in _SUBNET_SELECTION_FIELDS}
    return vpc.select_subnets(**fields).subnet_ids


def selected_subnets(vpc: ec2.IVpc, selection: ec2.SubnetSelection) -> list[ec2.ISubnet]:
    """The subnets ``selection`` picks (their ids and CIDR blocks)."""
    fields = {name: getattr(selection, name) for name in _SUBNET_SELECTION_FIELDS}
    return list(vpc.select_subnets(**fields).subnets)
