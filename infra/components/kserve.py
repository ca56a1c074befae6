"""KServe v0.20.0 from its OCI charts: the CRDs, the controller and the serving runtimes, one version string."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from infra import gpu, versions
from infra.placement import ANYWHERE, PLATFORM, Placement
from infra.workload_security import container_security
from pipelines import image, serving_image
from pipelines.cluster import SERVING_CODE_DIR, SERVING_IMPLEMENTATION

# The runtime the serving chart names (charts/model-serving values: model.runtime); the only one of the chart's enabled.
SERVING_RUNTIME = "kserve-mlserver"
# What the chart's kserve-mlserver runtime sets (files/runtimes/clusterservingruntimes-patch.yaml at v0.20.0), which the
# GPU runtime sets alike: its container, MLServer's ports, and the resources a model that gives none gets.
RUNTIME_CONTAINER = "kserve-container"
MLSERVER_PORTS = {"MLSERVER_HTTP_PORT": "8080", "MLSERVER_GRPC_PORT": "9000"}
RUNTIME_RESOURCES = {"cpu": "1", "memory": "2Gi"}
# The controller, which serves KServe's fail-closed webhooks, and its pods' labels (files/kserve/resources.yaml at v0.20.0).
CONTROLLER = "kserve-controller-manager"
CONTROLLER_PODS = {"control-plane": CONTROLLER, "controller-tools.k8s.io": "1.0"}
# Every runtime the kserve-runtime-configs chart ships, by its values key; all but MLServer stay disabled.
RUNTIME_KEYS = (
    "tensorflow", "mlserver", "sklearnserver", "xgbserver", "huggingfaceserver", "tritonserver", "pmmlserver",
    "predictiveserver", "paddleserver", "lgbserver", "autogluonserver", "torchserve", "vllmserver",
    "huggingfaceserver_multinode",
)


def runtime_image(repository: pulumi.Input[str], tag: str, digest: str) -> pulumi.Output[dict[str, str]]:
    """The model server image as the chart's ``mlserver.image`` and ``mlserver.tag``: the chart writes
    ``<image>:<tag>``, so the tag is ``<content tag>@sha256:...`` and the node pulls by digest (the tag is a label)."""
    if not image.DIGEST.match(digest):
        raise ValueError(f"model server image digest {digest!r} is not sha256:<64 hex digits> (as `docker buildx build --push` prints it)")
    return pulumi.Output.from_input(repository).apply(lambda repo: {"repository": repo, "tag": f"{tag}@{digest}"})


def _runtime_security() -> dict[str, Any]:
    """Restricted like every container in the models namespace (the chart's default lacks seccomp); MLServer writes."""
    return {**container_security(), "readOnlyRootFilesystem": False, "seccompProfile": {"type": "RuntimeDefault"}}


def gpu_runtime_spec(server: Mapping[str, str]) -> dict[str, Any]:
    """The GPU ClusterServingRuntime (:data:`infra.gpu.SERVING_RUNTIME`): the platform's model server image by digest
    (``server``, as :func:`runtime_image` gives it), the models' own runtime class (which moves an XGBoost booster onto
    the GPU it sees), one GPU, and the GPU groups' toleration and node selector. It serves only the GPU format and is
    never picked by format alone (``autoSelect: false``): a model runs on it when its InferenceService names it (the
    serving chart does with ``gpu.enabled``). KServe merges the predictor's own fields over these."""
    code = f"{serving_image.MODELS_DIR}/{SERVING_CODE_DIR}"
    return {
        "supportedModelFormats": [{"name": gpu.SERVING_FORMAT, "autoSelect": False}],
        "protocolVersions": ["v2"],
        "containers": [{
            "name": RUNTIME_CONTAINER,
            "image": f"{server['repository']}:{server['tag']}",
            "env": [{"name": "MLSERVER_MODEL_IMPLEMENTATION", "value": SERVING_IMPLEMENTATION}, {"name": "PYTHONPATH", "value": code},
                    *({"name": key, "value": value} for key, value in MLSERVER_PORTS.items())],
            "resources": {"requests": dict(RUNTIME_RESOURCES), "limits": {**RUNTIME_RESOURCES, gpu.RESOURCE: "1"}},
            "securityContext": _runtime_security(),
        }],
        "nodeSelector": gpu.serving_node_selector(),
        "tolerations": [gpu.toleration()],
    }


def runtime_values(server: Mapping[str, str] | None) -> dict[str, Any]:
    """kserve-runtime-configs values: runtimes on, only MLServer enabled, running the platform's model server image
    (``server``: its repository and ``<tag>@<digest>``, :func:`runtime_image`); without it MLServer stays disabled too:
    the chart's stock image cannot load the platform's models (Python 3.10, numpy 1.26)."""
    runtimes: dict[str, Any] = {key: {"disabled": True} for key in RUNTIME_KEYS}
    runtimes["mlserver"] = {
        "disabled": server is None,
        "securityContext": _runtime_security(),
        **({"image": server["repository"], "tag": server["tag"]} if server else {}),
    }
    return {"kserve": {"servingruntime": {"enabled": True, **runtimes}}}


def ingress_values(ingress_class: str, domain: str) -> dict[str, Any]:
    """KServe's ingress config: an Ingress of ``ingress_class`` per model at <name>-<namespace>.<domain>, over HTTPS.

    Without a domain (the local stack) KServe creates no Ingress: models stay in-cluster.
    """
    if not domain:
        return {"disableIngressCreation": True}
    return {"ingressGateway": {"className": ingress_class}, "domain": domain, "urlScheme": "https"}


class Kserve(pulumi.ComponentResource):
    """KServe in Standard (or Knative) mode, after cert-manager, with the MLServer ClusterServingRuntime."""

    def __init__(
        self,
        name: str,
        namespace: str,
        deployment_mode: str,
        depends_on: list[pulumi.Resource],
        ingress: dict[str, Any] | None = None,
        s3_region: str = "",
        server_image: pulumi.Output[dict[str, str]] | None = None,
        opts: pulumi.ResourceOptions | None = None,
        placement: Placement = ANYWHERE,
        gpu_nodes: bool = False,
    ) -> None:
        """``ingress``: the controller's ``gateway`` values for models' Ingresses (``ingress_values``), or none.
        ``s3_region``: the models' bucket region, which KServe v0.20.0 gives the storage initializer as AWS_REGION
        for a service account with an IRSA role (pkg/credentials s3.BuildServiceAccountEnvs); "" leaves it unset.
        ``server_image``: the model server image the kserve-mlserver runtime runs (:func:`runtime_image`), or none yet.
        ``gpu_nodes``: the stack has GPU groups; with the image, the GPU runtime (:func:`gpu_runtime_spec`) is declared."""
        super().__init__("mlplatform:k8s:Kserve", name, None, opts)
        charts = (versions.KSERVE_CRD, versions.KSERVE_RESOURCES, versions.KSERVE_RUNTIME_CONFIGS)
        if len({chart.version for chart in charts}) != 1:
            raise ValueError("kserve-crd, kserve-resources and kserve-runtime-configs must share one version")
        crds = k8s.helm.v3.Release(
            f"{name}-crd",
            chart=versions.KSERVE_CRD.chart,
            version=versions.KSERVE_CRD.version,
            namespace=namespace,
            opts=pulumi.ResourceOptions(parent=self, depends_on=depends_on),
        )
        controller = k8s.helm.v3.Release(
            f"{name}-resources",
            chart=versions.KSERVE_RESOURCES.chart,
            version=versions.KSERVE_RESOURCES.version,
            namespace=namespace,
            values={
                "kserve": {
                    "controller": {
                        "deploymentMode": deployment_mode,
                        "gateway": {"disableIstioVirtualHost": deployment_mode == "Standard", **(ingress or {})},
                        "nodeSelector": placement.node_selector,
                        "topologySpreadConstraints": placement.spread(CONTROLLER_PODS),
                    },
                    # The storage initializer runs inside every predictor pod, so it must
                    # meet the restricted profile like the model container (kserve#5373).
                    "storage": {
                        **({"s3": {"region": s3_region}} if s3_region else {}),
                        "containerSecurityContext": {
                            "allowPrivilegeEscalation": False,
                            "readOnlyRootFilesystem": False,
                            "runAsNonRoot": True,
                            "capabilities": {"drop": ["ALL"]},
                            "seccompProfile": {"type": "RuntimeDefault"},
                        }
                    },
                }
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[crds]),
        )
        # The chart has no key for the controller's replicas or priority, and its manifest sets neither: the
        # program owns both fields (one owner), and a PDB that lets one replica go (a drain never blocks).
        k8s.apps.v1.DeploymentPatch(
            f"{name}-controller-placement",
            metadata={"name": CONTROLLER, "namespace": namespace},
            spec={"replicas": placement.replicas, "template": {"spec": {"priorityClassName": PLATFORM.name}}},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[controller]),
        )
        if placement.replicas > 1:
            k8s.policy.v1.PodDisruptionBudget(
                f"{name}-controller",
                metadata={"name": CONTROLLER, "namespace": namespace},
                spec={"maxUnavailable": 1, "selector": {"matchLabels": CONTROLLER_PODS}},
                opts=pulumi.ResourceOptions(parent=self, depends_on=[controller]),
            )
        # ClusterServingRuntimes are validated by the controller's webhook: install them after it.
        k8s.helm.v3.Release(
            f"{name}-runtimes",
            chart=versions.KSERVE_RUNTIME_CONFIGS.chart,
            version=versions.KSERVE_RUNTIME_CONFIGS.version,
            namespace=namespace,
            values=server_image.apply(runtime_values) if server_image is not None else runtime_values(None),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[controller]),
        )
        if gpu_nodes and server_image is not None:
            k8s.apiextensions.CustomResource(
                f"{name}-gpu-runtime",
                api_version="serving.kserve.io/v1alpha1",
                kind="ClusterServingRuntime",
                metadata={"name": gpu.SERVING_RUNTIME},
                spec=server_image.apply(gpu_runtime_spec),
                opts=pulumi.ResourceOptions(parent=self, depends_on=[controller]),
            )
        self.register_outputs({})
