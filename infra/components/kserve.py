"""KServe v0.20.0 from its OCI charts: the CRDs, then the controller, one version string."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from infra import versions


class Kserve(pulumi.ComponentResource):
    """KServe in Standard (or Knative) mode, after cert-manager."""

    def __init__(
        self,
        name: str,
        namespace: str,
        deployment_mode: str,
        depends_on: list[pulumi.Resource],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("mlplatform:k8s:Kserve", name, None, opts)
        if versions.KSERVE_CRD.version != versions.KSERVE_RESOURCES.version:
            raise ValueError("kserve-crd and kserve-resources must share one version")
        crds = k8s.helm.v3.Release(
            f"{name}-crd",
            chart=versions.KSERVE_CRD.chart,
            version=versions.KSERVE_CRD.version,
            namespace=namespace,
            opts=pulumi.ResourceOptions(parent=self, depends_on=depends_on),
        )
        k8s.helm.v3.Release(
            f"{name}-resources",
            chart=versions.KSERVE_RESOURCES.chart,
            version=versions.KSERVE_RESOURCES.version,
            namespace=namespace,
            values={
                "kserve": {
                    "controller": {
                        "deploymentMode": deployment_mode,
                        "gateway": {"disableIstioVirtualHost": deployment_mode == "Standard"},
                    },
                    # The storage initializer runs inside every predictor pod, so it must
                    # meet the restricted profile like the model container (kserve#5373).
                    "storage": {
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
        self.register_outputs({})
