"""The whole program: what each stack declares, in dependency order.

``build`` is called by ``__main__`` under the Pulumi engine and by the offline
harness under mocks; it returns the stack outputs.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_aws as aws

from infra import backups, cluster_layer, credentials, example_values, feature_store, kubernetes_provider, rds_ca, workloads
from infra.components.cluster_addons import ClusterAddons
from infra.components.dynamodb_endpoint import DynamoDbEndpoint
from infra.components.eks_cluster import EksCluster
from infra.components.encryption_key import EncryptionKey
from infra.components.image_repository import (
    FeatureImageRepository,
    ServingImageRepository,
    StepImageRepository,
    published_digest,
)
from infra.components.irsa_role import IrsaRole
from infra.components.kubeflow_pipelines import ExternalMysql
from infra.components.network import Network
from infra.components.node_group import NodeGroup
from infra.components.online_store_table import OnlineStoreTable
from infra.components.platform_secrets import PlatformSecrets
from infra.components.rds_common import Placement
from infra.components.rds_mysql import RdsMysql
from infra.components.rds_postgres import RdsPostgres
from infra.components.secure_bucket import SecureBucket
from infra.components.sso import UiLoadBalancerSecurityGroup
from infra.config import PROJECT, Settings
from pipelines import serving_image
from pipelines.features import image as features_image
from pipelines.features import repo as feature_repo

BUCKET_PURPOSES = ("data", "artifacts")


def build(settings: Settings) -> dict[str, Any]:
    """Declare every resource of the stack and return its outputs."""
    if not settings.is_aws:
        provider = kubernetes_provider.for_local(settings)
        outputs = cluster_layer.build(settings, provider, None)
        return {"environment": settings.environment, "kubeconfigContext": settings.cluster.kubeconfig_context or "(current)", **outputs}
    return _build_aws(settings)


def _deploying_account(settings: Settings, provider: aws.Provider) -> str:
    """The caller's account, once nothing stands in the way: no example value of the stack file belongs to another
    account, and the caller is one of the principals the cluster's access entries name (else one line, nothing declared)."""
    identity = aws.get_caller_identity(opts=pulumi.InvokeOptions(provider=provider))
    refused = example_values.refusals(settings, identity.account_id)
    session = aws.iam.get_session_context(arn=identity.arn, opts=pulumi.InvokeOptions(provider=provider))
    if session.issuer_arn not in (*settings.cluster.admin_principals, settings.cluster.ci_preview_role_arn):
        refused.append(f"{PROJECT}:clusterAdminArns: {session.issuer_arn}, who runs this, gets no access entry of the cluster "
                       "(access comes from config only); add it to clusterAdminArns, or run as ciDeployRoleArn")
    if refused:
        raise pulumi.RunError("; ".join(refused))
    return identity.account_id


def _build_aws(settings: Settings) -> dict[str, Any]:
    name = settings.name
    provider = aws.Provider("aws", region=settings.aws_region, default_tags=aws.ProviderDefaultTagsArgs(tags=settings.base_tags))
    opts = pulumi.ResourceOptions(providers={"aws": provider})

    account_id = pulumi.Output.from_input(_deploying_account(settings, provider))
    network = Network(name, settings.network, settings.availability_zones, settings.name, settings.aws_region, opts)
    cluster = EksCluster(name, settings.cluster, settings.name, settings.aws_region, settings.protect, network.private_subnet_ids,
                         account_id, opts)

    s3_key = EncryptionKey(f"{name}-s3", f"S3 encryption for {name}", settings.protect, opts)
    # Prod keeps S3 server access logs of its buckets in a locked log bucket (who read or changed a model).
    access_logs = (
        SecureBucket(
            f"{name}-access-logs",
            bucket_name=account_id.apply(lambda account: f"{name}-access-logs-{account}"),
            kms_key_arn=s3_key.arn,
            protect=settings.protect,
            force_destroy=False,
            noncurrent_version_days=settings.noncurrent_version_days,
            opts=opts,
            log_delivery_account=account_id,
        )
        if settings.environment == "prod"
        else None
    )
    buckets = {
        purpose: SecureBucket(
            f"{name}-{purpose}",
            # Deterministic, so stack files can name model paths (servingStorageUri).
            bucket_name=account_id.apply(lambda account, purpose=purpose: f"{name}-{purpose}-{account}"),
            kms_key_arn=s3_key.arn,
            protect=settings.protect,
            force_destroy=settings.force_destroy_buckets,
            noncurrent_version_days=settings.noncurrent_version_days,
            opts=opts,
            access_log_bucket=access_logs.bucket if access_logs else None,
            # The stores' dumps (infra/backups.py) expire after the environment's retention.
            expire_prefixes={backups.PREFIX: backups.retention_days(settings.environment)} if purpose == "artifacts" else None,
        )
        for purpose in BUCKET_PURPOSES
    }
    steps = StepImageRepository(name, s3_key.arn, settings.protect, opts)
    server = ServingImageRepository(name, s3_key.arn, settings.protect, opts)
    feature_steps = FeatureImageRepository(name, s3_key.arn, settings.protect, opts)
    # The feature store's online store (infra/feature_store.py): encrypted with the platform's key, PITR in prod.
    online_table = OnlineStoreTable(f"{name}-online-features", feature_store.dynamodb_table(settings), s3_key.arn,
                                    settings.environment == "prod", settings.protect, opts)
    # DynamoDB inside the program's VPC (an existing VPC's endpoints are its owner's), limited to that table.
    dynamodb = (
        DynamoDbEndpoint(f"{name}-dynamodb", network.vpc_id, network.private_subnet_ids, network.endpoints_security_group_id,
                         settings.aws_region, [online_table.arn], opts)
        if network.endpoints_security_group_id is not None else None
    )
    roles = {
        workload.name: IrsaRole(
            f"{name}-{workload.name}",
            workload,
            oidc_provider_arn=cluster.oidc_provider_arn,
            oidc_issuer_url=cluster.oidc_issuer_url,
            bucket_arns={purpose: bucket.arn for purpose, bucket in buckets.items()},
            kms_key_arn=s3_key.arn,
            opts=opts,
            table_arns={feature_repo.DYNAMODB_TABLE: online_table.arn},
        )
        for workload in (*workloads.WORKLOADS, *backups.workloads(settings))
    }

    addons = ClusterAddons(
        f"{name}-addons", cluster.name, cluster.version, roles[workloads.EBS_CSI.name].arn, opts
    )
    node_groups = [
        NodeGroup(
            f"{name}-{group.name}",
            group,
            cluster_name=cluster.name,
            node_role_arn=cluster.node_role_arn,
            subnet_ids=network.private_subnet_ids,
            tags=settings.base_tags,
            opts=pulumi.ResourceOptions(providers={"aws": provider}, depends_on=addons.networking),
        )
        for group in settings.enabled_node_groups
    ]
    late_addons = addons.after_nodes(node_groups)
    provider_k8s, kubeconfig = kubernetes_provider.for_eks(
        settings, cluster.name, cluster.endpoint, cluster.certificate_authority, [*node_groups, *late_addons, *cluster.access]
    )
    # The platform's credentials, in Secrets Manager on their own key: no value passes through the program.
    credentials_key = EncryptionKey(f"{name}-credentials", f"Secrets Manager encryption of {name}'s credentials", settings.protect, opts)
    # One RDS key for the stack's instances: MLflow's Postgres and KFP's MySQL.
    rds_key = (
        EncryptionKey(f"{name}-rds", f"RDS encryption for {name}", settings.protect, opts).arn
        if "rds" in (settings.database.kind, settings.kfp_database.kind) else None
    )
    rds_placement = Placement(
        network.vpc_id, network.private_subnet_ids, cluster.security_group_id, rds_key, credentials_key.arn,
        account_id, settings.aws_region, settings.cluster.log_retention_days,
    )
    database = (
        RdsPostgres(f"{name}-mlflow-db", settings.database, settings.environment == "prod", settings.protect, rds_placement, opts)
        if settings.database.kind == "rds"
        else None
    )
    kfp_database = (
        RdsMysql(f"{name}-kfp-db", settings.kfp_database, settings.database, settings.environment == "prod", settings.protect,
                 rds_placement, opts)
        if settings.kfp_database.kind == "rds"
        else None
    )
    # RDS's own secrets (master passwords), read-only for the operator.
    external = {
        **({credentials.DATABASE.key: credentials.RemoteRef(database.secret_arn, "password")} if database else {}),
        **({credentials.KFP_MYSQL.key: credentials.RemoteRef(kfp_database.secret_arn, "password")} if kfp_database else {}),
    }
    generated = credentials.generated_for(settings)
    platform_secrets = PlatformSecrets(
        f"{name}-credentials", name, generated, credentials_key.arn, roles[workloads.EXTERNAL_SECRETS.name].role_name,
        settings.aws_region, settings.protect, external=external or None, opts=opts,
    )
    cluster_outputs = cluster_layer.build(
        settings,
        provider_k8s,
        cluster_layer.AwsResources(
            cluster_name=cluster.name,
            vpc_id=network.vpc_id,
            data_bucket=buckets["data"].bucket,
            artifacts_bucket=buckets["artifacts"].bucket,
            role_arns={name: role.arn for name, role in roles.items()},
            database_host=database.host if database else pulumi.Output.from_input(""),
            credentials_remote=platform_secrets.remote,
            generated_credentials={credential: credential.remote_name(name) for credential in generated},
            kfp_database=ExternalMysql(kfp_database.host, kfp_database.username, rds_ca.bundle(settings.aws_region))
            if kfp_database else None,
            step_image_repository=steps.url,
            kms_key_arn=s3_key.arn,
            dynamodb_endpoint_url=dynamodb.url if dynamodb else None,
            step_image_digest=settings.pipelines.step_image_digest or published_digest(name, provider),
            feature_image_repository=feature_steps.url,
            feature_image_digest=settings.pipelines.feature_image_digest
            or published_digest(name, provider, features_image.IMAGE_NAME, features_image.content_tag()),
            ui_security_group_id=UiLoadBalancerSecurityGroup(f"{name}-ui-alb", settings, network.vpc_id, opts).id
            if settings.sso.enabled else None,
            serving_image_repository=server.url,
            serving_image_digest=settings.serving.image_digest
            or published_digest(name, provider, serving_image.IMAGE_NAME, serving_image.content_tag()),
        ),
    )

    return {
        "environment": settings.environment,
        "clusterName": cluster.name,
        "clusterEndpoint": cluster.endpoint,
        "kubeconfig": kubeconfig,
        "vpcId": network.vpc_id,
        "dataBucket": buckets["data"].bucket,
        "artifactsBucket": buckets["artifacts"].bucket,
        "oidcProviderArn": cluster.oidc_provider_arn,
        "roleArns": {name: role.arn for name, role in roles.items()},
        **cluster_outputs,
    }
