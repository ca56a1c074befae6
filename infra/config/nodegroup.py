"""One EKS managed node group: its role, capacity, instance types and AMI, checked against each other."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from infra import gpu
from infra.config.base import Frozen, invalid

STANDARD_AMI_TYPES = ("AL2023_x86_64_STANDARD", "AL2023_ARM_64_STANDARD", "BOTTLEROCKET_x86_64", "BOTTLEROCKET_ARM_64")

_INSTANCE_TYPE = re.compile(r"^(?P<family>[a-z][a-z0-9-]*)\.(?P<size>[a-z0-9]+)$")
_DNS_LABEL = re.compile(r"^[a-z]([-a-z0-9]{0,30}[a-z0-9])?$")


def instance_family(instance_type: str) -> str:
    """``g5.xlarge`` -> ``g5``."""
    return instance_type.split(".", 1)[0]


def instance_size(instance_type: str) -> str:
    """``g5.xlarge`` -> ``xlarge``."""
    return instance_type.split(".", 1)[1]


class NodeGroupSettings(Frozen):
    """One EKS managed node group."""

    name: str
    role: Literal["system", "cpu", "gpu"]
    capacity_type: Literal["ON_DEMAND", "SPOT"]
    instance_types: tuple[str, ...]
    ami_type: Literal[(*STANDARD_AMI_TYPES, *gpu.AMI_TYPES)]  # noqa: F821 - ruff does not read the starred Literal
    min_size: int = Field(ge=0)
    max_size: int = Field(ge=1)
    desired_size: int = Field(ge=0)
    disk_size_gi_b: int = Field(default=100, ge=20, le=16384, alias="diskSizeGiB")
    enabled: bool = True
    labels: dict[str, str] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _name_is_dns_label(cls, value: str) -> str:
        if not _DNS_LABEL.match(value):
            raise ValueError("must be a lowercase DNS label of at most 32 characters (letters, digits, '-')")
        return value

    @field_validator("instance_types")
    @classmethod
    def _instance_types_well_formed(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("must list at least one EC2 instance type, for example m7i.large")
        for instance_type in value:
            if not _INSTANCE_TYPE.match(instance_type):
                raise ValueError(f"'{instance_type}' is not an EC2 instance type (family.size, for example m7i.large)")
        if len(set(value)) != len(value):
            raise ValueError("lists an instance type twice")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> NodeGroupSettings:
        if self.min_size > self.max_size:
            raise invalid("minSize", f"minSize {self.min_size} is greater than maxSize {self.max_size}; set minSize <= maxSize")
        if not self.min_size <= self.desired_size <= self.max_size:
            raise invalid(
                "desiredSize",
                f"desiredSize {self.desired_size} is outside [minSize, maxSize] = [{self.min_size}, {self.max_size}]",
            )
        gpu_types = [t for t in self.instance_types if instance_family(t) in gpu.FAMILIES]
        if self.role == "gpu":
            cpu_only = [t for t in self.instance_types if t not in gpu_types]
            if cpu_only:
                raise invalid(
                    "instanceTypes",
                    f"{cpu_only} have no NVIDIA GPU; a gpu group takes only GPU families "
                    f"({', '.join(sorted(gpu.FAMILIES))})",
                )
            if self.ami_type not in gpu.AMI_TYPES:
                raise invalid("amiType", f"'{self.ami_type}' has no NVIDIA driver; a gpu group needs one of {list(gpu.AMI_TYPES)}")
            counts = {t: gpu.per_instance(t) for t in self.instance_types}
            if len(set(counts.values())) > 1:
                raise invalid(
                    "instanceTypes",
                    f"GPUs per instance differ ({counts}); the autoscaler's node template for scaling from zero has one "
                    "count, so a gpu group's instance types must have the same number of GPUs",
                )
        else:
            if gpu_types:
                raise invalid("instanceTypes", f"{gpu_types} are GPU instances in a {self.role} group; move them to a gpu group")
            if self.ami_type in gpu.AMI_TYPES:
                raise invalid("amiType", f"'{self.ami_type}' is a GPU AMI in a {self.role} group; use one of {list(STANDARD_AMI_TYPES)}")
        if self.capacity_type == "SPOT":
            if len(self.instance_types) < 3:
                raise invalid(
                    "instanceTypes",
                    f"a SPOT group needs at least 3 instance types to survive capacity reclaims, got {len(self.instance_types)}",
                )
            sizes = {instance_size(t) for t in self.instance_types}
            if len(sizes) > 1:
                raise invalid(
                    "instanceTypes",
                    f"a SPOT group's instance types must be of one size so the autoscaler can plan, got sizes {sorted(sizes)}",
                )
        if self.role == "system" and self.capacity_type != "ON_DEMAND":
            raise invalid("capacityType", "the system group runs cluster-critical add-ons and must be ON_DEMAND")
        if self.role == "gpu" and self.min_size != 0:
            raise invalid("minSize", f"minSize {self.min_size}: gpu groups must be able to scale to zero (minSize 0)")
        return self

    @property
    def is_gpu(self) -> bool:
        return self.role == "gpu"

    @property
    def is_spot(self) -> bool:
        return self.capacity_type == "SPOT"

    @property
    def gpus_per_node(self) -> int:
        """GPUs of every node of the group (0 for CPU groups; one count, validated above)."""
        return gpu.per_instance(self.instance_types[0]) if self.is_gpu else 0
