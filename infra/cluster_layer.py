"""The cluster layer: namespaces and policies, object store, MLflow, KFP, KServe, device plugin,
monitoring, then the team's training pipelines and serving chart, on any Kubernetes provider."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from infra import alert_routing, backups, credentials, flows, namespaces, object_store, sso
from infra.components import backups as store_backups
from infra.components import feature_server, storage_class
from infra.components.argocd import ArgoCd, GitOpsServing
from infra.components.cert_manager import CertManager
from infra.components.cluster_autoscaler import ClusterAutoscaler
from infra.components.cluster_postgres import ClusterPostgres
from infra.components.dashboards import Dashboards
from infra.components.dcgm_exporter import DcgmExporter
from infra.components.external_secrets import ExternalSecretsOperator
from infra.components.gpu_device_plugin import GpuDevicePlugin
from infra.components.kserve import Kserve, ingress_values, runtime_image
from infra.components.kubeflow_pipelines import ExternalMysql, KubeflowPipelines
from infra.components.load_balancer_controller import INGRESS_CLASS, LoadBalancerController
from infra.components.minio import BUCKETS, Minio
from infra.components.mlflow_server import MlflowServer
from infra.components.mlflow_users import MlflowUsers
from infra.components.model_serving import (
    PLATFORM_VALUES_CONFIGMAP,
    ModelServing,
    PlatformValues,
    inference_service_name,
    platform_values,
    serving_values,
)
from infra.components.monitoring_stack import RELEASE_NAME, MonitoringStack
from infra.components.network_flows import NetworkFlows
from infra.components.platform_namespace import PlatformNamespace
from infra.components.priority_classes import PriorityClasses
from infra.components.pushgateway import Pushgateway
from infra.components.sso import SingleSignOn, urls
from infra.components.storage_class import DefaultStorageClass
from infra.components.training_pipelines import TrainingPipelines, source_commit
from infra.config import Settings
from infra.dashboards.catalog import Scope
from infra.pipeline_images import pinned as pipeline_images_of
from infra.preview import unknown
from infra.workloads import CLUSTER_AUTOSCALER, EXTERNAL_SECRETS, FEATURE_SERVER, LOAD_BALANCER_CONTROLLER, PIPELINES, PIPELINES_UI
from pipelines import serving_image
from pipelines.cluster import DRIFT_PIPELINE, REQUEST_LOG_PREFIX, TRAINING_PIPELINE


@dataclass(frozen=True)
class AwsResources:
    """What the cluster layer takes from the AWS layer (absent on the local stack)."""

    cluster_name: pulumi.Output[str]
    vpc_id: pulumi.Output[str]
    data_bucket: pulumi.Output[str]
    artifacts_bucket: pulumi.Output[str]
    role_arns: dict[str, pulumi.Output[str]]
    database_host: pulumi.Output[str]
    # Where each credential is in Secrets Manager (infra/credentials.py), and the generated ones' secret names.
    credentials_remote: dict[str, credentials.RemoteRef]
    generated_credentials: dict[credentials.Credential, str]
    # The ECR repository of the pipeline step image, and the digest of this checkout's image in it ("" if not pushed).
    step_image_repository: pulumi.Output[str]
    # The platform's S3 key: the backups' SSE-KMS key.
    kms_key_arn: pulumi.Output[str]
    step_image_digest: str = ""
    # The same for the features step image (pipelines/features/image.py).
    feature_image_repository: pulumi.Output[str] | None = None
    feature_image_digest: str = ""
    # The UIs' load balancer's security group (sso on).
    ui_security_group_id: pulumi.Output[str] | None = None
    # The ECR repository of the model server image, and the digest of this checkout's image in it ("" if not pushed).
    serving_image_repository: pulumi.Output[str] | None = None
    serving_image_digest: str = ""
    # KFP's database on RDS (kfpDatabase rds); None: the overlay's in-cluster MySQL.
    kfp_database: ExternalMysql | None = None
    # DynamoDB's interface endpoint in the program's VPC (components/dynamodb_endpoint.py); None in an existing VPC.
    dynamodb_endpoint_url: pulumi.Output[str] | None = None


def build(settings: Settings, provider: k8s.Provider, aws: AwsResources | None) -> dict[str, Any]:
    """Declare the cluster layer through ``provider``; return its stack outputs."""
    opts = pulumi.ResourceOptions(provider=provider)
    spaces = {spec.name: PlatformNamespace(spec, opts) for spec in namespaces.for_stack(settings)}

    # On EKS the cluster has no default StorageClass until this one (PVCs would stay Pending);
    # the local stack's cluster (kind, minikube, k3d) brings its own.
    # What every platform object waits for: the PriorityClasses its pods name (and, on EKS, the storage class).
    storage: list[pulumi.Resource] = [PriorityClasses("priority", opts)]
    placement = settings.placement
    # The controller of the models' ALB: the serving release is created after it and, on destroy, deleted
    # before it (else the ALB, its target groups and security group leak and the Ingress keeps its finalizer).
    ingress_controller: list[pulumi.Resource] = []
    if aws is not None:
        storage.append(DefaultStorageClass("default-storage-class", retain=settings.protect, opts=opts))
        ClusterAutoscaler(
            "cluster-autoscaler", aws.cluster_name, settings.aws_region, aws.role_arns[CLUSTER_AUTOSCALER.name], opts
        )
        if settings.serving.ingress != "none" or settings.sso.enabled:
            ingress_controller.append(LoadBalancerController(
                "aws-load-balancer-controller", aws.cluster_name, settings.aws_region, aws.vpc_id,
                aws.role_arns[LOAD_BALANCER_CONTROLLER.name], opts,
            ))

    def in_ns(*names: str, after: Sequence[pulumi.Resource] = ()) -> pulumi.ResourceOptions:
        """In the named namespaces (created first), after the storage class and ``after``."""
        return pulumi.ResourceOptions(provider=provider, depends_on=[*(spaces[n] for n in names), *storage, *after])

    # Object store: S3 from the AWS layer, or MinIO with generated credentials; decided here, once.
    if settings.object_store == "minio":
        store = object_store.minio(settings.aws_region, BUCKETS)
        minio = Minio("minio", namespaces.MINIO.name, in_ns(namespaces.MINIO.name))
        # Its clients' namespaces: MLflow's, KFP's, the feature server's and, with the in-cluster database, its backup's.
        clients = (namespaces.MLFLOW, namespaces.KUBEFLOW, namespaces.FEAST, *([namespaces.POSTGRES] if settings.database.kind == "in-cluster" else []))
        for space in (client.name for client in clients):
            k8s.core.v1.Secret(
                f"{space}-object-store-credentials",
                metadata={"name": store.credentials_secret, "namespace": space},
                string_data={object_store.USER_KEY: minio.access_key, object_store.PASSWORD_KEY: minio.secret_key},
                opts=in_ns(space),
            )
    else:
        assert aws is not None, "objectStore s3 needs the AWS layer"
        # The program's VPC has S3 and STS interface endpoints (components/network.py); an existing VPC's are not known.
        endpoint_cidr = "" if settings.network.existing_vpc_id else settings.network.vpc_cidr
        store = object_store.s3(settings.aws_region, aws.data_bucket, aws.artifacts_bucket, endpoint_cidr)
    NetworkFlows("platform-flows", flows.platform_flows(settings, settings.network.vpc_cidr, store), in_ns(*spaces))
    roles = aws.role_arns if aws else {}

    # Credentials: on AWS in Secrets Manager, synced by the External Secrets Operator; on the local stack
    # generated by the program (in its state: a development cluster only; README "Credentials").
    eso = None
    if aws is not None:
        eso = ExternalSecretsOperator(
            "external-secrets", namespaces.EXTERNAL_SECRETS.name, settings.aws_region, roles[EXTERNAL_SECRETS.name],
            aws.generated_credentials, in_ns(namespaces.EXTERNAL_SECRETS.name), placement,
        )
        secrets: credentials.Credentials = credentials.Synced(aws.credentials_remote, eso.ready)
    else:
        secrets = credentials.Generated()

    # MLflow's database: RDS from the AWS layer, or Postgres in the cluster.
    # Both over TLS: the in-cluster Postgres verified against the program's CA (it admits TLS only);
    # RDS encrypted (sslmode=require; its parameter group forces TLS).
    database_ca, postgres_host, postgres = None, "", None
    stores: dict[str, list[pulumi.Resource]] = {namespaces.MINIO.name: [minio] if settings.object_store == "minio" else []}
    if settings.database.kind == "in-cluster":
        postgres = ClusterPostgres("postgres", namespaces.POSTGRES.name, secrets, in_ns(namespaces.POSTGRES.name))
        database_ca = postgres.ca_config_map(namespaces.MLFLOW.name, in_ns(namespaces.MLFLOW.name)).metadata["name"]
        # Its backup verifies it against the same CA.
        stores[namespaces.POSTGRES.name] = [postgres, postgres.ca_config_map(namespaces.POSTGRES.name, in_ns(namespaces.POSTGRES.name))]
        host, ssl = postgres.host, postgres.client_options
        postgres_host = postgres.host
    else:
        assert aws is not None, "database rds needs the AWS layer"
        host, ssl = aws.database_host, "sslmode=require"
    # Percent-encoded: RDS's own passwords may hold characters a URI reserves.
    password = secrets.value(credentials.DATABASE, "postgres-password", pulumi.ResourceOptions(provider=provider), url=True)
    database_uri = pulumi.Output.all(host, password).apply(lambda args: f"postgresql://mlflow:{args[1]}@{args[0]}:5432/mlflow?{ssl}")
    if aws is None:
        database_uri = pulumi.Output.secret(database_uri)  # the local stack's generated password is in it
    mlflow = MlflowServer(
        "mlflow",
        namespaces.MLFLOW.name,
        database_uri=database_uri,
        database_ca_config_map=database_ca,
        store=store,
        role_arn=roles.get("mlflow"),
        basic_auth=settings.mlflow_basic_auth,
        credentials=secrets,
        opts=in_ns(namespaces.MLFLOW.name),
        placement=placement,
    )
    if settings.mlflow_basic_auth:
        # The pipelines sign in to MLflow as their own user (EDIT on their experiments and model), never as the admin.
        MlflowUsers("mlflow-users", namespaces.MLFLOW.name, mlflow.url, mlflow.config_secret, (namespaces.KUBEFLOW.name,),
                    after=[mlflow], credentials=secrets, opts=in_ns(namespaces.MLFLOW.name, namespaces.KUBEFLOW.name))

    cert_manager = CertManager("cert-manager", namespaces.CERT_MANAGER.name, in_ns(namespaces.CERT_MANAGER.name), placement)
    kfp = KubeflowPipelines(
        "kubeflow-pipelines",
        namespaces.KUBEFLOW.name,
        store,
        role_arns={account: roles[workload.name] for workload in (PIPELINES, PIPELINES_UI) for account in workload.service_accounts}
        if roles else None,
        credentials=secrets,
        after=[cert_manager.release],
        opts=in_ns(namespaces.KUBEFLOW.name),
        placement=placement,
        database=aws.kfp_database if aws else None,
    )
    # Backups of the stores in the cluster (infra/backups.py), each once its store and its credentials exist.
    stores[namespaces.KUBEFLOW.name] = [kfp]
    store_backups.declare(
        settings.environment, backups.for_stack(settings), store, aws.kms_key_arn if aws else None, roles, postgres_host,
        lambda space: in_ns(space, after=stores.get(space, [])),
    )
    # The model server image by digest (on AWS: config's, else the image pushed under this checkout's content tag);
    # not pushed yet: unknown in a preview, else the runtime stays disabled (the stock image cannot load the models).
    server_digest = aws.serving_image_digest if aws else settings.serving.image_digest
    server_repository = aws.serving_image_repository if aws else pulumi.Output.from_input(serving_image.LOCAL_REPOSITORY)
    server_image = (runtime_image(server_repository, serving_image.content_tag(), server_digest) if server_digest else
                    unknown() if aws is not None and pulumi.runtime.is_dry_run() else None)
    if server_image is None:
        outputs_server = ("not deployed: the kserve-mlserver runtime is disabled until the model server image (serving/Dockerfile) is "
                          + (f"pushed to this stack's ECR repository (output servingImageRepository) under tag {serving_image.content_tag()} "
                             "(the deploy workflow does: scripts/publish_image.sh serving), or mlplatform:servingImageDigest is set" if aws else
                             f"pushed to {serving_image.LOCAL_REPOSITORY} and mlplatform:servingImageDigest is set to its digest"))
        pulumi.log.warn(f"serving image {outputs_server}")
    kserve = Kserve(
        "kserve", namespaces.KSERVE.name, settings.kserve_deployment_mode, [cert_manager.release],
        ingress=ingress_values(INGRESS_CLASS, settings.serving.domain if settings.serving.ingress != "none" else ""),
        s3_region=store.region if not store.is_minio else "",
        server_image=server_image,
        opts=in_ns(namespaces.KSERVE.name),
        placement=placement,
        gpu_nodes=namespaces.NVIDIA.name in spaces,
    )
    if namespaces.NVIDIA.name in spaces:
        GpuDevicePlugin("nvidia-device-plugin", namespaces.NVIDIA.name, in_ns(namespaces.NVIDIA.name))
    # What the serving release's objects need first: KServe's CRDs, webhooks and runtimes, the ALB's
    # controller, and the monitoring CRDs of its PodMonitor and PrometheusRule.
    serving_after: list[pulumi.Resource] = [kserve, *ingress_controller]
    pushgateway, monitors = None, []
    if settings.monitoring:
        monitoring = MonitoringStack("monitoring", namespaces.MONITORING.name, settings.is_aws, settings.observability,
                                     storage_class.NAME if aws is not None else None,
                                     sso.host(settings, sso.GRAFANA) if settings.sso.enabled else "", secrets if aws else None,
                                     in_ns(namespaces.MONITORING.name), placement)
        if eso is not None:
            eso.monitor(namespaces.EXTERNAL_SECRETS.name, RELEASE_NAME, in_ns(namespaces.EXTERNAL_SECRETS.name, after=[monitoring]))
        serving_after.append(monitoring)
        monitors.append(monitoring)
        pushgateway = Pushgateway("pushgateway", namespaces.MONITORING.name, RELEASE_NAME,
                                  in_ns(namespaces.MONITORING.name, after=[monitoring]), placement)
        gpu_nodes = namespaces.NVIDIA.name in spaces
        Dashboards("dashboards", namespaces.MONITORING.name,
                   Scope(namespaces.MODELS.name, inference_service_name(settings.serving.model_name), namespaces.KUBEFLOW.name),
                   gpu_nodes, in_ns(namespaces.MONITORING.name, namespaces.KUBEFLOW.name, after=[monitoring]))
        if gpu_nodes:
            DcgmExporter("dcgm-exporter", namespaces.MONITORING.name, RELEASE_NAME, in_ns(namespaces.MONITORING.name, after=[monitoring]))

    # The feature store (infra/feature_store.py): its database on the local stack, then the feature server.
    # After the monitoring CRDs (its ServiceMonitor) and MinIO.
    features = feature_server.declare(
        settings, store, roles.get(FEATURE_SERVER.name), postgres, RELEASE_NAME if settings.monitoring else "", in_ns,
        after=[*stores[namespaces.MINIO.name], *monitors], dynamodb_endpoint=aws.dynamodb_endpoint_url if aws else None,
    )

    # The team's workloads: the training and drift pipelines, and the served model.
    served = inference_service_name(settings.serving.model_name)
    # KServe's logger writes the served model's requests to S3 (on MinIO it would need the agent's endpoint config).
    request_log = None if store.is_minio else store.artifacts_bucket.apply(lambda bucket: f"s3://{bucket}/{REQUEST_LOG_PREFIX}")
    outputs: dict[str, Any] = {"mlflowUrl": mlflow.url, "kfpApiUrl": kfp.api_url, "featureServerUrl": features.url,
                               "servingImage": server_image.apply(lambda i: f"{i['repository']}:{i['tag']}") if server_image else outputs_server}
    if settings.monitoring:
        # Where alerts go, in the preview's outputs; alerts that would reach no one are a warning of the preview.
        routes, warnings = alert_routing.routing_summary(settings.observability)
        for warning in warnings:
            pulumi.log.warn(f"alerts: {warning}")
        outputs["alertRouting"] = " | ".join([routes, *warnings])
    # The images the pipelines run, by digest (infra/pipeline_images.py): the step image and the features step image.
    pipeline_images, reason = pipeline_images_of(settings, aws)
    if pipeline_images is not None:
        step_image = pipeline_images["steps"]
        after_kfp = pulumi.ResourceOptions(provider=provider, depends_on=[kfp])
        # What a training run needs: the scheduled one, and the one drift starts (the drift pipeline nests training).
        training_inputs = {
            "data_uri": store.data_bucket.apply(settings.pipelines.data_uri_in),
            # Where the rows come from, and the feature store the feature steps read and write: the server's own.
            "feature_source": settings.pipelines.feature_source,
            "feature_store": features.feature_store_yaml,
            "tracking_uri": mlflow.url,
            "auc_floor": settings.pipelines.auc_floor,
            "min_improvement": settings.pipelines.min_improvement,
            "s3_endpoint_url": store.endpoint_url,
            # Lineage: the commit the pipelines and the step image were built from.
            "git_commit": source_commit() or "unknown",
        }
        training = TrainingPipelines(
            "training", namespaces.KUBEFLOW.name, TRAINING_PIPELINE, kfp.api_url, settings.pipelines.schedule,
            training_inputs, step_image, pipeline_images["features"], opts=after_kfp,
        )
        outputs["pipelineVersion"] = training.version
        outputs["stepImage"] = step_image
        outputs["featureImage"] = pipeline_images["features"]
        if request_log is not None and settings.pipelines.drift_schedule:
            drift = TrainingPipelines(
                "drift", namespaces.KUBEFLOW.name, DRIFT_PIPELINE, kfp.api_url, settings.pipelines.drift_schedule,
                {
                    **training_inputs,
                    "log_uri": request_log,
                    "namespace": namespaces.MODELS.name,
                    "inference_service": served,
                    "pushgateway_url": pushgateway.url if pushgateway else "",
                },
                step_image, pipeline_images["features"], opts=after_kfp,
            )
            outputs["driftPipelineVersion"] = drift.version
    else:
        pulumi.log.warn(f"pipelines {reason}")
        outputs["pipelineVersion"] = reason
    if aws is not None:
        outputs["stepImageRepository"] = aws.step_image_repository
        outputs["featureImageRepository"] = aws.feature_image_repository
        outputs["servingImageRepository"] = aws.serving_image_repository

    if settings.sso.enabled:
        assert aws is not None and aws.ui_security_group_id is not None, "sso needs the AWS layer's security group"
        # After the controller: its webhook admits the Ingresses, and on destroy they go first (the ALB with them).
        SingleSignOn("sso", settings, namespaces.SSO.name, aws.ui_security_group_id, secrets, in_ns(namespaces.SSO.name, after=ingress_controller))
        outputs["uiUrls"] = urls(settings)

    # One owner per serving release (README "Who owns the serving release").
    if settings.serving.owner == "helm":
        values = platform_values(settings, roles.get("serving"), flows.chart_object_store(store), RELEASE_NAME, request_log or "")
        PlatformValues(f"{settings.serving.model_name}-platform-values", namespaces.MODELS.name, values,
                       in_ns(namespaces.MODELS.name))
        outputs["servingOwner"] = f"helm: pulumi up never changes the release; its platform values are in ConfigMap {PLATFORM_VALUES_CONFIGMAP}"
    elif settings.gitops.mode == "argocd":
        argocd = ArgoCd("argocd", namespaces.ARGOCD.name, settings.sso.enabled, in_ns(namespaces.ARGOCD.name), placement)
        if settings.serving.storage_uri:
            GitOpsServing(
                settings.serving.model_name, namespaces.ARGOCD.name, settings.gitops.repo_url, settings.gitops.revision,
                namespaces.MODELS.name,
                serving_values(settings, roles.get("serving"), flows.chart_object_store(store), RELEASE_NAME, request_log or ""),
                argocd, in_ns(namespaces.ARGOCD.name, namespaces.MODELS.name, namespaces.KSERVE.name),
            )
            outputs["servedModel"] = settings.serving.storage_uri
        outputs["servingOwner"] = (f"argocd: Application {namespaces.ARGOCD.name}/{settings.serving.model_name} syncs "
                                   f"charts/model-serving from {settings.gitops.repo_url}@{settings.gitops.revision} with this stack's values")
    elif settings.serving.storage_uri:
        ModelServing(
            settings.serving.model_name,
            namespaces.MODELS.name,
            serving_values(settings, roles.get("serving"), flows.chart_object_store(store), RELEASE_NAME, request_log or ""),
            in_ns(namespaces.MODELS.name, namespaces.KSERVE.name, after=serving_after),
        )
        outputs["servingOwner"] = "stack: roll out by changing the serving keys of this stack file"
        outputs["servedModel"] = settings.serving.storage_uri
    return outputs
