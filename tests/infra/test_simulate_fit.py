"""The scheduling simulation (tooling/simulate/scheduling.py): every pod finds a node, and each rule fires on its defect.

Fast: the mocked runs and hand-built objects only; tests/conformance/test_simulate.py runs the same
functions over every stack's rendered objects.
"""

from __future__ import annotations

import dataclasses

import pytest
import yaml

from infra import gpu, paths
from infra.components.node_group import NODE_TEMPLATE
from tooling import offline, render
from tooling.simulate import names, pods, scheduling
from tooling.simulate.findings import Finding

AWS_STACKS = [s for s in offline.STACKS if s != "local"]


def step_defaults() -> dict:
    """Argo's workflow-controller-configmap as the program's KFP base overlay patches it."""
    overlay = yaml.safe_load((paths.KFP_MANIFESTS / "base" / "kustomization.yaml").read_text())
    (patch,) = [yaml.safe_load(p["patch"]) for p in overlay["patches"] if "workflowDefaults" in p["patch"]]
    return {**patch, "metadata": {**patch["metadata"], "namespace": "kubeflow"}}


def deployment(name: str, spec: dict, namespace: str = "apps") -> dict:
    """A Deployment whose pod template has ``spec`` (containers default to one small container)."""
    spec = {"containers": [{"name": "main", "image": "nginx", "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}}}], **spec}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": namespace},
            "spec": {"template": {"spec": spec}}}


def container(cpu: str = "100m", memory: str = "64Mi", gpus: int = 0) -> dict:
    limits = {gpu.RESOURCE: str(gpus)} if gpus else {}
    return {"name": "main", "image": "example", "resources": {"requests": {"cpu": cpu, "memory": memory}, "limits": limits}}


GPU_POD = {"nodeSelector": gpu.node_selector(), "tolerations": [gpu.toleration()], "containers": [container(gpus=1)]}


def hand_built() -> list[dict]:
    """Pods of every shape the platform runs: anywhere, on CPU nodes, on GPU nodes, everywhere (DaemonSet), a model."""
    return [
        deployment("anywhere", {}),
        deployment("cpu-nodes", {"nodeSelector": {"mlplatform.io/role": "cpu"}, "containers": [container("3", "12Gi")]}),
        deployment("gpu-nodes", GPU_POD),
        deployment("on-demand", {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchExpressions": [{"key": "eks.amazonaws.com/capacityType", "operator": "In", "values": ["ON_DEMAND"]},
                                  {"key": "kubernetes.io/arch", "operator": "NotIn", "values": ["arm64"]},
                                  {"key": "eks.amazonaws.com/compute-type", "operator": "DoesNotExist"}]}]}}}}),
        {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "agent", "namespace": "kube-system"},
         "spec": {"template": {"spec": {"tolerations": [{"operator": "Exists"}], "containers": [container("50m", "50Mi")]}}}},
        {"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService", "metadata": {"name": "model", "namespace": "models"},
         "spec": {"predictor": {"nodeSelector": gpu.node_selector(), "tolerations": [gpu.toleration()],
                                "model": {"storageUri": "s3://bucket/model", "resources": container(gpus=1)["resources"]}}}},
        step_defaults(),
    ]


def program_objects(run: offline.OfflineRun) -> list[dict]:
    """The Kubernetes objects the program declares itself (no release or overlay rendered), with Argo's step defaults."""
    return [m for r in run.resources if (m := render.manifest_of(r)) and not m["kind"].endswith("Patch")] + [step_defaults()]


def lines(found: list[Finding]) -> list[str]:
    return [f.line() for f in found]


def staging_settings(**cluster: bool):
    """staging's settings with cluster switches the config would refuse (model_copy does not validate)."""
    settings = offline.settings_of("staging")[1]
    return settings.model_copy(update={"cluster": settings.cluster.model_copy(update=cluster)})


def with_group(settings, name: str, **changes):
    """``settings`` with node group ``name`` changed (unvalidated, as a planted defect)."""
    groups = tuple(g.model_copy(update=changes) if g.name == name else g for g in settings.node_groups)
    return settings.model_copy(update={"node_groups": groups})


def test_instance_table_covers_every_stack() -> None:
    """Every instance type a stack (or the project default) names is in instances.yaml, with infra/gpu.py's GPU count."""
    for stack in offline.STACKS:
        for group in offline.settings_of(stack)[1].node_groups:
            for kind in group.instance_types:
                assert kind in scheduling.INSTANCES, f"{stack}: {group.name} uses {kind}, missing from instances.yaml"
    for kind, spec in scheduling.INSTANCES.items():
        assert spec["gpus"] == (gpu.per_instance(kind) if kind.split(".")[0] in gpu.FAMILIES else 0), kind


def test_allocatable_follows_al2023_reservations() -> None:
    """Allocatable is capacity less nodeadm's kube-reserved (255Mi + 11Mi per pod, the CPU ladder) and 100Mi eviction."""
    assert scheduling.allocatable("m7i.large") == {"cpu": 1.93, "memory": (8192 - 255 - 11 * 29 - 100) * 2**20}
    assert scheduling.allocatable("m7i.xlarge")["cpu"] == 3.92
    assert scheduling.allocatable("m7i.2xlarge") == {"cpu": 7.91, "memory": (32768 - 255 - 11 * 58 - 100) * 2**20}


def test_quantities_and_pod_requests() -> None:
    """Requests are summed over containers and sidecars, the larger of that and any init step, limits and LimitRange filling gaps."""
    assert [pods.quantity(q) for q in ("500m", "2Gi", "1e3", "1.5", 4)] == [0.5, 2 * 2**30, 1000, 1.5, 4]
    with pytest.raises(ValueError, match="'2Gx' is not a Kubernetes quantity"):
        pods.quantity("2Gx")
    spec = {"containers": [container("1", "1Gi"), {"name": "b", "resources": {"limits": {"cpu": "500m"}}}],
            "initContainers": [{"name": "sidecar", "restartPolicy": "Always", **container("100m", "0")}, container("4", "0")]}
    assert pods.pod_requests(spec, {"memory": "256Mi"}) == {"cpu": 4.1, "memory": 2**30 + 256 * 2**20}


def test_node_selector_and_affinity_operators() -> None:
    """nodeSelector and required node affinity: In, NotIn, Exists, DoesNotExist, terms ORed, expressions ANDed."""
    labels = {"a": "1", "b": "2"}

    def affinity(*terms: list[dict]) -> dict:
        return {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchExpressions": list(t)} for t in terms]}}}}

    assert scheduling.selector_misses({"nodeSelector": {"a": "1"}}, labels) == []
    assert scheduling.selector_misses({"nodeSelector": {"a": "2", "c": "3"}}, labels) == ["label a=1, not 2", "lacks label c=3"]
    assert scheduling.selector_misses(affinity([{"key": "a", "operator": "NotIn", "values": ["1"]}],
                                               [{"key": "c", "operator": "DoesNotExist"}]), labels) == []
    assert scheduling.selector_misses(affinity([{"key": "b", "operator": "Exists"}, {"key": "a", "operator": "In", "values": ["9"]}]),
                                      labels) == ["label a=1, not In ['9']"]


def test_tolerations() -> None:
    """Exists with no key tolerates every taint of its effect; Equal needs key and value; effects must agree when given."""
    taint = {"key": gpu.RESOURCE, "value": "true", "effect": "NoSchedule"}
    assert scheduling._tolerates({"operator": "Exists"}, taint)
    assert scheduling._tolerates({"operator": "Exists", "effect": "NoSchedule"}, taint)
    assert not scheduling._tolerates({"operator": "Exists", "effect": "NoExecute"}, taint)
    assert not scheduling._tolerates({"key": "example.com/other", "operator": "Exists"}, taint)
    assert scheduling._tolerates({"key": gpu.RESOURCE, "value": "true"}, taint)
    assert not scheduling._tolerates({"key": gpu.RESOURCE, "value": "false"}, taint)


@pytest.mark.parametrize("stack", offline.STACKS)
def test_every_stack_pods_fit(stack: str, stack_runs: dict[str, offline.OfflineRun]) -> None:
    """The program's own pods, Argo's pipeline steps and a hand-built set of every shape fit each stack's node groups."""
    run = stack_runs[stack]
    found = scheduling.findings(run.settings, program_objects(run) + hand_built(), run.resources)
    assert lines(found) == []


def test_selector_no_group_has() -> None:
    """A nodeSelector that no node group's labels satisfy is a finding naming each group's mismatch."""
    found = scheduling.findings(staging_settings(), [deployment("batch", {"nodeSelector": {"mlplatform.io/role": "batch"}})])
    assert lines(found) == [
        "FINDING scheduling: Deployment apps/batch: fits no node group: system: label mlplatform.io/role=system, not batch; "
        "cpu-spot: label mlplatform.io/role=cpu, not batch; gpu: label mlplatform.io/role=gpu, not batch, taint "
        "nvidia.com/gpu=true:NoSchedule not tolerated; gpu-spot: label mlplatform.io/role=gpu, not batch, taint "
        "nvidia.com/gpu=true:NoSchedule not tolerated"]


def test_gpu_toleration_missing() -> None:
    """A pod selecting the GPU nodes without tolerating their taint fits no group; the GPU groups come first, blocked only by it."""
    found = scheduling.findings(staging_settings(), [deployment("gpu-no-toleration", {**GPU_POD, "tolerations": []})])
    assert lines(found) == [
        "FINDING scheduling: Deployment apps/gpu-no-toleration: fits no node group: gpu: taint nvidia.com/gpu=true:NoSchedule not "
        "tolerated; gpu-spot: taint nvidia.com/gpu=true:NoSchedule not tolerated; system: lacks label nvidia.com/gpu.present=true, "
        "requests 1 nvidia.com/gpu > 0 on m7i.large; cpu-spot: lacks label nvidia.com/gpu.present=true, requests 1 nvidia.com/gpu > 0 "
        "on m7i.xlarge"]


def test_requests_over_allocatable() -> None:
    """Requests above the smallest instance's allocatable (less the DaemonSets that run there) fit nowhere."""
    big = deployment("big", {"nodeSelector": {"mlplatform.io/role": "system"}, "containers": [container("1900m", "1Gi")]})
    daemon = hand_built()[4]  # 50m CPU on every node
    assert scheduling.findings(staging_settings(), [big]) == []
    assert lines(scheduling.findings(staging_settings(), [big, daemon])) == [
        "FINDING scheduling: Deployment apps/big: fits no node group: system: requests 1900m CPU > 1880m allocatable on m7i.large "
        "after DaemonSets' 50m; cpu-spot: label mlplatform.io/role=cpu, not system; gpu: label mlplatform.io/role=gpu, not system, "
        "taint nvidia.com/gpu=true:NoSchedule not tolerated; gpu-spot: label mlplatform.io/role=gpu, not system, taint "
        "nvidia.com/gpu=true:NoSchedule not tolerated"]
    memory = deployment("memory", {"nodeSelector": {"mlplatform.io/role": "cpu"}, "containers": [container("1", "15500Mi")]})
    assert [f.reason.split(";")[0] for f in scheduling.findings(staging_settings(), [memory])] == [
        "fits no node group: cpu-spot: requests 15500Mi memory > 15391Mi allocatable on m7i.xlarge"]


def test_gpu_count_over_instance() -> None:
    """A pod asking more GPUs than the GPU groups' instances have fits no group."""
    found = scheduling.findings(staging_settings(), [deployment("two-gpus", {**GPU_POD, "containers": [container(gpus=2)]})])
    assert lines(found)[0].startswith(
        "FINDING scheduling: Deployment apps/two-gpus: fits no node group: gpu: requests 2 nvidia.com/gpu > 1 on g6.xlarge; "
        "gpu-spot: requests 2 nvidia.com/gpu > 1 on g6.xlarge; system: lacks label nvidia.com/gpu.present=true")


def test_spot_nodes_off_strands_pipeline_steps() -> None:
    """With enableSpotNodes false no group has role cpu, so Argo's workflowDefaults strand every pipeline step."""
    assert lines(scheduling.findings(staging_settings(enable_spot_nodes=False), [step_defaults()])) == [
        "FINDING scheduling: ConfigMap kubeflow/workflow-controller-configmap workflowDefaults (pipeline steps): fits no node group: "
        "system: label mlplatform.io/role=system, not cpu; gpu: label mlplatform.io/role=gpu, not cpu, taint "
        "nvidia.com/gpu=true:NoSchedule not tolerated"]


def test_pipeline_steps_weigh_declared_resources() -> None:
    """The largest step an uploaded pipeline declares is weighed (here 5 CPUs, more than a cpu-spot node has)."""
    pipeline = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "p", "namespace": "kubeflow"}, "data": {"pipeline.yaml": yaml.safe_dump(
        {"deploymentSpec": {"executors": {"exec-a": {"container": {"image": "x", "resources": {"resourceCpuRequest": "5"}}}}}})}}
    (found,) = scheduling.findings(staging_settings(), [step_defaults(), pipeline])
    assert "cpu-spot: requests 5000m CPU > 3920m allocatable on m7i.xlarge" in found.reason


def test_arm64_group() -> None:
    """An arm64 AMI over amd64 instance types is a finding, and so is the amd64-only step image's only group being arm64."""
    settings = with_group(staging_settings(), "cpu-spot", ami_type="AL2023_ARM_64_STANDARD")
    image = "123456789012.dkr.ecr.us-east-1.amazonaws.com/mlp-staging-pipeline-steps@sha256:" + "5e" * 32
    pipeline = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "p", "namespace": "kubeflow"},
                "data": {"pipeline.yaml": yaml.safe_dump({"deploymentSpec": {"executors": {"exec-a": {"container": {"image": image}}}}})}}
    found = lines(scheduling.findings(settings, [step_defaults(), pipeline]))
    assert found[1] == ("FINDING scheduling: node group cpu-spot: AMI type AL2023_ARM_64_STANDARD is arm64, but m7i.xlarge, m6i.xlarge, "
                        "m5.xlarge, m7a.xlarge are not")
    assert found[0].startswith(
        "FINDING scheduling: ConfigMap kubeflow/workflow-controller-configmap workflowDefaults (pipeline steps): fits no node group: "
        "cpu-spot: arm64 nodes, and the pipeline step image (scripts/publish_step_image.sh builds it with no --platform on an amd64 "
        "runner) is amd64 only; system: label mlplatform.io/role=system, not cpu; gpu: ")


def test_instance_type_missing_from_table() -> None:
    """A stack naming an instance type the table lacks is told to add it."""
    settings = with_group(staging_settings(), "cpu-spot", instance_types=("m8i.xlarge", "m7i.xlarge", "m6i.xlarge"))
    assert lines(scheduling.findings(settings, [])) == [
        "FINDING scheduling: node group cpu-spot: instance type m8i.xlarge is not in tooling/simulate/instances.yaml; add its vCPU, "
        "memory, GPUs, arch, ENIs and IPv4 per ENI with their source"]


def test_daemonsets_flagged_only_when_they_fit_nowhere() -> None:
    """A DaemonSet fitting some group is fine; one fitting none is a finding; one on a label only MPS sharing sets is by design."""
    def daemon(name: str, selector: dict) -> dict:
        spec = {"nodeSelector": selector, "tolerations": [gpu.toleration()], "containers": [container()]}
        return {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": name, "namespace": "kube-system"},
                "spec": {"template": {"spec": spec}}}

    found = scheduling.findings(staging_settings(), [daemon("gpus", gpu.node_selector()), daemon("mps", {"nvidia.com/mps.capable": "true"}),
                                                     daemon("nowhere", {"example.com/x": "y"})])
    assert [f.subject for f in found] == ["DaemonSet kube-system/nowhere"]


@pytest.fixture
def staging_run(stack_runs: dict[str, offline.OfflineRun]) -> offline.OfflineRun:
    """staging's registrations (the node groups' labels, taints and Auto Scaling group tags)."""
    return stack_runs["staging"]


def test_scale_from_zero_needs_label_tags(staging_run: offline.OfflineRun) -> None:
    """A pod that fits only empty groups needs their node-template tags for every label it selects."""
    resources = [r for r in staging_run.resources if not (
        r.type == "aws:autoscaling/tag:Tag" and r.inputs["tag"]["key"] == f"{NODE_TEMPLATE}/label/mlplatform.io/role")]
    pod = deployment("gpu-role", {**GPU_POD, "nodeSelector": {"mlplatform.io/role": "gpu"}})
    assert scheduling.findings(staging_run.settings, [pod], staging_run.resources) == []
    assert lines(scheduling.findings(staging_run.settings, [pod], resources)) == [
        "FINDING scheduling: Deployment apps/gpu-role: fits only groups that start empty, and the Cluster Autoscaler's template of "
        "none fits: gpu: lacks node-template tag k8s.io/cluster-autoscaler/node-template/label/mlplatform.io/role=gpu; gpu-spot: "
        "lacks node-template tag k8s.io/cluster-autoscaler/node-template/label/mlplatform.io/role=gpu"]


def test_scale_from_zero_needs_taint_and_gpu_tags(staging_run: offline.OfflineRun) -> None:
    """An empty GPU group's ASG must carry its taint's and the autoscaler's GPU label's node-template tags."""
    dropped = (f"{NODE_TEMPLATE}/taint/{gpu.RESOURCE}", f"{NODE_TEMPLATE}/label/{scheduling.AUTOSCALER_GPU_LABEL}")
    resources = [r for r in staging_run.resources if not (r.type == "aws:autoscaling/tag:Tag" and r.inputs["tag"]["key"] in dropped
                                                            and "gpu-spot" in r.name)]
    assert lines(scheduling.findings(staging_run.settings, [], resources)) == [
        "FINDING scheduling: node group gpu-spot: starts empty, and its Auto Scaling group lacks node-template tag "
        "k8s.io/cluster-autoscaler/node-template/label/k8s.amazonaws.com/accelerator=nvidia: the autoscaler's template of it is "
        "no GPU node",
        "FINDING scheduling: node group gpu-spot: starts empty, and its Auto Scaling group lacks node-template tag "
        "k8s.io/cluster-autoscaler/node-template/taint/nvidia.com/gpu=true:NoSchedule: the autoscaler would start it for pods that "
        "do not tolerate the taint"]


def test_gpu_groups_carry_the_autoscaler_gpu_label(staging_run: offline.OfflineRun) -> None:
    """A GPU group without k8s.amazonaws.com/accelerator is a finding (the autoscaler would over-provision while drivers load)."""
    resources = [dataclasses.replace(r, inputs={**r.inputs, "labels": {k: v for k, v in r.inputs["labels"].items()
                                                                       if k != scheduling.AUTOSCALER_GPU_LABEL}})
                 if r.type == "aws:eks/nodeGroup:NodeGroup" and r.inputs["nodeGroupNamePrefix"] == "gpu-" else r
                 for r in staging_run.resources]
    assert lines(scheduling.findings(staging_run.settings, [], resources)) == [
        "FINDING scheduling: node group gpu: lacks label k8s.amazonaws.com/accelerator, the Cluster Autoscaler's GPU label on AWS: "
        "without it the autoscaler starts more GPU nodes while the first one's device plugin comes up"]


def test_local_stack_has_no_node_groups(stack_runs: dict[str, offline.OfflineRun]) -> None:
    """The local stack deploys to whatever cluster the kubeconfig names: nothing to fit against."""
    run = stack_runs["local"]
    assert scheduling.findings(run.settings, [deployment("batch", {"nodeSelector": {"mlplatform.io/role": "batch"}})], run.resources) == []


def planted(run: offline.OfflineRun, resource_type: str, logical: str = "", of: str = "", **inputs) -> offline.OfflineRun:
    """``run`` with a registration of ``resource_type`` (the first, or the one named ``of``) given new inputs or a new logical name."""
    (index, target) = next((i, r) for i, r in enumerate(run.resources) if r.type == resource_type and r.name == (of or r.name))
    changed = dataclasses.replace(target, name=logical or target.name, inputs={**target.inputs, **inputs},
                                  outputs={k: v for k, v in target.outputs.items() if k != "name"} if logical else target.outputs)
    return dataclasses.replace(run, resources=[*run.resources[:index], changed, *run.resources[index + 1:]])


@pytest.mark.parametrize("stack", offline.STACKS)
def test_every_stack_names_are_valid(stack: str, stack_runs: dict[str, offline.OfflineRun]) -> None:
    """Every physical name and tag the committed stacks make is within AWS's limits."""
    assert lines(names.findings(stack_runs[stack])) == []


def test_iam_role_name_limits(staging_run: offline.OfflineRun) -> None:
    """IAM role names: at most 64 characters given, 38 as a prefix, and an autoname counts Pulumi's 8 characters."""
    role = staging_run.of_type("aws:iam/role:Role")[0].name
    assert lines(names.findings(planted(staging_run, "aws:iam/role:Role", name="r" * 70))) == [
        f"FINDING names: aws:iam/role:Role {role}: IAM role name '{'r' * 70}' (name as given) is 70 characters; AWS allows 1 to 64"]
    (prefixed,) = names.findings(planted(staging_run, "aws:iam/role:Role", namePrefix="p" * 39))
    assert prefixed.reason.endswith("(namePrefix '" + "p" * 39 + "' (39) and the provider's 26 characters) is 65 characters; AWS allows 1 to 64")
    (autonamed,) = names.findings(planted(staging_run, "aws:iam/role:Role", logical="mlp-staging-" + "x" * 50))
    assert autonamed.reason.endswith(f"(the logical name 'mlp-staging-{'x' * 50}' and Pulumi's 8 characters) is 70 characters; AWS allows 1 to 64")


def test_bucket_name_rules(staging_run: offline.OfflineRun) -> None:
    """S3 bucket names: 3 to 63 lowercase letters, digits, dots and hyphens; no adjacent dots, no reserved suffix."""
    assert lines(names.findings(planted(staging_run, "aws:s3/bucket:Bucket", of="mlp-staging-data", bucket="MLP-Data"))) == [
        "FINDING names: aws:s3/bucket:Bucket mlp-staging-data: S3 bucket name 'MLP-Data' (bucket as given) has characters or "
        "a form AWS refuses; allowed: lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit"]
    assert [f.reason for f in names.findings(planted(staging_run, "aws:s3/bucket:Bucket", bucket="a..b-s3alias"))] == [
        "S3 bucket name 'a..b-s3alias' (bucket as given) has a suffix AWS reserves",
        "S3 bucket name 'a..b-s3alias' (bucket as given) has two dots in a row"]


def test_database_identifier_rules(staging_run: offline.OfflineRun) -> None:
    """RDS identifiers: a letter first, no two hyphens in a row, no hyphen last, at most 63."""
    assert [f.reason for f in names.findings(planted(staging_run, "aws:rds/instance:Instance", identifier="1db--x-"))] == [
        "RDS DB identifier '1db--x-' (identifier as given) has a hyphen last",
        "RDS DB identifier '1db--x-' (identifier as given) has characters or a form AWS refuses; allowed: lowercase letters, digits "
        "and hyphens, starting with a letter",
        "RDS DB identifier '1db--x-' (identifier as given) has two hyphens in a row"]


def test_kms_alias_cluster_node_group_and_log_group(staging_run: offline.OfflineRun) -> None:
    """KMS aliases outside alias/aws/, EKS cluster names to 100, node group names (prefix + 26) to 63, log groups to 512."""
    assert [f.reason for f in names.findings(planted(staging_run, "aws:kms/alias:Alias", name="alias/aws/s3"))] == [
        "KMS alias 'alias/aws/s3' (name as given) has the prefix alias/aws/, which AWS keeps for its own keys"]
    assert [f.reason for f in names.findings(planted(staging_run, "aws:eks/cluster:Cluster", name="c" * 101))] == [
        f"EKS cluster name '{'c' * 101}' (name as given) is 101 characters; AWS allows 1 to 100"]
    (group,) = names.findings(planted(staging_run, "aws:eks/nodeGroup:NodeGroup", nodeGroupNamePrefix="g" * 37 + "-"))
    assert group.reason.endswith("is 64 characters; AWS allows 1 to 63")
    (logs,) = names.findings(planted(staging_run, "aws:cloudwatch/logGroup:LogGroup", name="/aws/" + "l" * 508))
    assert logs.reason.endswith("is 513 characters; AWS allows 1 to 512")


def test_load_balancer_names(staging_run: offline.OfflineRun) -> None:
    """The serving chart's ALB group name must be one the controller takes; an explicit load-balancer-name at most 32."""
    assert [f.line() for f in names.findings(planted(staging_run, "kubernetes:helm.sh/v3:Release", of="fraud",
                                                     values={"loadBalancer": {"groupName": "MLP_staging"}}))] == [
        "FINDING names: kubernetes:helm.sh/v3:Release fraud: ALB group name 'MLP_staging' is refused by the load "
        "balancer controller: lowercase letters, digits, '-' and '.', starting and ending with a letter or digit, at most 63 characters"]
    ingress = {"metadata": {"annotations": {"alb.ingress.kubernetes.io/load-balancer-name": "k" * 33}}}
    assert [f.reason for f in names.findings(planted(staging_run, "kubernetes:core/v1:ConfigMap", **ingress))] == [
        f"load balancer name '{'k' * 33}' (load-balancer-name annotation) is 33 characters; AWS allows 1 to 32"]


def test_tag_limits(staging_run: offline.OfflineRun) -> None:
    """AWS tags: keys to 128 characters and not aws:, values to 256 (ASG node-template tags included)."""
    found = names.findings(planted(staging_run, "aws:s3/bucket:Bucket", tags={"k" * 129: "v", "aws:owner": "x", "long": "v" * 257}))
    assert [f.reason for f in found] == [
        "tag 'long' has a value of 257 characters; AWS allows 256",
        "tag key 'aws:owner' starts with aws:, which AWS keeps for itself",
        f"tag key '{'k' * 129}' is 129 characters; AWS allows 1 to 128"]
    key = f"{NODE_TEMPLATE}/label/example.com/{'x' * 80}"
    (tag,) = names.findings(planted(staging_run, "aws:autoscaling/tag:Tag", tag={"key": key, "value": "1", "propagateAtLaunch": False}))
    assert tag.reason == f"tag key '{key}' is {len(key)} characters; AWS allows 1 to 128"


def training_pipeline() -> dict:
    """The committed GPU training pipeline in a ConfigMap of the kubeflow namespace, as the program uploads a pipeline."""
    spec = (paths.ROOT / "pipelines" / "compiled" / "fraud-detection-training-gpu.yaml").read_text()
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "training", "namespace": "kubeflow"}, "data": {"pipeline.yaml": spec}}


def fitting_groups(pod: pods.Pod, settings) -> set[str]:
    return {g.settings.name for g in scheduling.node_groups(settings) if not scheduling.blockers(pod, g, settings)}


def test_gpu_training_step_lands_on_gpu_groups_only() -> None:
    """The GPU option's train step (its own kfp-kubernetes placement over workflowDefaults) fits gpu/gpu-spot and nothing else."""
    settings = staging_settings()
    found = {pod.subject: pod for pod in pods.pods([step_defaults(), training_pipeline()])}
    (step,) = [pod for subject, pod in found.items() if subject.endswith(" step exec-train")]
    assert step.requests[gpu.RESOURCE] == 1
    assert step.spec["nodeSelector"] == gpu.step_node_selector()
    assert fitting_groups(step, settings) == {"gpu", "gpu-spot"}
    (steps,) = [pod for subject, pod in found.items() if subject.endswith("workflowDefaults (pipeline steps)")]
    assert gpu.RESOURCE not in steps.requests and fitting_groups(steps, settings) == {"cpu-spot"}
    assert lines(scheduling.findings(settings, [step_defaults(), training_pipeline()])) == []


def test_gpu_step_without_the_role_key_fits_nothing() -> None:
    """Argo merges the step's nodeSelector into workflowDefaults' (role cpu): selecting only the GPU label strands the step."""
    pipeline = training_pipeline()
    broken = pipeline["data"]["pipeline.yaml"].replace(f"{gpu.ROLE_LABEL}: {gpu.ROLE}\n", "")
    assert broken != pipeline["data"]["pipeline.yaml"]
    found = lines(scheduling.findings(staging_settings(), [step_defaults(), {**pipeline, "data": {"pipeline.yaml": broken}}]))
    # Both train steps (the file branch's exec-train and the feature store branch's exec-train-2) are stranded.
    assert len(found) == 2, found
    for step in ("exec-train", "exec-train-2"):
        assert any(line.startswith(f"FINDING scheduling: ConfigMap kubeflow/training step {step}: fits no node group: "
                                   "gpu: label mlplatform.io/role=gpu, not cpu") for line in found), found
