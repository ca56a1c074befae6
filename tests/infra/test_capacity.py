"""What keeps the cluster's capacity right: the Cluster Autoscaler, the node-template tags it scales empty groups
from, the GPU label it waits on, and the namespaces' quotas and container defaults."""

from __future__ import annotations

from infra import gpu, namespaces
from infra.components.platform_namespace import CONTAINER_DEFAULTS, TEAM_QUOTA
from tooling import offline

RELEASE = "kubernetes:helm.sh/v3:Release"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
ASG_TAG = "aws:autoscaling/tag:Tag"
TEMPLATE = "k8s.io/cluster-autoscaler/node-template"


def _by_namespace(run: offline.OfflineRun, resource_type: str) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = {}
    for resource in run.of_type(resource_type):
        found.setdefault(resource.inputs["metadata"]["namespace"], []).append(resource.inputs)
    return found


def test_the_cluster_autoscaler_runs_for_the_stacks_cluster(aws_run: offline.OfflineRun) -> None:
    """Every AWS stack installs the Cluster Autoscaler in kube-system, discovering this cluster's groups, with its IRSA role."""
    (release,) = [r for r in aws_run.of_type(RELEASE) if r.inputs["chart"] == "cluster-autoscaler"]
    assert release.inputs["namespace"] == "kube-system"
    values = release.inputs["values"]
    assert values["autoDiscovery"]["clusterName"] == aws_run.settings.name
    assert values["rbac"]["serviceAccount"]["annotations"]["eks.amazonaws.com/role-arn"] == aws_run.outputs["roleArns"]["cluster-autoscaler"]


def test_every_group_carries_the_node_template_the_autoscaler_scales_it_from_zero_with(aws_run: offline.OfflineRun) -> None:
    """Each node group's Auto Scaling group is tagged with every label of the group, its taints and its GPUs, so the
    autoscaler can scale it up from zero (EKS does not copy a managed group's labels and taints to its ASG)."""
    groups = aws_run.of_type(NODE_GROUP)
    assert groups
    for group in groups:
        asg = group.outputs["resources"][0]["autoscalingGroups"][0]["name"]
        tags = {t.inputs["tag"]["key"]: t.inputs["tag"]["value"] for t in aws_run.of_type(ASG_TAG) if t.inputs["autoscalingGroupName"] == asg}
        expected = {f"{TEMPLATE}/label/{key}": value for key, value in group.inputs["labels"].items()}
        for taint in group.inputs.get("taints") or []:
            effect = {"NO_SCHEDULE": "NoSchedule", "NO_EXECUTE": "NoExecute", "PREFER_NO_SCHEDULE": "PreferNoSchedule"}[taint["effect"]]
            expected[f"{TEMPLATE}/taint/{taint['key']}"] = f"{taint['value']}:{effect}"
        assert expected.items() <= tags.items(), f"{group.urn}: missing {sorted(set(expected) - set(tags))}"
        if group.inputs.get("taints"):
            assert int(tags[f"{TEMPLATE}/resources/{gpu.RESOURCE}"]) >= 1, group.urn


def test_gpu_groups_carry_the_autoscalers_gpu_label(aws_run: offline.OfflineRun) -> None:
    """The autoscaler knows a GPU node by k8s.amazonaws.com/accelerator and waits for its device plugin instead of adding
    nodes; the label names the GPU, or `nvidia` for a group whose instance types differ in GPU."""
    gpu_groups = [g for g in aws_run.of_type(NODE_GROUP) if g.inputs.get("taints")]
    cpu_groups = [g for g in aws_run.of_type(NODE_GROUP) if not g.inputs.get("taints")]
    assert cpu_groups and all(gpu.AUTOSCALER_LABEL not in g.inputs["labels"] for g in cpu_groups)
    for group in gpu_groups:
        types = tuple(group.inputs["instanceTypes"])
        families = {t.split(".")[0] for t in types}
        expected = gpu.GPU_NAMES[families.pop()] if len({gpu.GPU_NAMES[f] for f in families}) == 1 else "nvidia"
        assert group.inputs["labels"][gpu.AUTOSCALER_LABEL] == expected, group.urn
    assert gpu.accelerator(("g6.xlarge", "g6.2xlarge")) == "nvidia-l4" and gpu.accelerator(("g6.xlarge", "g5.xlarge")) == "nvidia"


def test_team_namespaces_have_a_quota_and_every_runtime_namespace_container_defaults(stack_run: offline.OfflineRun) -> None:
    """kubeflow and models (where steps and models run) get the team quota and container defaults; namespaces whose pods
    operators make at run time (monitoring) get the container defaults."""
    quotas, limits = _by_namespace(stack_run, "kubernetes:core/v1:ResourceQuota"), _by_namespace(stack_run, "kubernetes:core/v1:LimitRange")
    spaces = {spec.name: spec for spec in namespaces.for_stack(stack_run.settings)}
    for name in ("kubeflow", "models"):
        (quota,) = quotas[name]
        assert quota["spec"]["hard"] == TEAM_QUOTA, name
    expected = {name for name, spec in spaces.items() if spec.team or spec.runtime_pods}
    assert "monitoring" in expected or not stack_run.settings.monitoring
    assert set(limits) == expected
    for name in expected:
        (limit,) = limits[name]
        assert limit["spec"]["limits"] == [{"type": "Container", **CONTAINER_DEFAULTS}], name
