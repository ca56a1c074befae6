"""Compile every pipeline to KFP IR YAML in pipelines/compiled/ (committed; a test fails when stale).

    python -m pipelines.compile [--out-dir DIR]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import yaml
from kfp import compiler

from pipelines.drift.pipeline import PIPELINE_NAME as DRIFT_PIPELINE
from pipelines.drift.pipeline import model_drift
from pipelines.fraud.pipeline import GPU_PIPELINE_NAME, PIPELINE_NAME, fraud_training, fraud_training_gpu

COMPILED = Path(__file__).resolve().parent / "compiled"
PIPELINES = {PIPELINE_NAME: fraud_training, GPU_PIPELINE_NAME: fraud_training_gpu, DRIFT_PIPELINE: model_drift}


def compile_all(out_dir: Path) -> list[Path]:
    """Compile each pipeline to ``<out_dir>/<name>.yaml``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, pipeline in PIPELINES.items():
        path = out_dir / f"{name}.yaml"
        with tempfile.TemporaryDirectory() as tmp:
            fresh = Path(tmp) / path.name
            compiler.Compiler().compile(pipeline, str(fresh))
            # The header comment lists dict defaults in protobuf map order, which
            # varies between processes: keep the file when the IR is the same.
            if not path.exists() or list(yaml.safe_load_all(path.read_text())) != list(yaml.safe_load_all(fresh.read_text())):
                path.write_text(fresh.read_text())
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", type=Path, default=COMPILED, help="where to write the YAML")
    args = parser.parse_args(argv)
    for path in compile_all(args.out_dir):
        print(f"compiled {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
