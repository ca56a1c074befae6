"""GPU serving (issue 31 item 2), rendered: the GPU runtime exists only on stacks with GPU groups, runs the platform's
model server image like kserve-mlserver, and the GPU model's predictor fits the gpu and gpu-spot groups only."""

from __future__ import annotations

import copy

from infra import gpu
from infra.components import kserve
from infra.namespaces import NVIDIA
from tooling import offline, render
from tooling.simulate import pods, scheduling

GPU_STACK = "staging+gpu-serving"


def runtimes(objects: list[render.Rendered]) -> dict[str, dict]:
    return {item.obj["metadata"]["name"]: item.obj for item in objects if item.obj["kind"] == "ClusterServingRuntime"}


def predictor(objects: list[dict]) -> pods.Pod:
    (found,) = [pod for pod in pods.pods(objects) if pod.subject.endswith(" predictor")]
    return found


def fitting_groups(pod: pods.Pod, settings) -> set[str]:
    return {g.settings.name for g in scheduling.node_groups(settings) if not scheduling.blockers(pod, g, settings)}


def test_gpu_runtime_only_where_there_are_gpu_groups(stack: str, stack_runs: dict[str, offline.OfflineRun]) -> None:
    """The program declares the GPU runtime exactly on the stacks whose GPU groups it creates (NVIDIA's device plugin)."""
    declared = [m for r in stack_runs[stack].resources if (m := render.manifest_of(r)) and m["kind"] == "ClusterServingRuntime"]
    has_gpu_groups = any(m["kind"] == "Namespace" and m["metadata"]["name"] == NVIDIA.name
                         for r in stack_runs[stack].resources if (m := render.manifest_of(r)))
    assert [m["metadata"]["name"] for m in declared] == ([gpu.SERVING_RUNTIME] if has_gpu_groups else []), stack


def test_gpu_runtime_runs_the_platform_image_like_kserve_mlserver(stack_objects: dict) -> None:
    """The GPU runtime's container is the rendered kserve-mlserver's (image by digest, ports, security), plus one GPU,
    the models' own runtime class, the GPU taint's toleration and the gpu role's selector; it serves only the GPU format."""
    found = runtimes(stack_objects[GPU_STACK])
    cpu, on_gpu = found[kserve.SERVING_RUNTIME]["spec"], found[gpu.SERVING_RUNTIME]["spec"]
    (cpu_container,), (gpu_container,) = cpu["containers"], on_gpu["containers"]
    assert "@sha256:" in gpu_container["image"] and gpu_container["image"] == cpu_container["image"]
    assert gpu_container["name"] == cpu_container["name"]
    assert gpu_container["securityContext"] == cpu_container["securityContext"]
    cpu_env = {e["name"]: e["value"] for e in cpu_container["env"]}
    gpu_env = {e["name"]: e["value"] for e in gpu_container["env"]}
    assert {k: gpu_env[k] for k in kserve.MLSERVER_PORTS} == {k: cpu_env[k] for k in kserve.MLSERVER_PORTS}
    assert gpu_container["resources"]["limits"][gpu.RESOURCE] == "1"
    assert gpu_container["resources"]["requests"] == cpu_container["resources"]["requests"]
    assert on_gpu["tolerations"] == [gpu.toleration()] and on_gpu["nodeSelector"] == gpu.serving_node_selector()
    assert on_gpu["supportedModelFormats"] == [{"name": gpu.SERVING_FORMAT, "autoSelect": False}]
    assert on_gpu["protocolVersions"] == cpu["protocolVersions"]


def test_gpu_predictor_lands_on_gpu_groups_only(stack_objects: dict, stack_runs: dict[str, offline.OfflineRun]) -> None:
    """On a fresh staging cluster the GPU model's predictor (XGBoost, the GPU runtime, one GPU) fits gpu and gpu-spot only,
    and with its own placement removed it still does: the runtime carries the toleration and the selector."""
    objects = [item.obj for item in stack_objects[GPU_STACK]]
    (service,) = [o for o in objects if o["kind"] == "InferenceService"]
    model = service["spec"]["predictor"]["model"]
    assert (model["modelFormat"]["name"], model["runtime"]) == (gpu.SERVING_FORMAT, gpu.SERVING_RUNTIME)
    settings = stack_runs[GPU_STACK].settings
    pod = predictor(objects)
    assert pod.requests[gpu.RESOURCE] == 1
    assert fitting_groups(pod, settings) == {"gpu", "gpu-spot"}
    bare = copy.deepcopy(service)
    for key in ("nodeSelector", "tolerations"):
        bare["spec"]["predictor"].pop(key)
    others = [o for o in objects if o is not service]
    assert fitting_groups(predictor([*others, bare]), settings) == {"gpu", "gpu-spot"}
    # Without the runtime's toleration too, no group takes it (the GPU groups are tainted): the check can fail.
    untolerated = [o for o in others if o["kind"] != "ClusterServingRuntime" or o["metadata"]["name"] != gpu.SERVING_RUNTIME]
    runtime = copy.deepcopy(runtimes(stack_objects[GPU_STACK])[gpu.SERVING_RUNTIME])
    runtime["spec"]["tolerations"] = []
    assert fitting_groups(predictor([*untolerated, runtime, bare]), settings) == set()
