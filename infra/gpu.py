"""NVIDIA GPU scheduling facts, in one place.

The config validation (which instance families and AMIs a gpu group may use), the node groups (their
taint and label), the device plugin, the serving chart's values (toleration, node selector, resource)
and the policy pack all read these; none of them spells a GPU fact itself.
"""

from __future__ import annotations

# The extended resource the device plugin advertises and a GPU container requests.
RESOURCE = "nvidia.com/gpu"
# Every GPU node carries this taint (EKS's spelling of the effect) and this label.
TAINT = {"key": RESOURCE, "value": "true", "effect": "NO_SCHEDULE"}
TAINT_EFFECT = "NoSchedule"  # the same effect as Kubernetes spells it in a toleration
NODE_LABEL = ("nvidia.com/gpu.present", "true")
# The label every node group carries with its role (infra/components/node_group.py), and a gpu group's.
ROLE_LABEL, ROLE = "mlplatform.io/role", "gpu"
# The label by which the Cluster Autoscaler on AWS knows a GPU node (GPULabel in cloudprovider/aws
# aws_cloud_provider.go at cluster-autoscaler-1.35.0): on a node with it, and no nvidia.com/gpu
# allocatable yet, it waits for the device plugin instead of adding nodes for the pending pods
# (kubernetes/autoscaler#1949, #3164). Its value is the GPU's name, by instance family.
AUTOSCALER_LABEL = "k8s.amazonaws.com/accelerator"
GPU_NAMES = {"p3": "nvidia-tesla-v100", "p3dn": "nvidia-tesla-v100", "p4d": "nvidia-tesla-a100", "p4de": "nvidia-a100-80gb",
              "p5": "nvidia-h100", "p5e": "nvidia-h200", "p5en": "nvidia-h200", "p6-b200": "nvidia-b200", "g4dn": "nvidia-tesla-t4",
              "g5": "nvidia-a10g", "g6": "nvidia-l4", "g6e": "nvidia-l40s", "g6f": "nvidia-l4", "gr6": "nvidia-l4", "g7e": "nvidia-rtx-pro-6000"}

# Instance families with NVIDIA GPUs that the EKS NVIDIA AMIs support (x86_64).
FAMILIES = frozenset(GPU_NAMES)
# EKS's NVIDIA AMI types: the x86_64 ones a gpu group of this platform may use (FAMILIES are x86_64),
# and every NVIDIA AMI type EKS has (a node group with any of them has GPUs, whatever else it claims).
AMI_TYPES = ("AL2023_x86_64_NVIDIA", "BOTTLEROCKET_x86_64_NVIDIA")
ALL_NVIDIA_AMI_TYPES = (*AMI_TYPES, "AL2023_ARM_64_NVIDIA", "BOTTLEROCKET_ARM_64_NVIDIA")

# GPUs per instance by size (the Cluster Autoscaler's scale-from-zero node template must say how
# many nvidia.com/gpu a new node brings). p3dn, p4d/p4de, p5* and p6 come with 8 GPUs only.
_EIGHT_GPU_FAMILIES = frozenset({"p3dn", "p4d", "p4de", "p5", "p5e", "p5en", "p6-b200"})
_GPUS_BY_SIZE = {"8xlarge": 1, "12xlarge": 4, "24xlarge": 4, "48xlarge": 8, "metal": 8}
_P3_GPUS_BY_SIZE = {"2xlarge": 1, "8xlarge": 4, "16xlarge": 8}


def per_instance(instance_type: str) -> int:
    """NVIDIA GPUs of a GPU instance type: ``g5.xlarge`` -> 1, ``g5.12xlarge`` -> 4, ``p4d.24xlarge`` -> 8."""
    family, size = instance_type.split(".", 1)
    if family in _EIGHT_GPU_FAMILIES:
        return 8
    if family == "p3":
        return _P3_GPUS_BY_SIZE.get(size, 1)
    return _GPUS_BY_SIZE.get(size, 1)


def accelerator(instance_types: tuple[str, ...]) -> str:
    """The autoscaler label's value for a group: its GPU's name, or ``nvidia`` when its types differ in GPU."""
    names = {GPU_NAMES[instance_type.split(".", 1)[0]] for instance_type in instance_types}
    return names.pop() if len(names) == 1 else "nvidia"


# The ClusterServingRuntime that serves models on the GPU groups (infra/components/kserve.py declares it on stacks
# with GPU groups) and the one model format it serves: XGBoost, whose booster the models' own runtime moves onto
# the GPU (pipelines/serving_runtime.py); a scikit-learn model has no GPU code and stays on kserve-mlserver.
SERVING_RUNTIME = "mlplatform-mlserver-gpu"
SERVING_FORMAT = "xgboost"


def toleration() -> dict[str, str]:
    """What a pod that may run on GPU nodes tolerates."""
    return {"key": RESOURCE, "operator": "Exists", "effect": TAINT_EFFECT}


def node_selector() -> dict[str, str]:
    return {NODE_LABEL[0]: NODE_LABEL[1]}


def step_node_selector() -> dict[str, str]:
    """A GPU pipeline step's nodeSelector: the gpu role (overrides workflowDefaults' role cpu) and the GPU label."""
    return {ROLE_LABEL: ROLE, **node_selector()}


def serving_node_selector() -> dict[str, str]:
    """A GPU model's nodeSelector: the GPU label and the gpu role (the gpu and gpu-spot groups, nothing else)."""
    return step_node_selector()


def chart_values(enabled: bool, count: int = 1) -> dict:
    """The serving chart's ``gpu`` values: whether, how many, how GPU nodes are found and tolerated, and the runtime
    and model format that use the GPU."""
    return {"enabled": enabled, "count": count, "resource": RESOURCE, "nodeSelector": serving_node_selector(),
            "tolerations": [toleration()], "runtime": SERVING_RUNTIME, "modelFormat": SERVING_FORMAT}
