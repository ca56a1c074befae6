"""The GitOps option (gitops: argocd): Argo CD from its pinned chart, and an Application that installs what the program would have.

The variant's Argo CD objects go through every conformance check with the stacks (test_stacks.py:
valid against Kubernetes and the chart's own CRDs, Pod Security, pinned images, one owner per object).
Here: that the release changes hands and nothing else changes.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from infra import namespaces, versions
from infra.components import argocd
from tests.charts.conftest import CHART, by_kind, render
from tooling import offline
from tooling.render import RELEASE, Rendered, identity

VARIANT = "staging+argocd"
# Kinds outside any namespace: the AppProject admits none of them.
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition", "ClusterServingRuntime",
                  "StorageClass", "PriorityClass", "ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"}


def _one(objects: list[Rendered], kind: str) -> dict:
    (found,) = [item.obj for item in objects if item.obj.get("kind") == kind and identity(item.obj)[0] == "argoproj.io"]
    return found


def _serving_release(run: offline.OfflineRun) -> list:
    return [r for r in run.of_type(RELEASE) if Path(r.inputs["chart"]).name == CHART.name]


def test_argocd_owns_the_serving_release_instead_of_the_program(stack_runs: dict[str, offline.OfflineRun]) -> None:
    """With the option, Argo CD is installed at its pin and the program installs no serving release; without it, the reverse."""
    gitops, plain = stack_runs[VARIANT], stack_runs["staging"]
    charts = {(r.inputs["chart"], r.inputs.get("version")) for r in gitops.of_type(RELEASE)}
    assert (versions.ARGO_CD.chart, versions.ARGO_CD.version) in charts
    assert _serving_release(gitops) == [] and len(_serving_release(plain)) == 1
    assert namespaces.ARGOCD.name not in {spec.name for spec in namespaces.for_stack(plain.settings)}
    assert gitops.outputs["servingOwner"].startswith("argocd: Application argocd/fraud")


def test_the_application_installs_what_the_program_would_have(stack_runs: dict[str, offline.OfflineRun],
                                                              stack_objects: dict[str, list[Rendered]], tmp_path: Path) -> None:
    """Same chart (this repository's), same values as the program's own release, into the models namespace."""
    application = _one(stack_objects[VARIANT], "Application")
    source = application["spec"]["source"]
    assert source["repoURL"] == stack_runs[VARIANT].settings.gitops.repo_url
    assert (offline.ROOT / source["path"]).resolve() == CHART.resolve()
    (release,) = _serving_release(stack_runs["staging"])
    assert source["helm"]["valuesObject"] == release.inputs["values"]
    assert source["helm"]["releaseName"] == release.inputs["name"]
    assert application["spec"]["destination"] == {"server": argocd.IN_CLUSTER, "namespace": release.inputs["namespace"]}
    values = tmp_path / "values.json"
    values.write_text(json.dumps(source["helm"]["valuesObject"]))
    objects = render(values, release=source["helm"]["releaseName"], namespace=application["spec"]["destination"]["namespace"])
    (isvc,) = by_kind(objects, "InferenceService")
    assert isvc["spec"]["predictor"]["model"]["storageUri"] == stack_runs[VARIANT].settings.serving.storage_uri
    assert CLUSTER_SCOPED.isdisjoint(o["kind"] for o in objects), "the AppProject admits no cluster-scoped object"


def test_the_project_admits_only_this_repository_and_the_models_namespace(stack_objects: dict[str, list[Rendered]]) -> None:
    """The AppProject: one source repository, one destination namespace, no cluster-scoped resources."""
    project = _one(stack_objects[VARIANT], "AppProject")
    application = _one(stack_objects[VARIANT], "Application")
    assert application["spec"]["project"] == project["metadata"]["name"]
    assert project["spec"]["sourceRepos"] == [application["spec"]["source"]["repoURL"]]
    assert project["spec"]["destinations"] == [application["spec"]["destination"]]
    assert project["spec"]["clusterResourceWhitelist"] == []


@pytest.mark.parametrize("component", ["argocd-server", "argocd-repo-server", "argocd-application-controller", "argocd-redis"])
def test_argocd_runs_restricted_in_its_own_namespace(component: str, stack_objects: dict[str, list[Rendered]]) -> None:
    """Each Argo CD part is rendered from the pinned chart into the argocd namespace, which enforces restricted."""
    found = [item.obj for item in stack_objects[VARIANT]
             if item.obj.get("kind") in ("Deployment", "StatefulSet") and identity(item.obj)[3] == component]
    assert len(found) == 1, component
    assert identity(found[0])[2] == namespaces.ARGOCD.name and namespaces.ARGOCD.enforce == "restricted"
