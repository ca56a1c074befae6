"""A CustomResourceDefinition's schema as a strict JSON Schema, from the pinned upstream CRD file.

The API server prunes fields a structural schema does not declare, so a misspelt key in
a custom resource vanishes without an error. The strict form refuses it instead: every
object that declares ``properties`` (and does not preserve unknown fields) gets
``additionalProperties: false``; ``nullable`` becomes a ``null`` type.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

# libyaml's parser (PyYAML's C binding): the upstream CRDs and renders are megabytes of YAML, which
# the pure-Python parser takes most of the conformance suite's time to read.
_BASE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class Loader(_BASE_LOADER):  # type: ignore[misc,valid-type]
    """Safe loader that reads a bare ``=`` (YAML 1.1's value tag, in the CRDs' enums) as the string it is."""


Loader.add_constructor("tag:yaml.org,2002:value", lambda loader, node: loader.construct_scalar(node))


def documents(text: str) -> list[Any]:
    """Every non-empty YAML document in ``text``, read safely."""
    return [doc for doc in yaml.load_all(text, Loader=Loader) if doc]  # noqa: S506 - a safe loader


def strict(node: Any) -> Any:
    """The OpenAPI v3 (structural) schema ``node`` as a strict JSON Schema."""
    if isinstance(node, list):
        return [strict(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: strict(value) for key, value in node.items() if not key.startswith("x-kubernetes-") and key != "nullable"}
    if "properties" in node and "additionalProperties" not in node and not node.get("x-kubernetes-preserve-unknown-fields"):
        out["additionalProperties"] = False
    if node.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    return out


def crd_schema(path: Path, version: str) -> dict:
    """The strict JSON Schema of ``version`` of the CRD in ``path``."""
    (crd,) = [doc for doc in documents(path.read_text()) if doc.get("kind") == "CustomResourceDefinition"]
    (served,) = [v for v in crd["spec"]["versions"] if v["name"] == version]
    schema = strict(served["schema"]["openAPIV3Schema"])
    group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
    schema["properties"]["apiVersion"] = {"const": f"{group}/{version}"}
    schema["properties"]["kind"] = {"const": kind}
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}
