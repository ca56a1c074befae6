"""Typed, validated stack settings: the one place the program reads configuration.

Pulumi hands the program a flat map of ``mlplatform:<key>`` strings (the project
defaults from ``Pulumi.yaml`` merged with ``stacks/Pulumi.<stack>.yaml``). This
module turns that map into frozen :class:`Settings` and refuses anything invalid
before a single resource is declared, with one line that names the key, the bad
value and what is allowed.
"""

from __future__ import annotations

import difflib
import ipaddress
import json
import re
from collections.abc import Iterable, Mapping
from typing import Annotated, Any, Literal

from pulumi_aws import Region
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic.alias_generators import to_camel, to_snake
from pydantic_core import PydanticCustomError

from infra import gpu, paths
from pipelines import image

PROJECT = "mlplatform"
# Config namespaces a stack file may use: the project's own and the providers' the program creates.
# Any other namespace is a typo (mlplatfrom:servingMaxReplicas) that Pulumi would silently ignore.
CONFIG_NAMESPACES = frozenset({PROJECT, "aws", "kubernetes", "random", "pulumi"})

# EKS standard support as of 2026-11 (1.33 left standard support in July 2026).
# 1.36 is not admitted until its EKS standard-support date has been checked.
SUPPORTED_KUBERNETES_VERSIONS = ("1.34", "1.35")
# RFC 1918's private ranges: where EKS service CIDRs may lie, and what "outside the cluster's networks" excludes.
PRIVATE_RANGES = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")

# The regions pulumi-aws knows (its Region enum), not a hand-kept list.
AWS_REGIONS = frozenset(region.value for region in Region)

STANDARD_AMI_TYPES = ("AL2023_x86_64_STANDARD", "AL2023_ARM_64_STANDARD", "BOTTLEROCKET_x86_64", "BOTTLEROCKET_ARM_64")

# Allowed CloudWatch Logs retention values, in days.
LOG_RETENTION_DAYS = frozenset(
    {1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653}
)

# The model URIs KServe's storage initializer reads: the serving chart's values schema owns the pattern.
MODEL_URI = re.compile(
    json.loads((paths.SERVING_CHART / "values.schema.json").read_text())["properties"]["model"]["properties"]["storageUri"]["pattern"]
)

# GitHub-hosted runners come from anywhere on the internet: they reach only an API endpoint open to it.
HOSTED_RUNNER = ("ubuntu-24.04",)

_INSTANCE_TYPE = re.compile(r"^(?P<family>[a-z][a-z0-9-]*)\.(?P<size>[a-z0-9]+)$")
_DNS_LABEL = re.compile(r"^[a-z]([-a-z0-9]{0,30}[a-z0-9])?$")


class ConfigError(ValueError):
    """Invalid stack configuration; the message is one line meant for a person."""


def _invalid(field: str, message: str) -> PydanticCustomError:
    """An error about ``field`` of the model being validated (the field is appended to the key path)."""
    return PydanticCustomError("invalid_config", message.replace("{", "(").replace("}", ")"), {"field": field})


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", alias_generator=to_camel, populate_by_name=True)


def instance_family(instance_type: str) -> str:
    """``g5.xlarge`` -> ``g5``."""
    return instance_type.split(".", 1)[0]


def instance_size(instance_type: str) -> str:
    """``g5.xlarge`` -> ``xlarge``."""
    return instance_type.split(".", 1)[1]


class NodeGroupSettings(_Frozen):
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
            raise _invalid("minSize", f"minSize {self.min_size} is greater than maxSize {self.max_size}; set minSize <= maxSize")
        if not self.min_size <= self.desired_size <= self.max_size:
            raise _invalid(
                "desiredSize",
                f"desiredSize {self.desired_size} is outside [minSize, maxSize] = [{self.min_size}, {self.max_size}]",
            )
        gpu_types = [t for t in self.instance_types if instance_family(t) in gpu.FAMILIES]
        if self.role == "gpu":
            cpu_only = [t for t in self.instance_types if t not in gpu_types]
            if cpu_only:
                raise _invalid(
                    "instanceTypes",
                    f"{cpu_only} have no NVIDIA GPU; a gpu group takes only GPU families "
                    f"({', '.join(sorted(gpu.FAMILIES))})",
                )
            if self.ami_type not in gpu.AMI_TYPES:
                raise _invalid("amiType", f"'{self.ami_type}' has no NVIDIA driver; a gpu group needs one of {list(gpu.AMI_TYPES)}")
            counts = {t: gpu.per_instance(t) for t in self.instance_types}
            if len(set(counts.values())) > 1:
                raise _invalid(
                    "instanceTypes",
                    f"GPUs per instance differ ({counts}); the autoscaler's node template for scaling from zero has one "
                    "count, so a gpu group's instance types must have the same number of GPUs",
                )
        else:
            if gpu_types:
                raise _invalid("instanceTypes", f"{gpu_types} are GPU instances in a {self.role} group; move them to a gpu group")
            if self.ami_type in gpu.AMI_TYPES:
                raise _invalid("amiType", f"'{self.ami_type}' is a GPU AMI in a {self.role} group; use one of {list(STANDARD_AMI_TYPES)}")
        if self.capacity_type == "SPOT":
            if len(self.instance_types) < 3:
                raise _invalid(
                    "instanceTypes",
                    f"a SPOT group needs at least 3 instance types to survive capacity reclaims, got {len(self.instance_types)}",
                )
            sizes = {instance_size(t) for t in self.instance_types}
            if len(sizes) > 1:
                raise _invalid(
                    "instanceTypes",
                    f"a SPOT group's instance types must be of one size so the autoscaler can plan, got sizes {sorted(sizes)}",
                )
        if self.role == "system" and self.capacity_type != "ON_DEMAND":
            raise _invalid("capacityType", "the system group runs cluster-critical add-ons and must be ON_DEMAND")
        if self.role == "gpu" and self.min_size != 0:
            raise _invalid("minSize", f"minSize {self.min_size}: gpu groups must be able to scale to zero (minSize 0)")
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


def _cidr_list(value: tuple[str, ...]) -> tuple[str, ...]:
    for cidr in value:
        _network(cidr)
    return value


def _dns_label(value: str) -> str:
    if not re.match(r"^[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?$", value):
        raise ValueError("must be a lowercase DNS label of at most 40 characters")
    return value


# IPv4 CIDR blocks, each checked; a lowercase DNS label (names of namespaces and releases).
Cidrs = Annotated[tuple[str, ...], AfterValidator(_cidr_list)]
DnsLabel = Annotated[str, AfterValidator(_dns_label)]


class NetworkSettings(_Frozen):
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
        network = _network(value)
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


class ClusterSettings(_Frozen):
    """The EKS cluster: version, API endpoint, admins, logs, which node groups run, and who deploys to it."""

    kubernetes_version: str
    endpoint_public_access: bool
    public_access_cidrs: Cidrs
    cluster_admin_arns: tuple[str, ...]
    log_retention_days: int
    kubeconfig_context: str = ""
    enable_gpu_nodes: bool
    enable_spot_nodes: bool
    ci_runner_labels: tuple[str, ...]
    service_cidr: str = "172.20.0.0/16"
    ci_deploy_role_arn: str = ""
    ci_preview_role_arn: str = ""
    ci_runner_security_group_id: str = ""

    @field_validator("service_cidr")
    @classmethod
    def _service_cidr(cls, value: str) -> str:
        network = _network(value)
        if not 12 <= network.prefixlen <= 24 or not any(network.subnet_of(_network(r)) for r in PRIVATE_RANGES):
            raise ValueError("EKS takes a /12 to /24 block inside 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16")
        return value

    @property
    def kubernetes_service_address(self) -> str:
        """The ``kubernetes`` Service's ClusterIP: the service CIDR's first address, where pods reach the API server."""
        return str(next(_network(self.service_cidr).hosts()))

    @field_validator("kubernetes_version")
    @classmethod
    def _supported_version(cls, value: str) -> str:
        if value not in SUPPORTED_KUBERNETES_VERSIONS:
            raise ValueError(f"not in EKS standard support; use one of {', '.join(SUPPORTED_KUBERNETES_VERSIONS)}")
        return value

    @field_validator("log_retention_days")
    @classmethod
    def _retention_allowed(cls, value: int) -> int:
        if value not in LOG_RETENTION_DAYS:
            raise ValueError(f"not a CloudWatch Logs retention; use one of {sorted(LOG_RETENTION_DAYS)}")
        return value

    @field_validator("cluster_admin_arns")
    @classmethod
    def _admin_arns(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for arn in value:
            if not re.match(r"^arn:aws[a-z-]*:iam::\d{12}:(role|user)/.+$", arn):
                raise ValueError(f"'{arn}' is not an IAM role or user ARN (arn:aws:iam::123456789012:role/name)")
        return value

    @field_validator("ci_runner_security_group_id")
    @classmethod
    def _runner_group(cls, value: str) -> str:
        if value and not re.match(r"^sg-[0-9a-f]{8,17}$", value):
            raise ValueError("not a security group id (sg- followed by 8 or 17 hex digits), or empty")
        return value

    @field_validator("ci_deploy_role_arn", "ci_preview_role_arn")
    @classmethod
    def _ci_role(cls, value: str) -> str:
        if value and not re.match(r"^arn:aws[a-z-]*:iam::\d{12}:role/.+$", value):
            raise ValueError(f"'{value}' is not an IAM role ARN (arn:aws:iam::123456789012:role/name), or empty")
        return value

    @property
    def admin_principals(self) -> tuple[str, ...]:
        """Who gets cluster-admin: the people of clusterAdminArns and the deploy workflow's role."""
        return tuple(dict.fromkeys((*self.cluster_admin_arns, *((self.ci_deploy_role_arn,) if self.ci_deploy_role_arn else ()))))

    @field_validator("ci_runner_labels")
    @classmethod
    def _runner_labels(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for label in value:
            if not re.match(r"^[\w.-]+$", label):
                raise ValueError(f"'{label}' is not a runner label (letters, digits, '.', '_', '-')")
        return value

    @property
    def endpoint_open_to_internet(self) -> bool:
        """Whether the public API endpoint admits every address (CIDR coverage: 0.0.0.0/1 + 128.0.0.0/1 counts)."""
        return self.endpoint_public_access and covers_internet(self.public_access_cidrs)


class DatabaseSettings(_Frozen):
    """MLflow's Postgres: RDS (instance class, backups, Multi-AZ) or in the cluster."""

    kind: Literal["rds", "in-cluster"]
    instance_class: str
    backup_retention_days: int = Field(ge=1, le=35)
    multi_az: bool

    @field_validator("instance_class")
    @classmethod
    def _instance_class(cls, value: str) -> str:
        if not re.match(r"^db\.[a-z0-9]+\.[a-z0-9]+$", value):
            raise ValueError("not an RDS instance class (db.<family>.<size>, for example db.t4g.medium)")
        return value


class PipelineSettings(_Frozen):
    """The training and drift pipelines: schedules, the step image, the data and the gate's floors."""

    schedule: str
    step_image_digest: str
    drift_schedule: str
    data_uri: str
    auc_floor: float = Field(ge=0.5, le=1.0)
    min_improvement: float = Field(ge=0.0, le=0.5)

    @field_validator("step_image_digest")
    @classmethod
    def _digest(cls, value: str) -> str:
        if value and not image.DIGEST.match(value):
            raise ValueError("not an image digest: sha256:<64 hex digits>, as `docker buildx build --push` prints it")
        return value

    @field_validator("schedule", "drift_schedule")
    @classmethod
    def _cron(cls, value: str) -> str:
        if value and len(value.split()) != 5:
            raise ValueError("a cron schedule has 5 fields (minute hour day month weekday), or leave it empty")
        return value

    @field_validator("data_uri")
    @classmethod
    def _data_uri(cls, value: str) -> str:
        if value and not re.match(r"^(s3|file)://.+", value):
            raise ValueError("training data is read from s3:// (or file:// in tests); leave empty for the data bucket")
        return value


class ServingSettings(_Frozen):
    """The served model: its release, model, scaling, owner, canary, GPU and load balancer."""

    model_name: DnsLabel
    storage_uri: str
    deployment_mode: Literal["Standard", "Knative"]
    min_replicas: int = Field(ge=0)
    max_replicas: int = Field(ge=1, le=100)
    owner: Literal["stack", "helm"]
    predictor_name: str
    canary_name: str
    canary_storage_uri: str
    canary_percent: int = Field(ge=0, le=100)
    gpu: bool
    ingress: Literal["none", "internal", "internet-facing"]
    domain: str
    certificate_arn: str

    @field_validator("predictor_name", "canary_name")
    @classmethod
    def _predictor_name(cls, value: str) -> str:
        if value and not re.match(r"^[a-z]([-a-z0-9]{0,18}[a-z0-9])?$", value):
            raise ValueError("a predictor name is a short lowercase label such as v2 (letters, digits, '-'; at most 20)")
        return value

    @field_validator("domain")
    @classmethod
    def _domain(cls, value: str) -> str:
        if value and not re.match(r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?\.)+[a-z]{2,}$", value):
            raise ValueError("not a DNS domain (for example models.staging.example.com)")
        return value

    @field_validator("certificate_arn")
    @classmethod
    def _certificate(cls, value: str) -> str:
        if value and not re.match(r"^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate/[0-9a-f-]+$", value):
            raise ValueError("not an ACM certificate ARN (arn:aws:acm:<region>:<account>:certificate/<id>)")
        return value

    @field_validator("storage_uri", "canary_storage_uri")
    @classmethod
    def _model_uri(cls, value: str) -> str:
        if not MODEL_URI.match(value):
            raise ValueError("a model URI is s3://, gs://, pvc:// or https://")
        return value


class GitOpsSettings(_Frozen):
    """The GitOps option: Argo CD syncs the serving chart from a repository."""

    mode: Literal["", "argocd"]
    repo_url: str
    revision: str

    @field_validator("repo_url")
    @classmethod
    def _repo_url(cls, value: str) -> str:
        if value and not re.match(r"^(https://[^\s/]+/\S+|git@[^\s:]+:\S+|ssh://\S+)$", value):
            raise ValueError("not a git repository URL (https://github.com/org/repo.git or git@github.com:org/repo.git)")
        return value

    @field_validator("revision")
    @classmethod
    def _revision(cls, value: str) -> str:
        if not re.match(r"^[\w./-]+$", value) or value.startswith("-"):
            raise ValueError("not a git branch, tag or commit (for example main, v1.2.0 or a commit SHA)")
        return value


# The stack files' keys stay flat (mlplatform:servingMinReplicas); each group takes its own keys,
# renamed: group -> {flat key: field}. Keys of no group are Settings' own fields.
GROUPS: dict[str, dict[str, str]] = {
    "network": {key: to_snake(key) for key in ("vpcCidr", "publicSubnetCidrs", "privateSubnetCidrs", "natGateways",
                                                "existingVpcId", "existingPrivateSubnetIds", "existingPublicSubnetIds")},
    "cluster": {key: to_snake(key) for key in ("kubernetesVersion", "endpointPublicAccess", "publicAccessCidrs", "clusterAdminArns",
                                                "logRetentionDays", "kubeconfigContext", "enableGpuNodes", "enableSpotNodes",
                                                "ciRunnerLabels", "serviceCidr", "ciDeployRoleArn", "ciPreviewRoleArn",
                                                "ciRunnerSecurityGroupId")},
    "database": {"database": "kind", "rdsInstanceClass": "instance_class", "rdsBackupRetentionDays": "backup_retention_days",
                 "rdsMultiAz": "multi_az"},
    "pipelines": {"pipelineSchedule": "schedule", "pipelineStepImageDigest": "step_image_digest", "driftSchedule": "drift_schedule",
                  "pipelineDataUri": "data_uri", "pipelineAucFloor": "auc_floor", "pipelineMinImprovement": "min_improvement"},
    "serving": {key: to_snake(key.removeprefix("serving")) for key in (
        "servingModelName", "servingStorageUri", "servingDeploymentMode", "servingMinReplicas", "servingMaxReplicas", "servingOwner",
        "servingPredictorName", "servingCanaryName", "servingCanaryStorageUri", "servingCanaryPercent", "servingGpu",
        "servingIngress", "servingDomain", "servingCertificateArn")},
    "gitops": {"gitops": "mode", "gitopsRepoUrl": "repo_url", "gitopsRevision": "revision"},
}
# (group, field name or alias) -> the flat key a person wrote, for error messages.
FLAT_KEYS = {(group, name): key for group, keys in GROUPS.items() for key, field in keys.items() for name in (field, to_camel(field))}


class Settings(_Frozen):
    """Everything the program needs to know about one stack: its own facts, and one sub-model per concern."""

    environment: Literal["dev", "staging", "prod", "local"]
    cloud: Literal["aws", "none"]
    aws_region: str
    availability_zones: tuple[str, ...]
    protect: bool
    force_destroy_buckets: bool
    noncurrent_version_days: int = Field(ge=1, le=3650)
    object_store: Literal["s3", "minio"]
    monitoring: bool
    mlflow_basic_auth: bool
    kserve_deployment_mode: Literal["Standard", "Knative"]
    gateway_namespace: DnsLabel
    network: NetworkSettings
    cluster: ClusterSettings
    node_groups: tuple[NodeGroupSettings, ...]
    database: DatabaseSettings
    pipelines: PipelineSettings
    serving: ServingSettings
    gitops: GitOpsSettings
    tags: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _group(cls, raw: Any) -> Any:
        """Gather the flat stack-file keys into their groups."""
        if not isinstance(raw, Mapping) or isinstance(raw.get("network"), (Mapping, BaseModel)):
            return raw  # already grouped (model_copy, a test's own groups)
        flat = dict(raw)
        grouped: dict[str, Any] = {group: {} for group in GROUPS}
        for group, keys in GROUPS.items():
            for key, field in keys.items():
                if key in flat:
                    grouped[group][field] = flat.pop(key)
        return {**flat, **grouped}

    @field_validator("aws_region")
    @classmethod
    def _known_region(cls, value: str) -> str:
        if value not in AWS_REGIONS:
            raise ValueError(f"unknown AWS region; use one of {', '.join(sorted(AWS_REGIONS))}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        self._check_serving()
        self._check_gateway()
        if self.cloud == "none":
            if self.environment != "local":
                raise _invalid("cloud", f"cloud none (no AWS) is only for the local environment, not {self.environment}")
            if self.object_store != "minio":
                raise _invalid("objectStore", "without AWS there is no S3; set objectStore: minio")
            if self.database.kind != "in-cluster":
                raise _invalid("database", "without AWS there is no RDS; set database: in-cluster")
            if self.serving.ingress != "none":
                raise _invalid("servingIngress", "models get an AWS load balancer only on AWS; set servingIngress: none")
            return self
        if self.environment == "local":
            raise _invalid("cloud", "the local environment has no AWS; set cloud: none")
        self._check_zones()
        self._check_network()
        self._check_endpoint()
        self._check_runner()
        self._check_node_groups()
        if self.environment == "prod" and not self.protect:
            raise _invalid("protect", "prod must protect its stateful resources; set protect: true")
        if self.environment == "prod":
            if self.database.kind == "rds" and not self.database.multi_az:
                raise _invalid("rdsMultiAz", "the prod MLflow database must be Multi-AZ; set rdsMultiAz: true")
            if self.database.kind == "rds" and self.database.backup_retention_days < 7:
                raise _invalid("rdsBackupRetentionDays", f"{self.database.backup_retention_days}: prod keeps at least 7 days of backups")
            if self.database.kind != "rds":
                raise _invalid("database", "prod keeps MLflow's registry on RDS (backups, Multi-AZ), not in-cluster")
            if not self.mlflow_basic_auth:
                raise _invalid("mlflowBasicAuth", "prod's MLflow holds the models production serves; it must require credentials: set it true")
        if self.protect and self.force_destroy_buckets:
            raise _invalid("forceDestroyBuckets", "cannot force-destroy buckets of a protected stack; set it to false")
        return self

    def _check_gateway(self) -> None:
        # The models' NetworkPolicy admits every pod of the gateway's namespace (those with the gateway's labels).
        from infra import namespaces  # noqa: PLC0415 - namespaces reads Settings; the table is its

        taken = {*namespaces.SYSTEM, *(spec.name for spec in namespaces.ALL)}
        if self.gateway_namespace in taken:
            raise _invalid("gatewayNamespace", f"{self.gateway_namespace!r} is a system or platform namespace: the models would admit "
                                               "its pods; name the ingress gateway's own namespace (istio-system by default)")

    def _check_serving(self) -> None:
        # Knative Serving and a networking layer for it are not installed by the platform (no pinned source of them
        # in ../shared/upstream to render and check): a Knative model would never become ready. The serving chart keeps
        # its Knative mode for clusters that bring their own.
        for key, mode in (("kserveDeploymentMode", self.kserve_deployment_mode), ("servingDeploymentMode", self.serving.deployment_mode)):
            if mode == "Knative":
                raise _invalid(key, "the platform installs no Knative Serving, so no model would become ready in that mode; "
                                    "use Standard (scale to zero needs Knative: not offered yet)")
        if self.serving.min_replicas > self.serving.max_replicas:
            raise _invalid("servingMinReplicas", f"{self.serving.min_replicas} is greater than servingMaxReplicas {self.serving.max_replicas}")
        if self.serving.min_replicas == 0:
            raise _invalid("servingMinReplicas", "0 (scale to zero) needs Knative, which the platform does not install; keep at least 1")
        if self.serving.owner == "helm":
            owned = {"servingStorageUri": self.serving.storage_uri, "servingPredictorName": self.serving.predictor_name,
                     "servingCanaryName": self.serving.canary_name}
            for key, value in owned.items():
                if value:
                    raise _invalid(key, "servingOwner is helm: the release and its model are ML engineers' `helm upgrade`; "
                                        "remove this key, or set servingOwner: stack to roll out from the stack file")
        if self.serving.canary_name:
            if self.serving.deployment_mode != "Standard":
                raise _invalid("servingCanaryName", "a canary needs servingDeploymentMode: Standard (KServe v0.20's spec.canary[])")
            if self.serving.canary_name == self.serving.predictor_name:
                raise _invalid("servingCanaryName", f"'{self.serving.canary_name}' is the stable predictor's name; give the canary its own")
            if not self.serving.canary_storage_uri or self.serving.canary_storage_uri == self.serving.storage_uri:
                raise _invalid("servingCanaryStorageUri", "required with servingCanaryName, and not servingStorageUri: the canary's own model")
        elif self.serving.canary_storage_uri:
            raise _invalid("servingCanaryStorageUri", "set servingCanaryName too (for example v2), or remove it")
        if (self.serving.canary_name or self.serving.gpu) and not self.serving.storage_uri and self.serving.owner == "stack":
            raise _invalid("servingStorageUri", "a canary or GPU serving needs a model; set servingStorageUri")
        if self.gitops.mode == "argocd":
            if not self.gitops.repo_url:
                raise _invalid("gitopsRepoUrl", "gitops: argocd syncs the serving chart from git; set the repository URL")
            if self.serving.owner != "stack":
                raise _invalid("gitops", "Argo CD syncs the release with this stack's values, so servingOwner must be stack, not helm")
        elif self.gitops.repo_url:
            raise _invalid("gitopsRepoUrl", "set without gitops: argocd; drop it or set gitops: argocd")
        if self.serving.ingress != "none" and self.is_aws:
            if not self.serving.domain:
                raise _invalid("servingDomain", "required with servingIngress: models are served at <name>-models.<domain>")
            if not self.serving.certificate_arn:
                raise _invalid("servingCertificateArn", "required with servingIngress: the ACM certificate of servingDomain "
                                                        "(the load balancer serves HTTPS only)")
        if self.serving.gpu and self.is_aws and not any(group.is_gpu for group in self.enabled_node_groups):
            raise _invalid("servingGpu", "no enabled GPU node group would run the model; enable one (enableGpuNodes and a gpu group) "
                                         "or set servingGpu: false")

    def _check_zones(self) -> None:
        if not 2 <= len(self.availability_zones) <= 3:
            raise _invalid("availabilityZones", f"{list(self.availability_zones)}: give 2 or 3 availability zones")
        if len(set(self.availability_zones)) != len(self.availability_zones):
            raise _invalid("availabilityZones", f"{list(self.availability_zones)} lists a zone twice")
        for zone in self.availability_zones:
            if not re.match(rf"^{re.escape(self.aws_region)}[a-z]$", zone):
                raise _invalid("availabilityZones", f"'{zone}' is not a zone of {self.aws_region} (for example {self.aws_region}a)")

    def _check_network(self) -> None:
        zones = len(self.availability_zones)
        if self.network.existing_vpc_id:
            for key, ids in (
                ("existingPrivateSubnetIds", self.network.existing_private_subnet_ids),
                ("existingPublicSubnetIds", self.network.existing_public_subnet_ids),
            ):
                if len(ids) != zones:
                    raise _invalid(key, f"{list(ids)}: with existingVpcId give one subnet id per availability zone ({zones})")
            return
        if self.network.existing_private_subnet_ids or self.network.existing_public_subnet_ids:
            raise _invalid("existingVpcId", "subnet ids were given without existingVpcId; set it or drop the subnet ids")
        vpc = _network(self.network.vpc_cidr)
        if vpc.overlaps(_network(self.cluster.service_cidr)):
            raise _invalid("serviceCidr", f"'{self.cluster.service_cidr}' overlaps vpcCidr {self.network.vpc_cidr}; pick a block outside the VPC")
        subnets: list[tuple[str, ipaddress.IPv4Network]] = []
        for key, cidrs in (("publicSubnetCidrs", self.network.public_subnet_cidrs), ("privateSubnetCidrs", self.network.private_subnet_cidrs)):
            if len(cidrs) != zones:
                raise _invalid(key, f"{list(cidrs)}: give one CIDR per availability zone ({zones})")
            for cidr in cidrs:
                net = _network(cidr)
                if not net.subnet_of(vpc):
                    raise _invalid(key, f"'{cidr}' is not inside vpcCidr {self.network.vpc_cidr}")
                for other_key, other in subnets:
                    if net.overlaps(other):
                        raise _invalid(key, f"'{cidr}' overlaps '{other}' of {other_key}; subnets must be disjoint")
                subnets.append((key, net))

    def _check_endpoint(self) -> None:
        if not self.cluster.endpoint_public_access:
            if self.cluster.public_access_cidrs:
                raise _invalid("publicAccessCidrs", "set without endpointPublicAccess: true; drop them or enable the public endpoint")
            return
        if not self.cluster.public_access_cidrs:
            raise _invalid("publicAccessCidrs", "the public endpoint needs the CIDRs allowed to reach it (never implicitly 0.0.0.0/0)")
        if self.environment == "prod" and self.cluster.endpoint_open_to_internet:
            raise _invalid("publicAccessCidrs", f"{list(self.cluster.public_access_cidrs)} cover every address and open the prod API server "
                                                "to the internet; list your VPN or office CIDRs")

    def _check_runner(self) -> None:
        if self.cluster.ci_runner_labels and "self-hosted" not in self.cluster.ci_runner_labels and not self.cluster.endpoint_open_to_internet:
            raise _invalid("ciRunnerLabels", f"{list(self.cluster.ci_runner_labels)} is a GitHub-hosted runner, which cannot reach this "
                                             "cluster's API (private endpoint or publicAccessCidrs); give a self-hosted runner's labels "
                                             "inside the VPC, or leave it empty")

    def _check_node_groups(self) -> None:
        names = [group.name for group in self.node_groups]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise _invalid("nodeGroups", f"node group names must be unique, {duplicates} repeat")
        if self.is_aws and not self.cluster.admin_principals:
            raise _invalid("clusterAdminArns", "no one would reach the cluster's API (EKS access entries only); list your role "
                                               "in clusterAdminArns, or the deploy workflow's in ciDeployRoleArn")
        if not any(group.role == "system" for group in self.enabled_node_groups):
            raise _invalid("nodeGroups", "no enabled system node group; add an ON_DEMAND group with role system")
        if self.is_aws and not any(group.role == "cpu" for group in self.enabled_node_groups):
            # Argo's workflowDefaults send every pipeline step to mlplatform.io/role=cpu (the KFP base overlay).
            key = "enableSpotNodes" if not self.cluster.enable_spot_nodes else "nodeGroups"
            raise _invalid(key, "no enabled node group has role cpu, so every pipeline step would stay Pending; "
                                "keep enableSpotNodes: true or add an ON_DEMAND group with role cpu to nodeGroups")

    @property
    def is_aws(self) -> bool:
        return self.cloud == "aws"

    @property
    def ci_runner(self) -> tuple[str, ...]:
        """The runs-on labels of CI jobs that reach this cluster's API: hosted only where the endpoint is open to all."""
        if not self.is_aws:
            return ()
        if self.cluster.ci_runner_labels:
            return self.cluster.ci_runner_labels
        return HOSTED_RUNNER if self.cluster.endpoint_open_to_internet else ("self-hosted", "linux", f"mlplatform-{self.environment}")

    @property
    def name(self) -> str:
        """Prefix of physical names, for example ``mlp-staging``."""
        return f"mlp-{self.environment}"

    @property
    def enabled_node_groups(self) -> tuple[NodeGroupSettings, ...]:
        return tuple(
            group
            for group in self.node_groups
            if group.enabled and (self.cluster.enable_gpu_nodes or not group.is_gpu) and (self.cluster.enable_spot_nodes or not group.is_spot)
        )

    @property
    def base_tags(self) -> dict[str, str]:
        return {"project": PROJECT, "environment": self.environment, "managed-by": "pulumi", **self.tags}


def _network(cidr: str) -> ipaddress.IPv4Network:
    try:
        return ipaddress.IPv4Network(cidr, strict=True)
    except ValueError as error:
        raise ValueError(f"'{cidr}' is not an IPv4 CIDR block ({error})") from None


def _key_path(location: tuple[Any, ...]) -> str:
    path = ""
    for part in location:
        path += f"[{part}]" if isinstance(part, int) else ("." if path else "") + str(part)
    return path


def _describe(error: Mapping[str, Any], raw: Mapping[str, Any]) -> str:
    location = tuple(error["loc"])
    field = (error.get("ctx") or {}).get("field")
    if field:
        location = (*location, field)
    if len(location) >= 2 and (location[0], location[1]) in FLAT_KEYS:
        # A group's field, named as the stack file spells it (serving.minReplicas -> servingMinReplicas).
        location = (FLAT_KEYS[(location[0], location[1])], *location[2:])
    key = f"{PROJECT}:{_key_path(location)}"
    if error["type"] == "extra_forbidden":
        return f"{key}: unknown key; check the spelling against Pulumi.yaml's config section"
    if error["type"] == "missing":
        return f"{key}: missing; declare it in Pulumi.yaml or set it in the stack file"
    value = json.dumps(_lookup(raw, location), default=str)
    if len(value) > 100:
        value = value[:97] + "..."
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"{key} = {value}: {message}"


def _lookup(raw: Any, location: tuple[Any, ...]) -> Any:
    value = raw
    for part in location:
        if isinstance(value, Mapping):
            value = value.get(part)
        elif isinstance(value, (list, tuple)) and isinstance(part, int) and part < len(value):
            value = value[part]
        else:
            return None
    return value


def parse_settings(raw: Mapping[str, Any]) -> Settings:
    """Validate ``raw`` (camelCase keys, parsed values) into :class:`Settings` or raise :class:`ConfigError`."""
    try:
        return Settings.model_validate(dict(raw))
    except ValidationError as error:
        problems = [_describe(problem, raw) for problem in error.errors()]
        raise ConfigError("invalid stack config: " + "; ".join(problems)) from None


# Every key a stack file may set, as it spells it (Pulumi.yaml declares exactly these).
CONFIG_KEYS = frozenset(
    [field.alias or name for name, field in Settings.model_fields.items() if name not in GROUPS]
    + [key for keys in GROUPS.values() for key in keys]
)


def _is_string(annotation: Any) -> bool:
    return annotation is str or getattr(annotation, "__origin__", None) is Literal


# Keys whose values stay strings (a version "1.35" is not a number), as the stack files spell them.
_STRING_KEYS = frozenset(
    [field.alias or name for name, field in Settings.model_fields.items() if _is_string(field.annotation)]
    + [key for group, keys in GROUPS.items() for key, name in keys.items()
       if _is_string(Settings.model_fields[group].annotation.model_fields[name].annotation)]
)


def is_prod_stack(stack: str) -> bool:
    """A stack named prod (or prod-*, *-prod) is prod whatever its settings claim (the config and the pack agree)."""
    return stack == "prod" or stack.startswith("prod-") or stack.endswith("-prod")


def covers_internet(cidrs: Iterable[str]) -> bool:
    """Whether a set of IPv4 CIDRs covers every address (0.0.0.0/1 + 128.0.0.0/1 does, like 0.0.0.0/0); unparsable
    entries count for nothing."""
    networks = []
    for cidr in cidrs:
        try:
            networks.append(ipaddress.IPv4Network(str(cidr), strict=False))
        except ValueError:
            continue
    return any(block.prefixlen == 0 for block in ipaddress.collapse_addresses(networks))


def check_stack(stack: str, settings: Settings) -> None:
    """A stack named prod is prod: a prod stack file cannot claim another environment (and so escape prod's rules)."""
    if is_prod_stack(stack) and settings.environment != "prod":
        raise ConfigError(f"{PROJECT}:environment = {settings.environment!r}: stack {stack} is a prod stack; set environment: prod")


def check_namespaces(keys: Iterable[str]) -> None:
    """Refuse config keys in a namespace nothing reads (a misspelt ``mlplatform:``), naming the likely intent."""
    for full_key in keys:
        namespace, _, key = full_key.partition(":")
        if namespace in CONFIG_NAMESPACES:
            continue
        close = difflib.get_close_matches(namespace, sorted(CONFIG_NAMESPACES), n=1)
        hint = f"did you mean {close[0]}:{key}?" if close else f"the namespaces read are {', '.join(sorted(CONFIG_NAMESPACES))}"
        raise ConfigError(f"{full_key}: unknown config namespace '{namespace}', nothing would read this key; {hint}")


def decode_config(flat: Mapping[str, str]) -> dict[str, Any]:
    """Turn Pulumi's ``{"mlplatform:key": "<string or JSON>"}`` map into ``{"key": value}``."""
    check_namespaces(flat)
    decoded: dict[str, Any] = {}
    for full_key, text in flat.items():
        namespace, _, key = full_key.partition(":")
        if namespace != PROJECT:
            continue
        if key in _STRING_KEYS or not isinstance(text, str):
            decoded[key] = text  # "1.35" stays a version string, not a number
            continue
        try:
            decoded[key] = json.loads(text)
        except json.JSONDecodeError:
            decoded[key] = text
    return decoded


def load() -> Settings:
    """Read the running stack's configuration (inside a Pulumi program)."""
    import pulumi
    import pulumi.runtime.config

    settings = parse_settings(decode_config(pulumi.runtime.config.CONFIG.get()))
    check_stack(pulumi.get_stack(), settings)
    return settings
