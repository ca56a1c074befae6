"""The VPC: its CIDRs and NAT gateways, or an existing VPC's subnets."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import field_validator

from infra.config.base import Cidrs, Frozen, ipv4_network


class NetworkSettings(Frozen):
    """The VPC: its CIDRs and NAT gateways, or an existing VPC's subnets."""

    vpc_cidr: str
    public_subnet_cidrs: Cidrs
    private_subnet_cidrs: Cidrs
    nat_gateways: Literal["single", "perAz"]
    existing_vpc_id: str = ""
    existing_private_subnet_ids: tuple[str, ...] = ()
    existing_public_subnet_ids: tuple[str, ...] = ()

    @field_validator("vpc_cidr")
    @classmethod
    def _vpc_cidr(cls, value: str) -> str:
        network = ipv4_network(value)
        if not 16 <= network.prefixlen <= 24:
            raise ValueError("the VPC block must be between /16 and /24")
        return value

    @field_validator("existing_vpc_id")
    @classmethod
    def _vpc_id(cls, value: str) -> str:
        if value and not re.match(r"^vpc-[0-9a-f]{8,17}$", value):
            raise ValueError("not a VPC id; expected vpc- followed by 8 or 17 hex digits, or empty to create a VPC")
        return value

    @field_validator("existing_private_subnet_ids", "existing_public_subnet_ids")
    @classmethod
    def _subnet_ids(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for subnet in value:
            if not re.match(r"^subnet-[0-9a-f]{8,17}$", subnet):
                raise ValueError(f"'{subnet}' is not a subnet id (subnet- followed by 8 or 17 hex digits)")
        return value
