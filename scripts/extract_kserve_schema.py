"""Build the JSON Schema of KServe's InferenceService at the pinned version.

The CRD file itself lives in the kserve repository, which this project's
machines cannot reach; the same API is published on PyPI as the ``kserve`` SDK,
whose ``kserve/models/*.py`` are generated from KServe's OpenAPI spec (the Go
types the CRD is generated from). This reads their ``openapi_types`` and
``attribute_map`` and writes a self-contained, strict JSON Schema: every KServe
object refuses unknown fields, and the Kubernetes types it embeds (Container,
PodSecurityContext, Toleration, ...) come from kubernetes-validate's strict
definitions for the Kubernetes version the platform pins.

    .venv-infra/bin/python scripts/extract_kserve_schema.py

Writes charts/model-serving/schemas/kserve-<version>-inferenceservice.schema.json.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import kubernetes_validate

KSERVE_VERSION = "0.20.0"
KUBERNETES_VERSION = "1.35.0"
ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "charts" / "model-serving" / "schemas" / f"kserve-v{KSERVE_VERSION}-inferenceservice.schema.json"


def read_models(wheel: Path) -> dict[str, dict[str, tuple[str, str]]]:
    """class name -> {json name: (sdk type, attribute)} for every SDK model."""
    models: dict[str, dict[str, tuple[str, str]]] = {}
    with zipfile.ZipFile(wheel) as archive:
        for name in archive.namelist():
            if not re.match(r"kserve/models/v\d\w*\.py$", name):
                continue
            tree = ast.parse(archive.read(name))
            for node in tree.body:
                if not isinstance(node, ast.ClassDef):
                    continue
                found: dict[str, dict] = {}
                for statement in node.body:
                    if isinstance(statement, ast.Assign) and isinstance(statement.targets[0], ast.Name):
                        if statement.targets[0].id in ("openapi_types", "attribute_map"):
                            found[statement.targets[0].id] = ast.literal_eval(statement.value)
                if len(found) == 2:
                    models[node.name] = {
                        found["attribute_map"][attr]: (sdk_type, attr) for attr, sdk_type in found["openapi_types"].items()
                    }
    return models


def kubernetes_definitions() -> dict[str, dict]:
    base = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema" / f"v{KUBERNETES_VERSION}-local-strict"
    return json.loads((base / "_definitions.json").read_text())["$defs"]


def kubernetes_ref(sdk_name: str, k8s: dict[str, dict]) -> str:
    """``V1Toleration`` -> ``io.k8s.api.core.v1.Toleration``."""
    special = {"ResourceQuantity": "io.k8s.apimachinery.pkg.api.resource.Quantity"}
    if sdk_name in special:
        return special[sdk_name]
    if generated := re.match(r"^K8sIoApi(\w+?)(V\d\w*?)([A-Z]\w+)$", sdk_name):
        group, version, kind = generated.groups()
        ref = f"io.k8s.api.{group.lower()}.{version.lower()}.{kind}"
        if ref in k8s:
            return ref
    match = re.match(r"^V1(\w+)$", sdk_name)
    if not match:
        raise SystemExit(f"unknown SDK type {sdk_name}")
    for prefix in ("io.k8s.api.core.v1.", "io.k8s.apimachinery.pkg.apis.meta.v1."):
        if prefix + match.group(1) in k8s:
            return prefix + match.group(1)
    raise SystemExit(f"no Kubernetes definition for {sdk_name}")


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "-d", tmp, f"kserve=={KSERVE_VERSION}"],
            check=True,
        )
        models = read_models(next(Path(tmp).glob("*.whl")))
    k8s = kubernetes_definitions()
    defs: dict[str, dict] = {}
    used_k8s: set[str] = set()

    def schema_of(sdk_type: str) -> dict:
        if sdk_type in ("str", "datetime", "date"):
            return {"type": "string"}
        if sdk_type == "int":
            return {"type": "integer"}
        if sdk_type == "float":
            return {"type": "number"}
        if sdk_type == "bool":
            return {"type": "boolean"}
        if sdk_type == "object":
            return {}
        if inner := re.match(r"^list\[(.+)\]$", sdk_type):
            return {"type": "array", "items": schema_of(inner.group(1))}
        if inner := re.match(r"^dict\(str, (.+)\)$", sdk_type):
            return {"type": "object", "additionalProperties": schema_of(inner.group(1))}
        if sdk_type == "V1beta1MetricQuantity":  # a resource.Quantity in the Go type; no SDK model
            used_k8s.add("io.k8s.apimachinery.pkg.api.resource.Quantity")
            return {"$ref": "#/$defs/io.k8s.apimachinery.pkg.api.resource.Quantity"}
        if sdk_type.startswith("Knative"):  # only in status, which the chart never writes
            return {}
        if sdk_type in models:
            add_model(sdk_type)
            return {"$ref": f"#/$defs/kserve.{sdk_type}"}
        ref = kubernetes_ref(sdk_type, k8s)
        used_k8s.add(ref)
        return {"$ref": f"#/$defs/{ref}"}

    def add_model(name: str) -> None:
        key = f"kserve.{name}"
        if key in defs:
            return
        defs[key] = {}
        defs[key] = {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                json_name: schema_of(sdk_type)
                for json_name, (sdk_type, _) in models[name].items()
                # The status is written by the controller, never by the chart.
                if not (name == "V1beta1InferenceService" and json_name == "status")
            },
        }

    add_model("V1beta1InferenceService")
    # Pull in the Kubernetes definitions the KServe types reference, transitively.
    pending = list(used_k8s)
    while pending:
        ref = pending.pop()
        text = json.dumps(k8s[ref])
        for nested in re.findall(r'"#/\$defs/([^"]+)"', text):
            if nested not in used_k8s:
                used_k8s.add(nested)
                pending.append(nested)
    for ref in sorted(used_k8s):
        defs[ref] = k8s[ref]
    root = defs["kserve.V1beta1InferenceService"]
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$comment": (
            f"InferenceService (serving.kserve.io/v1beta1) of KServe v{KSERVE_VERSION}, generated by "
            f"scripts/extract_kserve_schema.py from the kserve=={KSERVE_VERSION} PyPI SDK models (generated from "
            f"KServe's OpenAPI spec); embedded Kubernetes types from kubernetes-validate v{KUBERNETES_VERSION} strict."
        ),
        **{k: v for k, v in root.items()},
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "$defs": dict(sorted(defs.items())),
    }
    schema["properties"] = {
        **root["properties"],
        "apiVersion": {"const": "serving.kserve.io/v1beta1"},
        "kind": {"const": "InferenceService"},
    }
    OUT.write_text(json.dumps(schema, indent=1, sort_keys=False) + "\n")
    print(f"wrote {OUT.relative_to(ROOT)}: {len(defs)} definitions")
    return 0


if __name__ == "__main__":
    sys.exit(main())
