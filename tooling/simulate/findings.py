"""One thing a real `pulumi up` or `pulumi destroy` of the stack would trip on."""

from __future__ import annotations

from dataclasses import dataclass

# The classes of finding, each checked by a module of this package and tested by a planted defect.
CLASSES = ("order", "references", "reachability", "scheduling", "placement", "awaits", "names", "destroy")


@dataclass(frozen=True, order=True)
class Finding:
    """``kind`` is one of CLASSES; ``subject`` names the object (Kind namespace/name or a resource name)."""

    kind: str
    subject: str
    reason: str

    def __post_init__(self) -> None:
        if self.kind not in CLASSES:
            raise ValueError(f"unknown finding class {self.kind!r}; one of {', '.join(CLASSES)}")

    def line(self) -> str:
        """The one line printed for it."""
        return f"FINDING {self.kind}: {self.subject}: {self.reason}"


def subject_of(obj: dict) -> str:
    """``Kind namespace/name`` (or ``Kind name`` for a cluster-scoped object)."""
    metadata = obj.get("metadata", {})
    namespace = metadata.get("namespace") or metadata.get("_namespaceDefault", "")
    name = metadata.get("name", "?")
    return f"{obj.get('kind', '?')} {namespace}/{name}" if namespace else f"{obj.get('kind', '?')} {name}"
