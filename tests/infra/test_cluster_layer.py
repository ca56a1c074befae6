"""The cluster layer's resource graph for every stack, under mocks."""

from __future__ import annotations

import ipaddress
import json
import re
from pathlib import Path

import yaml

from infra import namespaces, paths, versions
from infra.components import kubeflow_pipelines as kfp_component
from infra.components import training_pipelines
from infra.components.platform_namespace import psa_labels
from infra.components.service_tls import TLS_CERT_ANNOTATION
from infra.pod_security import pod_spec_of, restricted_violations
from pipelines import cluster as credentials
from pipelines import image
from pipelines.features import image as features_image
from tooling import offline
from tooling.mocks import Registration

ROOT = Path(__file__).resolve().parents[2]
RELEASE = "kubernetes:helm.sh/v3:Release"
NAMESPACE = "kubernetes:core/v1:Namespace"
POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
CLUSTER_SCOPED = (NAMESPACE, "kubernetes:storage.k8s.io/v1:StorageClass", "kubernetes:scheduling.k8s.io/v1:PriorityClass",
                  "kubernetes:external-secrets.io/v1:ClusterSecretStore", "kubernetes:serving.kserve.io/v1alpha1:ClusterServingRuntime")
WORKLOAD_TYPES = ("kubernetes:apps/v1:Deployment", "kubernetes:apps/v1:StatefulSet", "kubernetes:batch/v1:Job")


def namespace_names(run: offline.OfflineRun) -> list[str]:
    return [r.inputs["metadata"]["name"] for r in run.of_type(NAMESPACE)]


def test_namespaces_carry_pod_security_labels(stack_run: offline.OfflineRun) -> None:
    """Each namespace enforces its level from the one table, audits and warns at restricted; exceptions say why."""
    table = {spec.name: spec for spec in namespaces.for_stack(stack_run.settings)}
    assert set(namespace_names(stack_run)) == set(table)
    for resource in stack_run.of_type(NAMESPACE):
        spec = table[resource.inputs["metadata"]["name"]]
        labels = resource.inputs["metadata"]["labels"]
        assert {k: v for k, v in labels.items() if k.startswith("pod-security")} == psa_labels(spec), resource.urn
        assert labels["pod-security.kubernetes.io/audit"] == labels["pod-security.kubernetes.io/warn"] == "restricted"
        if spec.enforce != "restricted":
            assert len(resource.inputs["metadata"]["annotations"]["mlplatform.io/pod-security-exception"]) > 20
    assert {"mlflow", "models", "cert-manager"} <= {n for n, s in table.items() if s.enforce == "restricted"}
    assert "default" not in table


def test_every_namespace_has_default_deny_and_dns(stack_run: offline.OfflineRun) -> None:
    """Every namespace denies all ingress and egress by default and allows DNS to kube-dns on 53 UDP+TCP."""
    policies = stack_run.of_type(POLICY)
    for name in namespace_names(stack_run):
        mine = {p.inputs["metadata"]["name"]: p.inputs["spec"] for p in policies if p.inputs["metadata"]["namespace"] == name}
        assert mine["default-deny"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}, name
        dns = mine["allow-dns"]["egress"][0]
        assert dns["to"][0]["podSelector"]["matchLabels"] == {"k8s-app": "kube-dns"}
        assert sorted((p["protocol"], p["port"]) for p in dns["ports"]) == [("TCP", 53), ("UDP", 53)]


def test_every_allow_names_its_peer(stack_run: offline.OfflineRun) -> None:
    """Allow policies name a namespace (and pods) or an ipBlock, with ports; none is an open allow-all."""
    for policy in stack_run.of_type(POLICY):
        spec = policy.inputs["spec"]
        for rule in spec.get("ingress", []) + spec.get("egress", []):
            peers = rule.get("from", rule.get("to"))
            assert peers, f"{policy.urn} allows everyone"
            for peer in peers:
                assert "ipBlock" in peer or peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"], policy.urn
            assert rule["ports"], f"{policy.urn} allows every port"


def flow_names(run: offline.OfflineRun) -> set[str]:
    return {p.inputs["metadata"]["labels"]["mlplatform.io/flow"] for p in run.of_type(POLICY) if "labels" in p.inputs["metadata"]}


def test_platform_flows_exist(stack_runs: dict[str, offline.OfflineRun]) -> None:
    """Pipelines reach MLflow and the store; MLflow its database and the store; monitoring reaches the models' metrics."""
    for stack, run in stack_runs.items():
        names = flow_names(run)
        store = "minio" if run.settings.object_store == "minio" else "s3"
        database = "postgres" if run.settings.database.kind == "in-cluster" else "rds"
        expected = {"pipelines-to-mlflow", f"pipelines-to-{store}", f"mlflow-to-{store}", f"mlflow-to-{database}"}
        assert expected <= names, (stack, expected - names)
        assert ("monitoring-to-models" in names) == run.settings.monitoring, stack


def _public(block: dict) -> bool:
    """Whether an ipBlock admits any public address (its CIDR minus its exceptions is not all private)."""
    network = ipaddress.IPv4Network(block["cidr"])
    if not network.is_private:
        return True
    remaining = [network]
    for excluded in map(ipaddress.IPv4Network, block.get("except", [])):
        remaining = [piece for net in remaining for piece in (net.address_exclude(excluded) if excluded.subnet_of(net) else [net])
                     if not piece.subnet_of(excluded)]
    return any(not net.is_private for net in remaining)


def test_only_the_git_alert_and_sign_in_flows_leave_for_the_internet(stack_runs: dict[str, offline.OfflineRun]) -> None:
    """Every egress reaches the cluster, the VPC (its AWS API endpoints included) or private ranges; the flows to
    public addresses are Argo CD's repo server to the git host, where GitOps is on, Alertmanager to its receivers
    (Slack, PagerDuty, an SMTP relay), where the stack declares some, the sign-in proxies to the OIDC provider, and, in an
    existing VPC only (the program's own VPC has a DynamoDB endpoint), the feature server's and the labelled feature
    steps' HTTPS to DynamoDB."""
    for stack, run in stack_runs.items():
        public = sorted(
            policy.inputs["metadata"]["labels"]["mlplatform.io/flow"]
            for policy in run.of_type(POLICY)
            for rule in policy.inputs["spec"].get("egress", [])
            for peer in rule.get("to", [])
            if "ipBlock" in peer and _public(peer["ipBlock"])
        )
        expected = (["alertmanager-to-receivers"] if run.settings.monitoring and run.settings.observability.receivers else [])
        expected += ["argocd-to-git"] if run.settings.gitops.mode == "argocd" else []
        expected += ["sso-to-oidc-provider"] if run.settings.sso.enabled else []
        own_vpc = not run.settings.network.existing_vpc_id
        expected += ["feature-server-to-dynamodb", "feature-steps-to-dynamodb"] if run.settings.is_aws and not own_vpc else []
        assert public == sorted(expected), stack


def test_the_models_namespace_policy_has_one_owner(stack_runs: dict[str, offline.OfflineRun]) -> None:
    """The program declares no policy in models (default deny and DNS aside): the serving chart owns its pods' policy."""
    for stack, run in stack_runs.items():
        in_models = {p.inputs["metadata"]["name"] for p in run.of_type(POLICY) if p.inputs["metadata"]["namespace"] == "models"}
        assert in_models == {"default-deny", "allow-dns"}, (stack, in_models)


def test_releases_and_manifests_are_pinned(stack_run: offline.OfflineRun) -> None:
    """Every Helm release has a fixed version; every kustomize source a fixed ref; every image a tag, never latest."""
    for release in stack_run.of_type(RELEASE):
        assert re.fullmatch(r"v?\d+\.\d+\.\d+", release.inputs["version"]), release.urn
    directories = stack_run.of_type("kubernetes:kustomize/v2:Directory")
    assert len(directories) == 2
    for directory in directories:
        remote = _remote_resources(Path(directory.inputs["directory"]))
        assert remote and all(r.endswith(f"?ref={versions.KFP_VERSION}") for r in remote), remote
    for workload in (r for t in WORKLOAD_TYPES for r in stack_run.of_type(t)):
        for container in pod_spec_of(workload.inputs)["containers"]:
            image = container["image"]
            assert re.search(r":[\w.-]+$", image) and not image.endswith(":latest"), image


def _remote_resources(overlay: Path) -> list[str]:
    """The remote resources an overlay pulls in, following its local bases."""
    kustomization = yaml.safe_load((ROOT / overlay / "kustomization.yaml").read_text())
    found: list[str] = []
    for resource in kustomization.get("resources", []):
        found += [resource] if "://" in resource else _remote_resources(overlay / resource)
    return found


def test_minio_only_where_configured(stack_runs: dict[str, offline.OfflineRun]) -> None:
    """MinIO is installed exactly on the stacks with objectStore minio (local), with generated credentials."""
    for stack, run in stack_runs.items():
        minio = [r for r in run.of_type(RELEASE) if r.inputs["chart"] == "minio"]
        assert len(minio) == (1 if run.settings.object_store == "minio" else 0), stack
    local = stack_runs["local"]
    (secret,) = [r for r in local.of_type("kubernetes:core/v1:Secret") if r.inputs["metadata"]["name"] == "minio-root"]
    assert len(secret.inputs["stringData"]["rootPassword"]) == 40
    assert [r for r in local.of_type("random:index/randomPassword:RandomPassword") if "minio" in r.name]


def test_rds_per_environment(stack_runs: dict[str, offline.OfflineRun]) -> None:
    """RDS: encrypted, private, TLS-only, backups; Multi-AZ and deletion protection in prod; in-cluster Postgres on dev/local."""
    for stack in ("staging", "prod"):
        (instance,) = [i for i in stack_runs[stack].of_type("aws:rds/instance:Instance") if i.name.endswith("-mlflow-db")]
        inputs = instance.inputs
        assert inputs["storageEncrypted"] is True and inputs["publiclyAccessible"] is False
        assert inputs["backupRetentionPeriod"] >= 7
        assert inputs["multiAz"] is (stack == "prod") and inputs["deletionProtection"] is (stack == "prod")
        assert instance.protect is (stack == "prod")
        (parameters,) = [g for g in stack_runs[stack].of_type("aws:rds/parameterGroup:ParameterGroup") if g.name.endswith("-mlflow-db")]
        assert {p["name"]: p["value"] for p in parameters.inputs["parameters"]}["rds.force_ssl"] == "1"
        (group,) = [g for g in stack_runs[stack].of_type("aws:ec2/securityGroup:SecurityGroup") if "mlflow-db" in g.name]
        # Only the cluster security group (its nodes and pods), never an address range.
        (cluster,) = stack_runs[stack].of_type("aws:eks/cluster:Cluster")
        (ingress,) = group.inputs["ingress"]
        assert ingress["securityGroups"] == [cluster.outputs["vpcConfig"]["clusterSecurityGroupId"]] and not ingress.get("cidrBlocks")
        assert inputs["kmsKeyId"].startswith("arn:aws:kms:")
    for stack in ("dev", "local"):
        assert not stack_runs[stack].of_type("aws:rds/instance:Instance")
        assert [r for r in stack_runs[stack].of_type("kubernetes:apps/v1:StatefulSet") if r.inputs["metadata"]["name"] == "postgres"]


def _by_name(run: offline.OfflineRun, resource_type: str, name: str, namespace: str) -> Registration:
    (match,) = [r for r in run.of_type(resource_type)
                if r.inputs["metadata"]["name"] == name and r.inputs["metadata"]["namespace"] == namespace]
    return match


def test_service_accounts_carry_their_irsa_roles(aws_run: offline.OfflineRun) -> None:
    """MLflow, the KFP service accounts and the serving release use the roles whose trust names them."""
    roles = aws_run.outputs["roleArns"]
    mlflow = _by_name(aws_run, "kubernetes:core/v1:ServiceAccount", "mlflow", "mlflow")
    assert mlflow.inputs["metadata"]["annotations"]["eks.amazonaws.com/role-arn"] == roles["mlflow"]
    # KFP's are the program's, annotated when created, and the overlay that runs their pods waits for them: EKS's
    # pod identity webhook injects credentials only at pod creation (aws/amazon-eks-pod-identity-webhook#28).
    (platform,) = [d for d in aws_run.of_type("kubernetes:kustomize/v2:Directory") if d.name.endswith("-platform-agnostic")]
    assert not aws_run.of_type("kubernetes:core/v1:ServiceAccountPatch")
    for account, role in (("pipeline-runner", "pipelines"), ("ml-pipeline", "pipelines"), ("ml-pipeline-ui", "pipelines-ui")):
        created = _by_name(aws_run, "kubernetes:core/v1:ServiceAccount", account, "kubeflow")
        assert created.inputs["metadata"]["annotations"]["eks.amazonaws.com/role-arn"] == roles[role]
        assert created.urn in platform.dependencies, f"{created.urn} is not created before KFP's Deployments"
    serving = [r for r in aws_run.of_type(RELEASE) if r.inputs["chart"] == "charts/model-serving"]
    if aws_run.settings.serving.storage_uri:
        (release,) = serving
        account = release.inputs["values"]["serviceAccount"]
        assert account == {"create": True, "name": "model-serving", "roleArn": roles["serving"]}
    else:
        assert serving == []


AWS_KEY = re.compile(r"AWS_ACCESS_KEY_ID|AWS_SECRET_ACCESS_KEY|ACCESSKEY|SECRETACCESSKEY|accessKeySecret|secretKeySecret|AKIA[0-9A-Z]{16}")
# The compiled pipelines' one mention of key variables: the optional Secret only the local stack's MinIO creates
# (test_steps_that_call_s3_read_minios_keys_where_the_local_stack_creates_them checks that no S3 stack has it).
STORE_KEY_REFERENCE = re.compile(
    r"- envVar: (?:AWS_ACCESS_KEY_ID|AWS_SECRET_ACCESS_KEY)\\n\s*secretKey: (?:"
    + "|".join(credentials.OBJECT_STORE_CREDENTIALS_ENV) + ")"
)


def test_no_static_aws_keys_in_any_kfp_object(aws_run: offline.OfflineRun) -> None:
    """On AWS, KFP reaches S3 through IRSA only: no access key in any KFP object or in the s3 overlay."""
    kfp = [r for r in aws_run.resources if "KubeflowPipelines" in r.urn or "kubeflow" in json.dumps(r.inputs.get("metadata", {}))]
    assert len(kfp) > 5
    for resource in kfp:
        assert not AWS_KEY.search(STORE_KEY_REFERENCE.sub("", json.dumps(resource.inputs))), resource.urn
    for overlay in ("base", "cluster-scoped"):
        assert not AWS_KEY.search((paths.KFP_MANIFESTS / overlay / "kustomization.yaml").read_text()), overlay
    launcher = _by_name(aws_run, "kubernetes:core/v1:ConfigMap", kfp_component.LAUNCHER_CONFIG, "kubeflow")
    assert yaml.safe_load(launcher.inputs["data"]["providers"])["s3"]["default"]["credentials"] == {"fromEnv": True}
    repositories = _by_name(aws_run, "kubernetes:core/v1:ConfigMap", kfp_component.ARTIFACT_REPOSITORIES, "kubeflow")
    argo = yaml.safe_load(repositories.inputs["data"][kfp_component.ARTIFACT_REPOSITORY_KEY])
    assert argo["s3"]["useSDKCreds"] is True and argo["s3"]["bucket"] == aws_run.outputs["artifactsBucket"]
    # Nothing of upstream's is patched live: the only Deployment patches set the TLS digest annotation, a field upstream leaves unset.
    assert not aws_run.of_type("kubernetes:core/v1:ConfigMapPatch")
    # (KServe's controller has its own: replicas and priority, which its chart neither sets nor offers; test_placement.)
    patches = [p for p in aws_run.of_type("kubernetes:apps/v1:DeploymentPatch") if p.inputs["metadata"]["namespace"] == "kubeflow"]
    # (No MySQL of its own with kfpDatabase rds: then only its clients restart, on a changed RDS CA bundle.)
    in_cluster = {"mysql"} if aws_run.settings.kfp_database.kind == "in-cluster" else set()
    assert {p.inputs["metadata"]["name"] for p in patches} == {*in_cluster, *kfp_component.MYSQL_CLIENTS}
    for patch in patches:
        assert set(patch.inputs) == {"apiVersion", "kind", "metadata", "spec"} and patch.inputs["spec"] == {
            "template": {"metadata": {"annotations": {TLS_CERT_ANNOTATION: patch.inputs["spec"]["template"]["metadata"]["annotations"][TLS_CERT_ANNOTATION]}}}}


def test_kfp_steps_default_to_cpu_spot_nodes() -> None:
    """Argo's workflow defaults in the base overlay put pipeline steps on the CPU nodes the program names."""
    overlay = yaml.safe_load((paths.KFP_MANIFESTS / "base" / "kustomization.yaml").read_text())
    (patch,) = [yaml.safe_load(p["patch"]) for p in overlay["patches"] if "workflowDefaults" in p["patch"]]
    defaults = yaml.safe_load(patch["data"]["workflowDefaults"])
    assert defaults["spec"]["nodeSelector"] == kfp_component.STEP_NODE_SELECTOR


def test_seaweedfs_is_replaced_by_the_platform_store() -> None:
    """The base overlay deletes the bundled SeaweedFS store and its static-key Secret."""
    overlay = yaml.safe_load((paths.KFP_MANIFESTS / "base" / "kustomization.yaml").read_text())
    deleted = [p for p in overlay["patches"] if "$patch: delete" in p["patch"]]
    assert any("seaweedfs" in p.get("target", {}).get("name", "") for p in deleted)
    assert any("mlpipeline-minio-artifact" in p["patch"] for p in deleted)


def _uploads(run: offline.OfflineRun) -> dict[str, dict]:
    """The upload Jobs by pipeline name: their env."""
    jobs = {}
    for job in run.of_type("kubernetes:batch/v1:Job"):
        if job.inputs["metadata"].get("labels", {}).get("app.kubernetes.io/name") != "pipeline-upload":
            continue
        env = {e["name"]: e["value"] for e in job.inputs["spec"]["template"]["spec"]["containers"][0]["env"] if "value" in e}
        jobs[env["PIPELINE_NAME"]] = {"name": job.inputs["metadata"]["name"], **env}
    return jobs


def test_pipeline_upload_is_idempotent(step_image: dict[str, str]) -> None:
    """The same spec, image and parameters give the same version and Job name; a changed one gives a new version."""
    first, second = offline.run("staging", step_image), offline.run("staging", step_image)
    assert _uploads(first) == _uploads(second) and all(j["name"].startswith("upload-") for j in _uploads(first).values())
    assert first.outputs["pipelineVersion"] == second.outputs["pipelineVersion"]
    assert first.outputs["pipelineVersion"].startswith("fraud-detection-training-")
    assert first.outputs["driftPipelineVersion"].startswith("model-drift-")
    name = training_pipelines.version_name
    assert name("p", "spec", "0 3 * * *", {"a": 1}) == name("p", "spec", "0 3 * * *", {"a": 1})
    assert name("p", "spec", "0 3 * * *", {"a": 1}) != name("p", "spec2", "0 3 * * *", {"a": 1})
    assert name("p", "spec", "0 3 * * *", {"a": 1}) != name("p", "spec", "0 4 * * *", {"a": 1})
    changed = offline.run("staging", {**step_image, "pipelineAucFloor": "0.95"})
    assert changed.outputs["pipelineVersion"] != first.outputs["pipelineVersion"]
    rebuilt = offline.run("staging", {"pipelineStepImageDigest": "sha256:" + "7f" * 32})
    assert rebuilt.outputs["pipelineVersion"] != first.outputs["pipelineVersion"]


def test_no_step_image_no_pipelines_and_the_output_says_why() -> None:
    """`pulumi up` with no image of this checkout in the stack's repository (a first deploy) uploads nothing, and the
    stack output says which tag to push."""
    run = offline.run("staging", step_image_pushed=False)
    assert _uploads(run) == {}, "an upload Job without a step image"
    assert run.outputs["pipelineVersion"].startswith("not deployed: no step image yet")
    assert image.content_tag() in run.outputs["pipelineVersion"] and "pipelineStepImageDigest" in run.outputs["pipelineVersion"]
    assert run.outputs["stepImageRepository"].endswith("/mlp-staging-pipeline-steps")


def test_previews_show_the_pipelines_without_a_digest_in_config() -> None:
    """The committed staging stack (no digest in its file) declares both pipelines, pinned to the digest of the image
    pushed under this checkout's content tag; a preview before that image is pushed keeps them, image unknown."""
    run = offline.run("staging")
    uploads = _uploads(run)
    assert set(uploads) == {"fraud-detection-training", "model-drift"}
    assert run.outputs["stepImage"].startswith(run.outputs["stepImageRepository"] + "@sha256:")
    unpushed = offline.run("staging", step_image_pushed=False, preview=True)
    assert {j.name for j in unpushed.of_type("kubernetes:batch/v1:Job")} == {j.name for j in run.of_type("kubernetes:batch/v1:Job")}


def test_every_deployed_step_runs_the_stacks_image_by_digest(stack_runs: dict[str, offline.OfflineRun], step_image: dict[str, str]) -> None:
    """Each uploaded spec pins every step to the stack's repository at the given digest, and installs nothing."""
    for stack, run in stack_runs.items():
        configs = [c for c in run.of_type("kubernetes:core/v1:ConfigMap") if "pipeline.yaml" in c.inputs.get("data", {})]
        assert len(configs) == (2 if run.settings.object_store == "s3" else 1), stack
        repository = run.outputs.get("stepImageRepository", image.LOCAL_REPOSITORY)
        for config in configs:
            spec = config.inputs["data"]["pipeline.yaml"]
            features = run.outputs.get("featureImageRepository", features_image.LOCAL_REPOSITORY)
            assert set(image.images(spec)) == {f"{repository}@{step_image['pipelineStepImageDigest']}",
                                               f"{features}@{step_image['pipelineFeatureImageDigest']}"}, stack
            assert "pip install" not in spec, stack


def test_step_image_and_upload_job_share_one_python_base() -> None:
    """The step image's base (pipelines/Dockerfile) is the pinned Python image the upload Job runs (infra/versions.py)."""
    dockerfile = (ROOT / "pipelines" / "Dockerfile").read_text()
    (base,) = [line.split()[1] for line in dockerfile.splitlines() if line.startswith("FROM ")]
    assert base == versions.IMAGES["python"]


def test_step_image_repository_is_immutable_scanned_and_encrypted(aws_run: offline.OfflineRun) -> None:
    """The ECR repositories (step image, model server image): immutable tags, scan on push, the stack's KMS key."""
    repositories = aws_run.of_type("aws:ecr/repository:Repository")
    assert sorted(r.inputs["name"] for r in repositories) == [f"{aws_run.settings.name}-{suffix}" for suffix in ("feature-steps", "model-server", "pipeline-steps")]
    for repository in repositories:
        assert repository.inputs["imageTagMutability"] == "IMMUTABLE"
        assert repository.inputs["imageScanningConfiguration"]["scanOnPush"] is True
        (encryption,) = repository.inputs["encryptionConfigurations"]
        assert encryption["encryptionType"] == "KMS" and encryption["kmsKey"].startswith("arn:aws:kms:")


def test_recurring_run_parameters_come_from_the_stack(stack_runs: dict[str, offline.OfflineRun]) -> None:
    """The upload Jobs carry the stack's schedules and thresholds, MLflow's service URL, the data URI and the lineage commit."""
    for run in stack_runs.values():
        jobs = _uploads(run)
        training = jobs["fraud-detection-training"]
        assert training["SCHEDULE"] == run.settings.pipelines.schedule
        parameters = json.loads(training["PARAMETERS"])
        assert parameters["tracking_uri"] == "http://mlflow.mlflow.svc.cluster.local:5000"
        assert parameters["auc_floor"] == run.settings.pipelines.auc_floor
        assert parameters["git_commit"] == (training_pipelines.source_commit() or "unknown")
        if run.settings.object_store == "s3":
            assert parameters["data_uri"] == f"s3://{run.outputs['dataBucket']}/fraud/transactions.parquet"
            drift = jobs["model-drift"]
            assert drift["SCHEDULE"] == run.settings.pipelines.drift_schedule
            drift_parameters = json.loads(drift["PARAMETERS"])
            assert drift_parameters["log_uri"] == f"s3://{run.outputs['artifactsBucket']}/inference-logs"
            assert drift_parameters["inference_service"] == f"{run.settings.serving.model_name}-model-serving"
            assert drift_parameters["pushgateway_url"] == (
                "http://pushgateway.monitoring.svc.cluster.local:9091" if run.settings.monitoring else "")
            # The retraining drift starts reads what the scheduled training reads, with the same floors and lineage.
            for key in ("data_uri", "tracking_uri", "auc_floor", "min_improvement", "s3_endpoint_url", "git_commit",
                        "feature_source", "feature_store"):
                assert drift_parameters[key] == parameters[key], key
        for name, job in jobs.items():
            spec = next(yaml.safe_load_all((training_pipelines.COMPILED / f"{name}.yaml").read_text()))
            declared = spec["root"]["inputDefinitions"]["parameters"]
            assert set(json.loads(job["PARAMETERS"])) <= set(declared), f"{name}: parameters the pipeline does not declare"


def test_serving_release_gets_the_stack_values(stack_runs: dict[str, offline.OfflineRun]) -> None:
    """The serving chart is released from this repository with the stack's model, replicas and mode."""
    for stack in ("staging", "prod"):
        run = stack_runs[stack]
        (release,) = [r for r in run.of_type(RELEASE) if r.inputs["chart"] == "charts/model-serving"]
        values = release.inputs["values"]
        assert release.inputs["namespace"] == "models" and release.inputs["name"] == run.settings.serving.model_name
        assert values["model"]["storageUri"] == run.settings.serving.storage_uri
        assert values["autoscaling"]["minReplicas"] == run.settings.serving.min_replicas
        assert values["autoscaling"]["maxReplicas"] == run.settings.serving.max_replicas
        assert values["monitoring"] == {"enabled": run.settings.monitoring, "release": "kube-prometheus-stack"}
    new_model = "s3://mlp-staging-artifacts-123456789012/mlflow/1/models/m-new/artifacts"
    canary = offline.run("staging", {"servingPredictorName": "v1", "servingCanaryName": "v2", "servingCanaryStorageUri": new_model,
                                     "servingCanaryPercent": 25})
    (release,) = [r for r in canary.of_type(RELEASE) if r.inputs["chart"] == "charts/model-serving"]
    assert release.inputs["values"]["predictor"] == {"name": "v1"}
    assert release.inputs["values"]["canary"] == {"name": "v2", "storageUri": new_model, "trafficPercent": 25}


def test_one_owner_per_serving_release(stack_runs: dict[str, offline.OfflineRun], tmp_path: Path) -> None:
    """servingOwner stack: the program releases the model; helm: no release, only the platform's values, which render the chart."""
    from infra.components import model_serving

    staging = stack_runs["staging"]
    assert staging.settings.serving.owner == "stack"
    assert [r for r in staging.of_type(RELEASE) if r.inputs["chart"] == "charts/model-serving"]
    assert staging.outputs["servingOwner"].startswith("stack:")

    dev = stack_runs["dev"]
    assert dev.settings.serving.owner == "helm"
    # No Pulumi resource carries a model, so `pulumi up` has nothing to revert a `helm upgrade` to.
    assert not [r for r in dev.of_type(RELEASE) if r.inputs["chart"] == "charts/model-serving"]
    (configmap,) = [c for c in dev.of_type("kubernetes:core/v1:ConfigMap")
                    if c.inputs["metadata"]["name"] == model_serving.PLATFORM_VALUES_CONFIGMAP]
    assert configmap.inputs["metadata"]["namespace"] == namespaces.MODELS.name
    assert model_serving.PLATFORM_VALUES_CONFIGMAP in dev.outputs["servingOwner"]
    values = yaml.safe_load(configmap.inputs["data"]["values.yaml"])
    assert not {"predictor", "canary"} & set(values) and "storageUri" not in values["model"], "rollout values belong to helm upgrade"
    assert values["serviceAccount"]["name"] == "model-serving" and values["serviceAccount"]["roleArn"].startswith("arn:aws:iam::")
    # What the README tells ML engineers to run renders with these values.
    platform = tmp_path / "platform.yaml"
    platform.write_text(configmap.inputs["data"]["values.yaml"])
    from tests.charts.conftest import by_kind, render

    (isvc,) = by_kind(render(platform, sets=("model.storageUri=s3://b/mlflow/1/run/artifacts/model",)), "InferenceService")
    assert isvc["spec"]["predictor"]["serviceAccountName"] == "model-serving"


def test_program_workloads_meet_restricted_pod_security(stack_run: offline.OfflineRun) -> None:
    """Every workload the program declares itself passes the restricted-profile checks and sets resources."""
    workloads = [r for t in WORKLOAD_TYPES for r in stack_run.of_type(t)]
    assert workloads
    for workload in workloads:
        spec = pod_spec_of(workload.inputs)
        assert restricted_violations(spec) == [], workload.urn
        for container in spec["containers"]:
            assert {"cpu", "memory"} <= set(container["resources"]["limits"]), workload.urn
            assert {"cpu", "memory"} <= set(container["resources"]["requests"]), workload.urn
        assert workload.inputs["metadata"]["namespace"] != "default"


def test_served_model_renders_restricted_with_the_stack_values(stack_runs: dict[str, offline.OfflineRun], tmp_path: Path) -> None:
    """The serving release's values render with the real helm into a restricted predictor pod."""
    from tests.charts.conftest import CHART, render

    run = stack_runs["prod"]
    (release,) = [r for r in run.of_type(RELEASE) if r.inputs["chart"] == "charts/model-serving"]
    values = tmp_path / "values.yaml"
    values.write_text(yaml.safe_dump(release.inputs["values"]))
    objects = render(values, release=release.inputs["name"], namespace="models")
    (isvc,) = [o for o in objects if o["kind"] == "InferenceService"]
    assert restricted_violations(pod_spec_of(isvc)) == []
    assert isvc["spec"]["predictor"]["model"]["storageUri"] == run.settings.serving.storage_uri
    assert CHART.exists()


def test_nothing_runs_in_default(stack_run: offline.OfflineRun) -> None:
    """Every namespaced object the program declares names a namespace other than default."""
    for resource in stack_run.resources:
        metadata = resource.inputs.get("metadata")
        if resource.type.startswith("kubernetes:") and isinstance(metadata, dict) and resource.type not in CLUSTER_SCOPED:
            assert metadata.get("namespace") not in (None, "", "default"), resource.urn
    for release in stack_run.of_type(RELEASE):
        assert release.inputs["namespace"] not in ("", "default"), release.urn


def test_device_plugin_targets_gpu_nodes(stack_runs: dict[str, offline.OfflineRun]) -> None:
    """The NVIDIA device plugin runs only on GPU nodes, tolerating their taint; none without GPU groups."""
    (plugin,) = [r for r in stack_runs["prod"].of_type(RELEASE) if r.inputs["chart"] == "nvidia-device-plugin"]
    assert plugin.inputs["values"]["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in plugin.inputs["values"]["tolerations"]
    assert plugin.inputs["namespace"] == "nvidia-device-plugin"
    assert not [r for r in stack_runs["local"].of_type(RELEASE) if r.inputs["chart"] == "nvidia-device-plugin"]


def test_kserve_and_cert_manager_versions(stack_run: offline.OfflineRun) -> None:
    """KServe's two charts share v0.20.0 and come after cert-manager v1.21 with CRDs enabled."""
    releases = {r.inputs["chart"].rsplit("/", 1)[-1]: r for r in stack_run.of_type(RELEASE)}
    assert releases["kserve-crd"].inputs["version"] == releases["kserve-resources"].inputs["version"] == "v0.20.0"
    assert releases["cert-manager"].inputs["version"].startswith("v1.21.")
    assert releases["cert-manager"].inputs["values"]["crds"]["enabled"] is True
    mode = releases["kserve-resources"].inputs["values"]["kserve"]["controller"]["deploymentMode"]
    assert mode == stack_run.settings.kserve_deployment_mode


def test_pipeline_steps_read_the_mlflow_credentials_the_program_creates(stack_runs: dict[str, offline.OfflineRun]) -> None:
    """With MLflow auth on, KFP's namespace holds the credentials Secret (synced from Secrets Manager on AWS stacks,
    generated on the local one), and every compiled step that calls MLflow reads it."""
    for stack, kind, data in (("prod", "kubernetes:external-secrets.io/v1:ExternalSecret", lambda i: i["spec"]["target"]["template"]["data"]),
                              ("local", "kubernetes:core/v1:Secret", lambda i: i["stringData"])):
        secrets = [s.inputs for s in stack_runs[stack].of_type(kind) if s.inputs["metadata"]["name"] == credentials.MLFLOW_CREDENTIALS_SECRET]
        assert [s["metadata"]["namespace"] for s in secrets] == [namespaces.KUBEFLOW.name], stack
        assert set(data(secrets[0])) == set(credentials.MLFLOW_CREDENTIALS_ENV), stack
    # On by default on every stack; turned off, there is no credentials Secret.
    for stack, run in stack_runs.items():
        assert run.settings.mlflow_basic_auth, stack
    assert not any(
        s.inputs["metadata"]["name"] == credentials.MLFLOW_CREDENTIALS_SECRET
        for s in offline.run("local", {"mlflowBasicAuth": False}).of_type("kubernetes:core/v1:Secret")
    ), "without MLflow auth there is no credentials Secret"

    # Training's two (evaluate and register) in each of its branches (from a file, through the feature store); the
    # drift pipeline nests the training pipeline (drift retrains): its own step and training's four.
    for name, count in (("fraud-detection-training", 4), ("model-drift", 5)):
        spec, platform = yaml.safe_load_all((ROOT / "pipelines" / "compiled" / f"{name}.yaml").read_text())
        executors = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
        # Every task, at any depth of the branches.
        tasks = {**spec["root"]["dag"]["tasks"]}
        for component in spec["components"].values():
            tasks.update(component.get("dag", {}).get("tasks", {}))
        mlflow_steps = [
            spec["components"][task["componentRef"]["name"]]["executorLabel"]
            for task in tasks.values()
            # A nested pipeline's task passes tracking_uri on to its own steps (counted above): a DAG, no executor.
            if "tracking_uri" in task.get("inputs", {}).get("parameters", {})
            and "executorLabel" in spec["components"][task["componentRef"]["name"]]
        ]
        assert len(mlflow_steps) == count, (name, mlflow_steps)
        _reads_the_credentials(executors, mlflow_steps)


def _reads_the_credentials(executors: dict, mlflow_steps: list[str]) -> None:
    for executor in mlflow_steps:
        (secret,) = [s for s in executors[executor]["secretAsEnv"] if s["secretName"] == credentials.MLFLOW_CREDENTIALS_SECRET]
        assert {e["secretKey"]: e["envVar"] for e in secret["keyToEnv"]} == credentials.MLFLOW_CREDENTIALS_ENV, executor
        # Optional: stacks without auth have no Secret and the step must still start.
        assert secret["optional"] is True, executor


def test_steps_that_call_s3_read_minios_keys_where_the_local_stack_creates_them(stack_runs: dict[str, offline.OfflineRun]) -> None:
    """The local stack's MinIO needs keys (no IRSA): the Secret is in KFP's namespace, where the steps run, and every
    compiled step that calls S3 itself (those given an ``s3_endpoint_url``: ingest, detect-drift, the feature steps)
    reads it into the AWS SDK's variables, optionally (S3 stacks have no such Secret: IRSA)."""
    keys = {s.inputs["metadata"]["namespace"]: s.inputs["stringData"] for s in stack_runs["local"].of_type("kubernetes:core/v1:Secret")
            if s.inputs["metadata"]["name"] == credentials.OBJECT_STORE_CREDENTIALS_SECRET}
    assert set(keys[namespaces.KUBEFLOW.name]) == set(credentials.OBJECT_STORE_CREDENTIALS_ENV)
    for stack in ("staging", "prod"):
        assert not any(s.inputs["metadata"]["name"] == credentials.OBJECT_STORE_CREDENTIALS_SECRET
                       for s in stack_runs[stack].of_type("kubernetes:core/v1:Secret")), stack
    for path in sorted((ROOT / "pipelines" / "compiled").glob("*.yaml")):
        spec, platform = yaml.safe_load_all(path.read_text())
        executors = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
        s3_steps = {component["executorLabel"] for component in spec["components"].values()
                    if "executorLabel" in component and "s3_endpoint_url" in component.get("inputDefinitions", {}).get("parameters", {})}
        assert len(s3_steps) >= 3, (path.name, s3_steps)
        for executor in s3_steps:
            (secret,) = [s for s in executors.get(executor, {}).get("secretAsEnv", [])
                         if s["secretName"] == credentials.OBJECT_STORE_CREDENTIALS_SECRET] or [None]
            assert secret is not None, (path.name, executor)
            assert {e["secretKey"]: e["envVar"] for e in secret["keyToEnv"]} == credentials.OBJECT_STORE_CREDENTIALS_ENV
            assert secret["optional"] is True, executor


def test_shallow_and_full_clones_deploy_the_same_pipeline_version(tmp_path: Path, monkeypatch) -> None:
    """A depth-1 clone (CI's default checkout) cannot tell which commit last changed the pipelines: it records no lineage
    instead of HEAD, and the version, named by what the pipeline does, is the full clone's; the deploy jobs that run
    `pulumi up` check out the whole history."""
    import subprocess

    full = subprocess.run(["git", "-C", str(ROOT), "log", "-1", "--format=%H", "--", *training_pipelines.PIPELINE_SOURCES],
                          capture_output=True, text=True, check=True).stdout.strip()
    shallow = tmp_path / "shallow"
    subprocess.run(["git", "clone", "--quiet", "--depth", "1", f"file://{ROOT}", str(shallow)], check=True)
    monkeypatch.setattr(training_pipelines, "ROOT", shallow)
    assert training_pipelines.source_commit() == ""
    monkeypatch.setattr(training_pipelines, "ROOT", ROOT)
    assert training_pipelines.source_commit().removesuffix("-dirty") == full
    spec, parameters = "spec", {"data_uri": "s3://b/x.csv", "auc_floor": 0.8}
    versions = {training_pipelines.version_name("p", spec, "0 3 * * *", {**parameters, "git_commit": commit}) for commit in (full, "unknown")}
    assert len(versions) == 1
    assert training_pipelines.version_name("p", spec, "0 3 * * *", {**parameters, "auc_floor": 0.9}) not in versions
    deploy = yaml.safe_load((ROOT / ".github" / "workflows" / "deploy.yml").read_text())
    deploying = [job["steps"] for job in deploy["jobs"].values()
                 if any("pulumi" in step.get("uses", "") and step.get("with", {}).get("command") == "up" for step in job.get("steps", []))]
    assert len(deploying) >= 2, "no deploy job runs pulumi up"
    for steps in deploying:
        (checkout,) = [step for step in steps if step.get("uses", "").startswith("actions/checkout@")]
        assert checkout["with"]["fetch-depth"] == 0
