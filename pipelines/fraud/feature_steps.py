"""The training pipeline's feature store steps, in the features step image (pipelines/features/image.py): the training
set read through Feast (``get_historical_features``, point-in-time on ``event_timestamp``) and the materialization of
the newest aggregates into the stack's online store.

Each step runs the feature store's CLI (``python -m pipelines.features.store``, the one implementation the tests and
people run too) through pipelines/features/steps.py: with the features image's python in the cluster, with
``.venv-features/bin/python`` locally (pipelines/run.py sets ``MLPLATFORM_FEATURES_PYTHON``).
"""

import functools
from typing import NamedTuple

from kfp import dsl, kubernetes
from kfp.dsl import Dataset, Input, Output

from infra.database_tls import CA_CONFIG_MAP, CA_DIR
from pipelines.features import repo
from pipelines.features.image import COMPILED_IMAGE

feature_step = functools.partial(dsl.component, base_image=COMPILED_IMAGE, install_kfp_package=False)


def as_feature_writer(task: dsl.PipelineTask) -> dsl.PipelineTask:
    """Let a step reach the stack's online store: the label its network flow admits (infra/feature_store.py), the local
    store's password (a Secret that only the local stack has) and the CA that verifies its TLS (verify-full)."""
    for key, value in repo.FEATURE_STEP_PODS.items():
        kubernetes.add_pod_label(task, label_key=key, label_value=value)
    kubernetes.use_secret_as_env(task, secret_name=repo.POSTGRES_SECRET,
                                 secret_key_to_env={repo.POSTGRES_PASSWORD_KEY: repo.POSTGRES_PASSWORD_ENV}, optional=True)
    kubernetes.use_config_map_as_volume(task, config_map_name=CA_CONFIG_MAP, mount_path=CA_DIR, optional=True)
    return task


@feature_step
def training_set(raw: Input[Dataset], feature_store: str, s3_endpoint_url: str, dataset: Output[Dataset]
                 ) -> NamedTuple("TrainingSet", rows=int, feature_views=dict):
    """Apply the feature repository to the raw transactions (aggregates on the bucket, definitions in the registry),
    then read the training set with get_historical_features: each transaction's features as of just before it. Writes
    the contract's columns as CSV (what validate reads); the feature views and their versions go in its metadata,
    which validate carries to the splits and register turns into the model version's lineage tags."""
    import json
    import tempfile
    from collections import namedtuple
    from pathlib import Path

    from pipelines.features.steps import run

    with tempfile.TemporaryDirectory() as tmp:
        metadata = Path(tmp) / "metadata.json"
        run("training-set", feature_store, s3_endpoint_url, "--raw", raw.path, "--out", dataset.path,
                  "--metadata", str(metadata))
        lineage = json.loads(metadata.read_text())
    dataset.metadata.update({**lineage, "source": raw.metadata.get("source", ""), "sha256": raw.metadata.get("sha256", "")})
    return namedtuple("TrainingSet", ["rows", "feature_views"])(lineage["rows"], lineage["feature_views"])


@feature_step
def materialize(feature_store: str, s3_endpoint_url: str) -> str:
    """Load what is new in the aggregates since the last run into the stack's online store (materialize_incremental):
    the feature server then answers with the values the training set was built from, up to the newest transaction."""
    from pipelines.features.steps import run

    return run("materialize", feature_store, s3_endpoint_url)
