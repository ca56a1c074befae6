"""The platform's PriorityClasses (infra/placement.py PRIORITIES): platform > serving > pipeline steps.

A pod that names a class the API server does not know is refused at admission, so every workload
that names one is created after these (the cluster layer orders them first).
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from infra.placement import PRIORITIES


class PriorityClasses(pulumi.ComponentResource):
    """One PriorityClass per entry of PRIORITIES; none is the global default (pods that name none keep priority 0)."""

    classes: list[k8s.scheduling.v1.PriorityClass]

    def __init__(self, name: str, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlplatform:k8s:PriorityClasses", name, None, opts)
        self.classes = [
            k8s.scheduling.v1.PriorityClass(
                f"{name}-{priority.name}",
                metadata={"name": priority.name},
                value=priority.value,
                global_default=False,
                description=priority.description,
                opts=pulumi.ResourceOptions(parent=self),
            )
            for priority in PRIORITIES
        ]
        self.register_outputs({})
