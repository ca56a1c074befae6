"""A stack's settings: its own facts, one sub-model per concern, and the rules that tie the groups together."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from typing import Any, Literal

from pulumi_aws import Region
from pydantic import BaseModel, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel, to_snake

from infra.config.base import PROJECT, DnsLabel, Frozen, invalid, ipv4_network
from infra.config.cluster import ClusterSettings
from infra.config.database import DatabaseSettings, KfpDatabaseSettings
from infra.config.gitops import GitOpsSettings
from infra.config.network import NetworkSettings
from infra.config.nodegroup import NodeGroupSettings
from infra.config.observability import ObservabilitySettings
from infra.config.pipelines import PipelineSettings
from infra.config.serving import ServingSettings
from infra.config.sso import SsoSettings
from infra.placement import HA_REPLICAS, Placement, for_name

# The regions pulumi-aws knows (its Region enum), not a hand-kept list.
AWS_REGIONS = frozenset(region.value for region in Region)

# GitHub-hosted runners come from anywhere on the internet: they reach only an API endpoint open to it.
HOSTED_RUNNER = ("ubuntu-24.04",)


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
    # KFP's MySQL; its instance takes rdsBackupRetentionDays and rdsMultiAz, the stack's RDS policy, from the group above.
    "kfp_database": {"kfpDatabase": "kind", "kfpRdsInstanceClass": "instance_class"},
    "pipelines": {"pipelineSchedule": "schedule", "pipelineStepImageDigest": "step_image_digest",
                  "pipelineFeatureImageDigest": "feature_image_digest", "driftSchedule": "drift_schedule",
                  "pipelineDataUri": "data_uri", "pipelineFeatureSource": "feature_source",
                  "pipelineAucFloor": "auc_floor", "pipelineMinImprovement": "min_improvement"},
    "serving": {key: to_snake(key.removeprefix("serving")) for key in (
        "servingModelName", "servingStorageUri", "servingDeploymentMode", "servingMinReplicas", "servingMaxReplicas", "servingOwner",
        "servingPredictorName", "servingCanaryName", "servingCanaryStorageUri", "servingCanaryPercent", "servingGpu",
        "servingIngress", "servingDomain", "servingCertificateArn", "servingImageDigest")},
    "gitops": {"gitops": "mode", "gitopsRepoUrl": "repo_url", "gitopsRevision": "revision"},
    "observability": {"alertReceivers": "receivers", "alertCredentials": "credentials", "prometheusRetentionDays": "retention_days",
                      "prometheusStorageGi": "storage_gi"},
    "sso": {"sso": "enabled", **{key: to_snake(key.removeprefix("sso")) for key in (
        "ssoDomain", "ssoCertificateArn", "ssoIssuerUrl", "ssoClientId", "ssoClientSecret", "ssoClientSecretName",
        "ssoEmailDomains", "ssoAllowedCidrs")}},
}
# (group, field name or alias) -> the flat key a person wrote, for error messages.
FLAT_KEYS = {(group, name): key for group, keys in GROUPS.items() for key, field in keys.items() for name in (field, to_camel(field))}


class Settings(Frozen):
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
    # Where platform services run: any node, or only the on-demand system group with HA (infra/placement.py).
    platform_placement: Literal["any", "system"] = "any"
    network: NetworkSettings
    cluster: ClusterSettings
    node_groups: tuple[NodeGroupSettings, ...]
    database: DatabaseSettings
    kfp_database: KfpDatabaseSettings
    pipelines: PipelineSettings
    serving: ServingSettings
    gitops: GitOpsSettings
    observability: ObservabilitySettings
    sso: SsoSettings
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
                raise invalid("cloud", f"cloud none (no AWS) is only for the local environment, not {self.environment}")
            if self.object_store != "minio":
                raise invalid("objectStore", "without AWS there is no S3; set objectStore: minio")
            if self.database.kind != "in-cluster":
                raise invalid("database", "without AWS there is no RDS; set database: in-cluster")
            if self.kfp_database.kind != "in-cluster":
                raise invalid("kfpDatabase", "without AWS there is no RDS; set kfpDatabase: in-cluster")
            if self.serving.ingress != "none":
                raise invalid("servingIngress", "models get an AWS load balancer only on AWS; set servingIngress: none")
            if self.sso.enabled:
                raise invalid("sso", "the UIs' sign-in sits on an AWS load balancer; without AWS reach them by "
                                     "kubectl port-forward (README) and leave sso false")
            if self.platform_placement != "any":
                raise invalid("platformPlacement", "without AWS there are no node groups to pin to; set platformPlacement: any")
            return self
        if self.environment == "local":
            raise invalid("cloud", "the local environment has no AWS; set cloud: none")
        self._check_zones()
        self._check_network()
        self._check_endpoint()
        self._check_runner()
        self._check_node_groups()
        if self.environment == "prod" and not self.protect:
            raise invalid("protect", "prod must protect its stateful resources; set protect: true")
        if self.environment == "prod":
            if self.database.kind == "rds" and not self.database.multi_az:
                raise invalid("rdsMultiAz", "the prod MLflow database must be Multi-AZ; set rdsMultiAz: true")
            if self.database.kind == "rds" and self.database.backup_retention_days < 7:
                raise invalid("rdsBackupRetentionDays", f"{self.database.backup_retention_days}: prod keeps at least 7 days of backups")
            if self.database.kind != "rds":
                raise invalid("database", "prod keeps MLflow's registry on RDS (backups, Multi-AZ), not in-cluster")
            if self.kfp_database.kind != "rds":
                raise invalid("kfpDatabase", "prod keeps KFP's runs and metadata on RDS (Multi-AZ: a zone loss loses no state), "
                                             "not on one in-cluster volume; set kfpDatabase: rds")
            if self.platform_placement != "system":
                raise invalid("platformPlacement", f"{self.platform_placement!r}: prod's platform services must survive a spot "
                                                    "reclaim; set platformPlacement: system (the on-demand system group)")
            if not self.mlflow_basic_auth:
                raise invalid("mlflowBasicAuth", "prod's MLflow holds the models production serves; it must require credentials: set it true")
            if not self.monitoring or not self.observability.routed("critical"):
                raise invalid("alertReceivers", "prod's critical alerts must reach someone: set monitoring: true and declare a receiver "
                                                 "with severities [critical] (for example type pagerduty)")
        if self.protect and self.force_destroy_buckets:
            raise invalid("forceDestroyBuckets", "cannot force-destroy buckets of a protected stack; set it to false")
        return self

    def _check_gateway(self) -> None:
        # The models' NetworkPolicy admits every pod of the gateway's namespace (those with the gateway's labels).
        from infra import namespaces  # noqa: PLC0415 - namespaces reads Settings; the table is its

        if self.gateway_namespace in namespaces.RESERVED:
            raise invalid("gatewayNamespace", f"{self.gateway_namespace!r} is a system or platform namespace: the models would admit "
                                               "its pods; name the ingress gateway's own namespace (istio-system by default)")

    def _check_serving(self) -> None:
        # Knative Serving and a networking layer for it are not installed by the platform (no pinned source of them
        # in ../shared/upstream to render and check): a Knative model would never become ready. The serving chart keeps
        # its Knative mode for clusters that bring their own.
        for key, mode in (("kserveDeploymentMode", self.kserve_deployment_mode), ("servingDeploymentMode", self.serving.deployment_mode)):
            if mode == "Knative":
                raise invalid(key, "the platform installs no Knative Serving, so no model would become ready in that mode; "
                                    "use Standard (scale to zero needs Knative: not offered yet)")
        if self.serving.min_replicas > self.serving.max_replicas:
            raise invalid("servingMinReplicas", f"{self.serving.min_replicas} is greater than servingMaxReplicas {self.serving.max_replicas}")
        if self.serving.min_replicas == 0:
            raise invalid("servingMinReplicas", "0 (scale to zero) needs Knative, which the platform does not install; keep at least 1")
        if self.serving.owner == "helm":
            owned = {"servingStorageUri": self.serving.storage_uri, "servingPredictorName": self.serving.predictor_name,
                     "servingCanaryName": self.serving.canary_name}
            for key, value in owned.items():
                if value:
                    raise invalid(key, "servingOwner is helm: the release and its model are ML engineers' `helm upgrade`; "
                                        "remove this key, or set servingOwner: stack to roll out from the stack file")
        if self.serving.canary_name:
            if self.serving.deployment_mode != "Standard":
                raise invalid("servingCanaryName", "a canary needs servingDeploymentMode: Standard (KServe v0.20's spec.canary[])")
            if self.serving.canary_name == self.serving.predictor_name:
                raise invalid("servingCanaryName", f"'{self.serving.canary_name}' is the stable predictor's name; give the canary its own")
            if not self.serving.canary_storage_uri or self.serving.canary_storage_uri == self.serving.storage_uri:
                raise invalid("servingCanaryStorageUri", "required with servingCanaryName, and not servingStorageUri: the canary's own model")
        elif self.serving.canary_storage_uri:
            raise invalid("servingCanaryStorageUri", "set servingCanaryName too (for example v2), or remove it")
        if (self.serving.canary_name or self.serving.gpu) and not self.serving.storage_uri and self.serving.owner == "stack":
            raise invalid("servingStorageUri", "a canary or GPU serving needs a model; set servingStorageUri")
        if self.gitops.mode == "argocd":
            if not self.gitops.repo_url:
                raise invalid("gitopsRepoUrl", "gitops: argocd syncs the serving chart from git; set the repository URL")
            if self.serving.owner != "stack":
                raise invalid("gitops", "Argo CD syncs the release with this stack's values, so servingOwner must be stack, not helm")
        elif self.gitops.repo_url:
            raise invalid("gitopsRepoUrl", "set without gitops: argocd; drop it or set gitops: argocd")
        if self.serving.ingress != "none" and self.is_aws:
            if not self.serving.domain:
                raise invalid("servingDomain", "required with servingIngress: models are served at <name>-models.<domain>")
            if not self.serving.certificate_arn:
                raise invalid("servingCertificateArn", "required with servingIngress: the ACM certificate of servingDomain "
                                                        "(the load balancer serves HTTPS only)")
        if self.serving.gpu and not self.is_aws:
            raise invalid("servingGpu", "the local stack has no GPU node group or GPU runtime; set servingGpu: false")
        if self.serving.gpu and self.is_aws and not any(group.is_gpu for group in self.enabled_node_groups):
            raise invalid("servingGpu", "no enabled GPU node group would run the model; enable one (enableGpuNodes and a gpu group) "
                                         "or set servingGpu: false")

    def _check_zones(self) -> None:
        if not 2 <= len(self.availability_zones) <= 3:
            raise invalid("availabilityZones", f"{list(self.availability_zones)}: give 2 or 3 availability zones")
        if len(set(self.availability_zones)) != len(self.availability_zones):
            raise invalid("availabilityZones", f"{list(self.availability_zones)} lists a zone twice")
        for zone in self.availability_zones:
            if not re.match(rf"^{re.escape(self.aws_region)}[a-z]$", zone):
                raise invalid("availabilityZones", f"'{zone}' is not a zone of {self.aws_region} (for example {self.aws_region}a)")

    def _check_network(self) -> None:
        zones = len(self.availability_zones)
        if self.network.existing_vpc_id:
            for key, ids in (
                ("existingPrivateSubnetIds", self.network.existing_private_subnet_ids),
                ("existingPublicSubnetIds", self.network.existing_public_subnet_ids),
            ):
                if len(ids) != zones:
                    raise invalid(key, f"{list(ids)}: with existingVpcId give one subnet id per availability zone ({zones})")
            return
        if self.network.existing_private_subnet_ids or self.network.existing_public_subnet_ids:
            raise invalid("existingVpcId", "subnet ids were given without existingVpcId; set it or drop the subnet ids")
        vpc = ipv4_network(self.network.vpc_cidr)
        if vpc.overlaps(ipv4_network(self.cluster.service_cidr)):
            raise invalid("serviceCidr", f"'{self.cluster.service_cidr}' overlaps vpcCidr {self.network.vpc_cidr}; pick a block outside the VPC")
        subnets: list[tuple[str, ipaddress.IPv4Network]] = []
        for key, cidrs in (("publicSubnetCidrs", self.network.public_subnet_cidrs), ("privateSubnetCidrs", self.network.private_subnet_cidrs)):
            if len(cidrs) != zones:
                raise invalid(key, f"{list(cidrs)}: give one CIDR per availability zone ({zones})")
            for cidr in cidrs:
                net = ipv4_network(cidr)
                if not net.subnet_of(vpc):
                    raise invalid(key, f"'{cidr}' is not inside vpcCidr {self.network.vpc_cidr}")
                for other_key, other in subnets:
                    if net.overlaps(other):
                        raise invalid(key, f"'{cidr}' overlaps '{other}' of {other_key}; subnets must be disjoint")
                subnets.append((key, net))

    def _check_endpoint(self) -> None:
        if not self.cluster.endpoint_public_access:
            if self.cluster.public_access_cidrs:
                raise invalid("publicAccessCidrs", "set without endpointPublicAccess: true; drop them or enable the public endpoint")
            return
        if not self.cluster.public_access_cidrs:
            raise invalid("publicAccessCidrs", "the public endpoint needs the CIDRs allowed to reach it (never implicitly 0.0.0.0/0)")
        if self.environment == "prod" and self.cluster.endpoint_open_to_internet:
            raise invalid("publicAccessCidrs", f"{list(self.cluster.public_access_cidrs)} cover every address and open the prod API server "
                                                "to the internet; list your VPN or office CIDRs")

    def _check_runner(self) -> None:
        if self.cluster.ci_runner_labels and "self-hosted" not in self.cluster.ci_runner_labels and not self.cluster.endpoint_open_to_internet:
            raise invalid("ciRunnerLabels", f"{list(self.cluster.ci_runner_labels)} is a GitHub-hosted runner, which cannot reach this "
                                             "cluster's API (private endpoint or publicAccessCidrs); give a self-hosted runner's labels "
                                             "inside the VPC, or leave it empty")

    def _check_node_groups(self) -> None:
        names = [group.name for group in self.node_groups]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise invalid("nodeGroups", f"node group names must be unique, {duplicates} repeat")
        if self.is_aws and not self.cluster.admin_principals:
            raise invalid("clusterAdminArns", "no one would reach the cluster's API (EKS access entries only); list your role "
                                               "in clusterAdminArns, or the deploy workflow's in ciDeployRoleArn")
        if not any(group.role == "system" for group in self.enabled_node_groups):
            raise invalid("nodeGroups", "no enabled system node group; add an ON_DEMAND group with role system")
        system = [group for group in self.enabled_node_groups if group.role == "system"]
        if self.platform_placement == "system" and sum(group.min_size for group in system) < HA_REPLICAS:
            raise invalid("platformPlacement", f"system puts every platform service on the system group, which keeps "
                                                f"{sum(group.min_size for group in system)} node(s); give it minSize >= {HA_REPLICAS}")
        if self.is_aws and not any(group.role == "cpu" for group in self.enabled_node_groups):
            # Argo's workflowDefaults send every pipeline step to mlplatform.io/role=cpu (the KFP base overlay).
            key = "enableSpotNodes" if not self.cluster.enable_spot_nodes else "nodeGroups"
            raise invalid(key, "no enabled node group has role cpu, so every pipeline step would stay Pending; "
                                "keep enableSpotNodes: true or add an ON_DEMAND group with role cpu to nodeGroups")

    @property
    def placement(self) -> Placement:
        """Where this stack's platform pods run (infra/placement.py)."""
        return for_name(self.platform_placement)

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
