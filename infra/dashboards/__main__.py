"""Print the dashboards' Grafana JSON: ``python -m infra.dashboards --namespace models --inference-service fraud``."""

from __future__ import annotations

import argparse
import json

from infra.dashboards.catalog import Scope, dashboards


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--namespace", default="models", help="the served model's namespace (default models)")
    parser.add_argument("--inference-service", required=True, help="the InferenceService's name (the V2 model name)")
    parser.add_argument("--pipelines-namespace", default="kubeflow", help="where pipelines run (default kubeflow)")
    parser.add_argument("--gpu", action="store_true", help="include the GPU nodes dashboard")
    args = parser.parse_args(argv)
    print(json.dumps(dashboards(Scope(args.namespace, args.inference_service, args.pipelines_namespace), args.gpu), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
