"""The VPC: public and private subnets across 2-3 zones, NAT, EKS subnet tags.

With ``existingVpcId`` set, nothing is created and the given subnets are used.
"""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from infra.config import NetworkSettings

# Every AWS API the cluster's pods and nodes call, and who calls it: each gets an interface endpoint
# with private DNS in the program's VPC, so none of them is reached through the NAT gateway.
INTERFACE_ENDPOINTS = {
    "s3": "MLflow, KFP, the pipeline steps, the serving storage initializer; ECR's image layers",
    "sts": "every IRSA role (AssumeRoleWithWebIdentity)",
    "ec2": "the VPC CNI, the cluster autoscaler, the load balancer controller",
    "ecr.api": "the kubelet: pulling the step image and EKS add-on images",
    "ecr.dkr": "the kubelet: pulling the step image and EKS add-on images",
    "autoscaling": "the cluster autoscaler",
    "eks": "the cluster autoscaler (node group templates)",
    "elasticloadbalancing": "the load balancer controller",
    "secretsmanager": "the External Secrets Operator (the platform's credentials)",
}


class Network(pulumi.ComponentResource):
    """VPC, subnets, internet and NAT gateways, route tables."""

    vpc_id: pulumi.Output[str]
    private_subnet_ids: list[pulumi.Output[str]]
    public_subnet_ids: list[pulumi.Output[str]]
    # The interface endpoints' security group (HTTPS from the VPC); None in an existing VPC (no endpoints made).
    endpoints_security_group_id: pulumi.Output[str] | None = None

    def __init__(self, name: str, network: NetworkSettings, zones: tuple[str, ...], cluster_name: str, region: str,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        """``cluster_name``: the EKS cluster the subnets are tagged for."""
        super().__init__("mlplatform:aws:Network", name, None, opts)
        if network.existing_vpc_id:
            self.vpc_id = pulumi.Output.from_input(network.existing_vpc_id)
            self.private_subnet_ids = [pulumi.Output.from_input(s) for s in network.existing_private_subnet_ids]
            self.public_subnet_ids = [pulumi.Output.from_input(s) for s in network.existing_public_subnet_ids]
            self.register_outputs({"vpc_id": self.vpc_id})
            return

        child = pulumi.ResourceOptions(parent=self)
        cluster_tag = {f"kubernetes.io/cluster/{cluster_name}": "shared"}
        vpc = aws.ec2.Vpc(
            name,
            cidr_block=network.vpc_cidr,
            enable_dns_hostnames=True,
            enable_dns_support=True,
            tags={"Name": name},
            opts=child,
        )
        igw = aws.ec2.InternetGateway(name, vpc_id=vpc.id, tags={"Name": name}, opts=child)
        public_routes = aws.ec2.RouteTable(
            f"{name}-public",
            vpc_id=vpc.id,
            routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", gateway_id=igw.id)],
            tags={"Name": f"{name}-public"},
            opts=child,
        )

        public_subnets: list[aws.ec2.Subnet] = []
        private_subnets: list[aws.ec2.Subnet] = []
        for zone, public_cidr, private_cidr in zip(
            zones, network.public_subnet_cidrs, network.private_subnet_cidrs, strict=True
        ):
            public = aws.ec2.Subnet(
                f"{name}-public-{zone}",
                vpc_id=vpc.id,
                cidr_block=public_cidr,
                availability_zone=zone,
                map_public_ip_on_launch=False,
                tags={"Name": f"{name}-public-{zone}", "kubernetes.io/role/elb": "1", **cluster_tag},
                opts=child,
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-public-{zone}", subnet_id=public.id, route_table_id=public_routes.id, opts=child
            )
            public_subnets.append(public)
            private = aws.ec2.Subnet(
                f"{name}-private-{zone}",
                vpc_id=vpc.id,
                cidr_block=private_cidr,
                availability_zone=zone,
                tags={"Name": f"{name}-private-{zone}", "kubernetes.io/role/internal-elb": "1", **cluster_tag},
                opts=child,
            )
            private_subnets.append(private)

        # One NAT gateway (dev, staging) or one per zone so a zone outage does
        # not cut the other zones' egress (prod).
        nat_zones = zones if network.nat_gateways == "perAz" else zones[:1]
        nat_ids: dict[str, pulumi.Output[str]] = {}
        for zone, public in zip(nat_zones, public_subnets, strict=False):
            eip = aws.ec2.Eip(f"{name}-nat-{zone}", domain="vpc", tags={"Name": f"{name}-nat-{zone}"}, opts=child)
            nat = aws.ec2.NatGateway(
                f"{name}-nat-{zone}",
                allocation_id=eip.id,
                subnet_id=public.id,
                tags={"Name": f"{name}-nat-{zone}"},
                opts=pulumi.ResourceOptions(parent=self, depends_on=[igw]),
            )
            nat_ids[zone] = nat.id

        for zone, private in zip(zones, private_subnets, strict=True):
            nat_id = nat_ids.get(zone, nat_ids[nat_zones[0]])
            routes = aws.ec2.RouteTable(
                f"{name}-private-{zone}",
                vpc_id=vpc.id,
                routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", nat_gateway_id=nat_id)],
                tags={"Name": f"{name}-private-{zone}"},
                opts=child,
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-private-{zone}", subnet_id=private.id, route_table_id=routes.id, opts=child
            )

        # The AWS APIs the cluster calls (INTERFACE_ENDPOINTS), inside the VPC. Private DNS makes the usual
        # names resolve to the endpoints, so no pod or node needs the internet for them (flows.py narrows the
        # platform's flows to the VPC accordingly).
        endpoints_sg = aws.ec2.SecurityGroup(
            f"{name}-endpoints",
            vpc_id=vpc.id,
            description=f"{name}: HTTPS to the VPC's AWS API endpoints from inside the VPC",
            ingress=[aws.ec2.SecurityGroupIngressArgs(protocol="tcp", from_port=443, to_port=443, cidr_blocks=[network.vpc_cidr])],
            opts=child,
        )
        for service in INTERFACE_ENDPOINTS:
            aws.ec2.VpcEndpoint(
                f"{name}-{service}",
                vpc_id=vpc.id,
                service_name=f"com.amazonaws.{region}.{service}",
                vpc_endpoint_type="Interface",
                private_dns_enabled=True,
                # S3's private DNS for the whole VPC (there is no gateway endpoint to prefer).
                dns_options=aws.ec2.VpcEndpointDnsOptionsArgs(private_dns_only_for_inbound_resolver_endpoint=False)
                if service == "s3" else None,
                subnet_ids=[s.id for s in private_subnets],
                security_group_ids=[endpoints_sg.id],
                tags={"Name": f"{name}-{service}"},
                opts=child,
            )

        self.vpc_id = vpc.id
        self.endpoints_security_group_id = endpoints_sg.id
        self.private_subnet_ids = [s.id for s in private_subnets]
        self.public_subnet_ids = [s.id for s in public_subnets]
        self.register_outputs(
            {"vpc_id": self.vpc_id, "private_subnet_ids": self.private_subnet_ids, "public_subnet_ids": self.public_subnet_ids}
        )
