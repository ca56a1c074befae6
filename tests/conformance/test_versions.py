"""infra/versions.py pins exactly the releases in the upstream sources, and every consumer agrees."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from infra import paths, versions
from infra.components import kserve


def test_every_chart_pin_is_the_upstream_release(upstream: Path) -> None:
    """Each pinned chart's version equals the version in its upstream Chart.yaml (a bump on either side fails)."""
    for chart in versions.CHARTS:
        meta = yaml.safe_load((upstream / chart.upstream_dir / "Chart.yaml").read_text())
        assert meta["name"] == chart.name, chart
        assert str(meta["version"]) == chart.version, f"{chart.name}: pinned {chart.version}, upstream {meta['version']}"


def test_kfp_and_argo_pins_are_the_upstream_release(upstream: Path) -> None:
    """The KFP overlays' refs, the upstream KFP's own appVersion and the Argo ref KFP asks for are the pins."""
    kfp = upstream / versions.KFP_SOURCE.folder / versions.KFP_SOURCE.path
    install = yaml.safe_load((kfp / "base" / "installs" / "generic" / "pipeline-install-config.yaml").read_text())
    assert install["data"]["appVersion"] == versions.KFP_VERSION
    argo_refs = {m for f in kfp.rglob("kustomization.yaml") for m in re.findall(r"argo-workflows/manifests/\S+\?ref=(v[\d.]+)", f.read_text())}
    assert argo_refs == {versions.ARGO_WORKFLOWS_SOURCE.tag}
    overlay_refs = {m for f in paths.KFP_MANIFESTS.rglob("kustomization.yaml") for m in re.findall(r"\?ref=([\w.]+)", f.read_text())}
    assert overlay_refs == {versions.KFP_VERSION}


def test_runtime_keys_are_upstream_runtimes(upstream: Path) -> None:
    """The program disables every runtime upstream ships but MLServer: its list is upstream's list."""
    values = yaml.safe_load((upstream / versions.KSERVE_RUNTIME_CONFIGS.upstream_dir / "values.yaml").read_text())
    runtimes = {key for key, value in values["kserve"]["servingruntime"].items() if isinstance(value, dict) and "disabled" in value}
    assert runtimes == set(kserve.RUNTIME_KEYS)


def test_runtime_image_is_the_platforms_model_server_by_digest(stack: str, stack_objects: dict, stack_runs: dict) -> None:
    """The rendered kserve-mlserver runtime runs the platform's model server image (serving/Dockerfile) under this
    checkout's content tag, pulled by the stack's digest (never the chart's stock seldonio/mlserver), and that image
    has the MLServer, numpy and scikit-learn the demo and the tests serve with (requirements/ml.lock)."""
    from pipelines import serving_image

    run = stack_runs[stack]
    (runtime,) = [item.obj for item in stack_objects[stack] if item.obj["kind"] == "ClusterServingRuntime"
                  and item.obj["metadata"]["name"] == kserve.SERVING_RUNTIME]
    assert not runtime["spec"].get("disabled")
    (container,) = runtime["spec"]["containers"]
    repository = run.outputs.get("servingImageRepository", serving_image.LOCAL_REPOSITORY)
    assert repository.endswith(("/" + serving_image.IMAGE_NAME, "-" + serving_image.IMAGE_NAME.removeprefix("mlplatform-")))
    digest = run.settings.serving.image_digest
    assert digest, f"{stack}: the runs here set servingImageDigest (tests/infra/conftest.py STEP_IMAGE)"
    assert container["image"] == f"{repository}:{serving_image.content_tag()}@{digest}", container["image"]
    assert "seldonio" not in container["image"]
    served = serving_image.serving_versions()
    training = serving_image.locked_versions((paths.ROOT / serving_image.TRAINING_LOCK).read_text(),
                                           serving_image.base_python((paths.ROOT / serving_image.DOCKERFILE).read_text()))
    assert all(served[name] == training[name] for name in ("mlserver", "numpy", "scikit-learn")), served


def test_pins_that_move_together_agree(upstream: Path) -> None:
    """Each pin's lockstep partners (README "Upgrading"): the autoscaler's minor is every AWS stack's Kubernetes minor and
    the Pod Security and render versions'; the KFP SDK is the KFP backend's version; KServe's three charts are one release."""
    from infra.components.platform_namespace import PSA_VERSION
    from tooling import offline, render

    chart = yaml.safe_load((upstream / versions.CLUSTER_AUTOSCALER.upstream_dir / "Chart.yaml").read_text())
    minor = versions.CLUSTER_AUTOSCALER_KUBERNETES_MINOR
    assert str(chart["appVersion"]).rsplit(".", 1)[0] == minor, f"cluster-autoscaler {chart['appVersion']} is not for Kubernetes {minor}"
    for stack in offline.STACKS:
        settings = offline.settings_of(stack)[1]
        if settings.is_aws:
            assert settings.cluster.kubernetes_version == minor, f"{stack}: EKS {settings.cluster.kubernetes_version}, autoscaler for {minor}"
    assert PSA_VERSION == f"v{minor}" and render.KUBERNETES_VERSION.startswith(f"{minor}.")
    requirements = {name: (paths.ROOT / "requirements" / name).read_text() for name in ("steps.txt", "ml.txt", "ml.lock", "steps.lock")}
    for name in ("steps.txt", "ml.lock", "steps.lock"):
        assert re.search(rf"^kfp=={re.escape(versions.KFP_VERSION)}\b", requirements[name], re.M), name
    assert f"kfp-kubernetes=={versions.KFP_VERSION}" in requirements["ml.txt"]
    mlflow = {re.search(r"^mlflow(?:\[\w+\])?==([\d.]+)", requirements[name], re.M).group(1) for name in ("ml.txt", "steps.txt")}
    assert mlflow == {versions.IMAGES["mlflow"].split(":v", 1)[1].split("-", 1)[0]}, (mlflow, versions.IMAGES["mlflow"])
    assert len({versions.KSERVE_CRD.version, versions.KSERVE_RESOURCES.version, versions.KSERVE_RUNTIME_CONFIGS.version}) == 1
