"""Compiling the pipelines with the real KFP compiler."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from pipelines import compile as compile_module
from pipelines import image
from pipelines.cluster import OBJECT_STORE_CREDENTIALS_SECRET
from pipelines.features import image as features_image
from pipelines.features import repo

ROOT = Path(__file__).resolve().parents[2]

FEATURE_STEPS = {"training-set", "materialize"}


def test_every_pipeline_compiles_and_the_committed_yaml_is_fresh(tmp_path: Path) -> None:
    """Each pipeline compiles, and pipelines/compiled/ holds exactly that output (run `make compile` if not)."""
    written = compile_module.compile_all(tmp_path)
    assert written
    for path in written:
        committed = compile_module.COMPILED / path.name
        assert committed.exists(), f"{committed} missing: run make compile"
        # Compare the IR, not the text: the header comment lists dict defaults in
        # protobuf map order, which varies between processes.
        assert list(yaml.safe_load_all(committed.read_text())) == list(yaml.safe_load_all(path.read_text())), (
            f"{committed} is stale: run make compile"
        )
    assert sorted(p.name for p in compile_module.COMPILED.glob("*.yaml")) == sorted(p.name for p in written)


def _executors(path: Path) -> dict:
    spec = next(yaml.safe_load_all(path.read_text()))  # the IR, then its Kubernetes platform spec
    return spec["deploymentSpec"]["executors"]


def _image_of(executor_name: str) -> str:
    """The placeholder a step should run: the features step image for the feature steps, the step image otherwise."""
    step = executor_name.removeprefix("exec-").rsplit("-", 1)
    name = step[0] if len(step) == 2 and step[1].isdigit() else executor_name.removeprefix("exec-")
    return features_image.COMPILED_IMAGE if name in FEATURE_STEPS else image.COMPILED_IMAGE


def test_compiled_pipelines_run_the_step_image_and_install_nothing(tmp_path: Path) -> None:
    """Every step runs its image's placeholder (feature steps the features step image), and none installs a package."""
    for path in compile_module.compile_all(tmp_path):
        for name, executor in _executors(path).items():
            container = executor["container"]
            assert container["image"] == _image_of(name), (path.name, name)
            script = " ".join(container.get("command", []) + container.get("args", []))
            assert "pip install" not in script and "pip3 install" not in script, (path.name, name)
            assert "kfp.dsl.executor_main" in script, (path.name, name)


def test_every_project_module_a_step_imports_is_in_the_step_image(tmp_path: Path) -> None:
    """The steps import project modules (the contract, the drift statistics, the tracking-server wait): each must be
    a file the Dockerfile copies into the image, or the step fails in the cluster while passing locally."""
    for path in compile_module.compile_all(tmp_path):
        for name, executor in _executors(path).items():
            # = the Dockerfiles' COPY lines (tests below)
            copied = features_image.IMAGE_SOURCES if _image_of(name) == features_image.COMPILED_IMAGE else image.IMAGE_SOURCES
            script = " ".join(executor["container"].get("command", []) + executor["container"].get("args", []))
            for module in re.findall(r"(?:from|import) (pipelines(?:\.\w+)+)", script):
                # A module (pipelines/fraud/frames.py) or a package (`from pipelines.fraud import frames`: its folder).
                path_of = module.replace(".", "/")
                source = f"{path_of}.py" if (ROOT / f"{path_of}.py").exists() else f"{path_of}/__init__.py"
                assert any(source == c or (c.endswith("/") and source.startswith(c)) for c in copied), (
                    f"{path.name} step {name} imports {module}, which pipelines/Dockerfile does not copy"
                )


def test_pinning_gives_every_step_the_environments_digest(tmp_path: Path) -> None:
    """image.pin puts <repository>@sha256 on every step (feature steps: the features image's); an unpinned image, a
    spec whose feature steps were left without their image, or a foreign spec is refused."""
    digest = "sha256:" + "ab" * 32
    pinned_image = image.reference("123456789012.dkr.ecr.us-east-1.amazonaws.com/mlp-staging-pipeline-steps", digest)
    feature_image = image.reference("123456789012.dkr.ecr.us-east-1.amazonaws.com/mlp-staging-feature-steps", digest)
    others = {features_image.COMPILED_IMAGE: feature_image}
    for path in compile_module.compile_all(tmp_path):
        pinned = image.pin(path.read_text(), pinned_image, others)
        assert set(image.images(pinned)) == {pinned_image, feature_image}
        with pytest.raises(ValueError, match=f"still runs images without a digest: \\['{features_image.COMPILED_IMAGE}'\\]"):
            image.pin(path.read_text(), pinned_image)
        assert next(yaml.safe_load_all(pinned))["root"] == next(yaml.safe_load_all(path.read_text()))["root"]
    with pytest.raises(ValueError, match="is not pinned by digest"):
        image.pin(path.read_text(), "123456789012.dkr.ecr.us-east-1.amazonaws.com/steps:v1")
    with pytest.raises(ValueError, match="is not sha256:<64 hex digits>"):
        image.reference("repo", "sha256:abc")
    with pytest.raises(ValueError, match="still runs images without a digest"):
        image.pin(path.read_text() + "\n        image: python:3.11\n", pinned_image, others)


def test_compiled_pipeline_structure(tmp_path: Path) -> None:
    """The training IR: ingest, then the data-found branch (validate, train, evaluate with its gate, register) or the no-data branch."""
    path = next(p for p in compile_module.compile_all(tmp_path) if p.name == "fraud-detection-training.yaml")
    spec = next(yaml.safe_load_all(path.read_text()))
    dag = spec["root"]["dag"]["tasks"]
    inner = {name: task for component in spec["components"].values() for name, task in component.get("dag", {}).get("tasks", {}).items()}
    assert "ingest" in dag
    assert {"validate", "train", "evaluate", "register", "no-data"} <= set(inner)
    conditions = [task["triggerPolicy"]["condition"] for task in {**dag, **inner}.values() if "triggerPolicy" in task]
    assert any("ingest" in c and "!= 'ready'" in c for c in conditions), conditions
    assert "evaluate" in inner["register"]["dependentTasks"]
    parameters = spec["root"]["inputDefinitions"]["parameters"]
    assert {"data_uri", "tracking_uri", "min_improvement", "auc_floor", "param_grid", "contract"} <= set(parameters)
    assert parameters["feature_source"]["defaultValue"] == "file" and "feature_store" in parameters


def test_the_feast_variant_reads_through_the_feature_store_and_materializes_after_register(tmp_path: Path) -> None:
    """feature_source=feast: training-set (features image) feeds validate, and materialize runs after that branch's
    register; both carry the online store's writer label, password and CA."""
    path = next(p for p in compile_module.compile_all(tmp_path) if p.name == "fraud-detection-training.yaml")
    spec, platform = list(yaml.safe_load_all(path.read_text()))[:2]
    branches = {name: c["dag"]["tasks"] for name, c in spec["components"].items() if "training-set" in c.get("dag", {}).get("tasks", {})}
    assert len(branches) == 1, "one branch reads through the feature store"
    (tasks,) = branches.values()
    consumer = next(t for t in tasks.values() if t.get("inputs", {}).get("artifacts", {}).get("raw", {})
                    .get("taskOutputArtifact", {}).get("producerTask") == "training-set")
    assert consumer["componentRef"]["name"].startswith("comp-validate")
    register = next(name for name in tasks if name.startswith("register"))
    assert register in tasks["materialize"]["dependentTasks"]
    every_task = [t for c in [spec["root"], *spec["components"].values()] for t in c.get("dag", {}).get("tasks", {}).values()]
    condition = next(t["triggerPolicy"]["condition"] for t in every_task if t.get("componentRef", {}).get("name") in branches)
    # The Else after "file" (ingest refuses any source but file and feast): runs only when the source is not file.
    assert "!(inputs.parameter_values['pipelinechannel--feature_source'] == 'file')" in condition, condition
    executors = _executors(path)
    for step in FEATURE_STEPS:
        assert executors[f"exec-{step}"]["container"]["image"] == features_image.COMPILED_IMAGE
        config = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"][f"exec-{step}"]
        assert config["podMetadata"]["labels"] == repo.FEATURE_STEP_PODS
        assert [s["secretName"] for s in config["secretAsEnv"]] == [repo.POSTGRES_SECRET, OBJECT_STORE_CREDENTIALS_SECRET]
        assert [c["mountPath"] for c in config["configMapAsVolume"]] == ["/etc/postgres-ca"]


def test_dockerfile_copies_exactly_the_image_sources_and_installs_only_the_lock() -> None:
    """The Dockerfile's COPY sources are image.IMAGE_SOURCES (what the content tag hashes); pip installs only the hashed lock."""
    dockerfile = (compile_module.COMPILED.parents[1] / "pipelines" / "Dockerfile").read_text()
    copied = {source for line in dockerfile.splitlines() if line.startswith("COPY ") for source in line.split()[1:-1]}
    assert copied == set(image.IMAGE_SOURCES) - {"pipelines/Dockerfile"}
    installs = [line for line in dockerfile.splitlines() if "pip install" in line]
    assert installs and all("--require-hashes" in line and "--no-deps" in line and "steps.lock" in line for line in installs)
    (base,) = [line.split()[1] for line in dockerfile.splitlines() if line.startswith("FROM ")]
    assert ":" in base and not base.endswith(":latest")


def test_features_dockerfile_copies_its_sources_on_the_step_images_base_and_installs_only_its_lock() -> None:
    """pipelines/features/Dockerfile copies exactly features_image.IMAGE_SOURCES, installs only the hashed features lock,
    on the step image's base (one pinned Python for every platform image)."""
    root = compile_module.COMPILED.parents[1]
    dockerfile = (root / features_image.DOCKERFILE).read_text()
    copied = {source for line in dockerfile.splitlines() if line.startswith("COPY ") for source in line.split()[1:-1]}
    assert copied == set(features_image.IMAGE_SOURCES) - {features_image.DOCKERFILE}
    installs = [line for line in dockerfile.splitlines() if "pip install" in line]
    assert installs and all("--require-hashes" in line and "--no-deps" in line and "features.lock" in line for line in installs)
    bases = [[line for line in text.splitlines() if line.startswith("FROM ")]
             for text in (dockerfile, (root / "pipelines" / "Dockerfile").read_text())]
    assert bases[0] == bases[1]
    assert features_image.content_tag() != image.content_tag()


def test_content_tag_follows_what_the_image_is_built_from(tmp_path: Path) -> None:
    """The content tag changes when a step's source changes, and not otherwise."""
    import shutil

    root = compile_module.COMPILED.parents[1]
    for source in image.IMAGE_SOURCES:
        target = tmp_path / source
        if source.endswith("/"):
            shutil.copytree(root / source, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(root / source, target)
    assert image.content_tag(tmp_path) == image.content_tag(root)
    step = tmp_path / "pipelines" / "drift" / "stats.py"
    step.write_text(step.read_text() + "\n# changed\n")
    assert image.content_tag(tmp_path) != image.content_tag(root)


def test_the_drift_retraining_searches_retrain_param_grid_the_scheduled_grid_by_default() -> None:
    """model-drift hands its retrain_param_grid to the nested training pipeline's param_grid; by default it is the
    scheduled training's grid (the demo passes the champion's parameters, one point)."""
    from pipelines.fraud.pipeline import DEFAULT_PARAM_GRID

    spec = next(yaml.safe_load_all((compile_module.COMPILED / "model-drift.yaml").read_text()))
    default = spec["root"]["inputDefinitions"]["parameters"]["retrain_param_grid"]["defaultValue"]
    assert {key: [float(v) for v in values] for key, values in default.items()} == {
        key: [float(v) for v in values] for key, values in DEFAULT_PARAM_GRID.items()}
    tasks = [task for component in spec["components"].values() for task in component.get("dag", {}).get("tasks", {}).values()]
    retraining = [task["componentRef"]["name"] for task in tasks if task.get("inputs", {}).get("parameters", {}).get(
        "param_grid") == {"componentInputParameter": "pipelinechannel--retrain_param_grid"}]
    assert retraining == ["comp-fraud-detection-training"], retraining
