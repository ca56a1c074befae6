"""The GitOps option (``gitops: argocd``): Argo CD from its pinned chart, and the serving chart as an Argo CD Application.

The program installs Argo CD and declares, per environment, one ``AppProject`` (the repository and the
models namespace, nothing else) and one ``Application`` that syncs ``charts/model-serving`` from git with
the stack's values. From then on Argo CD owns the serving release: a rollout is still a reviewed change of
the stack file (the values), and a change of the chart is a reviewed change of the repository.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from infra import paths, versions
from infra.placement import ANYWHERE, PLATFORM, Placement

PROJECT = "mlplatform"
IN_CLUSTER = "https://kubernetes.default.svc"
APPLICATION_API = "argoproj.io/v1alpha1"


def chart_values(behind_proxy: bool = False, placement: Placement = ANYWHERE) -> dict[str, Any]:
    """Argo CD's values: no Dex and no notifications controller; the admin logs in through a port-forward, or at
    argocd.<ssoDomain> after the sign-in proxy (``behind_proxy``: the server then speaks plain HTTP to the proxy,
    TLS ending at the load balancer, like every UI's hop).

    Placed by ``placement`` through the chart's ``global`` defaults (argo-cd 9.7.1: every component's), keeping its
    default ``kubernetes.io/os: linux`` selector.
    """
    values: dict[str, Any] = {
        "global": {"priorityClassName": PLATFORM.name, "nodeSelector": {"kubernetes.io/os": "linux", **placement.node_selector}},
        "crds": {"install": True, "keep": True},
        "dex": {"enabled": False},
        "notifications": {"enabled": False},
    }
    if behind_proxy:
        values["configs"] = {"params": {"server.insecure": True}}
    return values


def application(name: str, namespace: str, repo_url: str, revision: str, destination: str, values: dict[str, Any]) -> dict[str, Any]:
    """The Application that syncs the serving chart into ``destination`` with ``values``."""
    return {
        "apiVersion": APPLICATION_API,
        "kind": "Application",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app.kubernetes.io/part-of": "mlplatform"}},
        "spec": {
            "project": PROJECT,
            "source": {
                "repoURL": repo_url,
                "targetRevision": revision,
                "path": paths.SERVING_CHART.relative_to(paths.ROOT).as_posix(),
                "helm": {"releaseName": name, "valuesObject": values},
            },
            "destination": {"server": IN_CLUSTER, "namespace": destination},
            # The namespace, its quota and its policies are the platform's: Argo CD never creates it.
            "syncPolicy": {"automated": {"prune": True, "selfHeal": True}, "syncOptions": ["CreateNamespace=false"]},
        },
    }


def project(namespace: str, repo_url: str, destination: str) -> dict[str, Any]:
    """The AppProject: this repository, into the models namespace only, no cluster-scoped objects."""
    return {
        "apiVersion": APPLICATION_API,
        "kind": "AppProject",
        "metadata": {"name": PROJECT, "namespace": namespace},
        "spec": {
            "description": "The platform's serving chart, synced from git",
            "sourceRepos": [repo_url],
            "destinations": [{"server": IN_CLUSTER, "namespace": destination}],
            "clusterResourceWhitelist": [],
        },
    }


class ArgoCd(pulumi.ComponentResource):
    """Argo CD in its namespace (restricted pods, the platform's network policies)."""

    release: k8s.helm.v3.Release

    def __init__(self, name: str, namespace: str, behind_proxy: bool = False, opts: pulumi.ResourceOptions | None = None,
                 placement: Placement = ANYWHERE) -> None:
        super().__init__("mlplatform:k8s:ArgoCd", name, None, opts)
        self.release = k8s.helm.v3.Release(
            name,
            chart=versions.ARGO_CD.chart,
            version=versions.ARGO_CD.version,
            repository_opts={"repo": versions.ARGO_CD.repo},
            namespace=namespace,
            values=chart_values(behind_proxy, placement),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({})


class GitOpsServing(pulumi.ComponentResource):
    """The serving chart of one environment as an Argo CD Application (and its AppProject)."""

    def __init__(self, name: str, namespace: str, repo_url: str, revision: str, destination: str, values: pulumi.Input[dict],
                 argocd: ArgoCd, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlplatform:k8s:GitOpsServing", name, None, opts)
        # The CRDs come with Argo CD's release.
        child = pulumi.ResourceOptions(parent=self, depends_on=[argocd.release])
        spec = project(namespace, repo_url, destination)
        app_project = k8s.apiextensions.CustomResource(
            f"{name}-project", api_version=spec["apiVersion"], kind=spec["kind"], metadata=spec["metadata"],
            spec=spec["spec"], opts=child,
        )
        app = pulumi.Output.from_input(values).apply(lambda resolved: application(name, namespace, repo_url, revision, destination, resolved))
        k8s.apiextensions.CustomResource(
            name, api_version=APPLICATION_API, kind="Application",
            metadata=app["metadata"], spec=app["spec"],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[argocd.release, app_project]),
        )
        self.register_outputs({})
