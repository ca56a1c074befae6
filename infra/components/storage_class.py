"""The cluster's default StorageClass: encrypted gp3 through the EBS CSI driver.

EKS 1.30 and later create no default StorageClass, so a PVC that names none (KFP's MySQL,
the in-cluster Postgres) would stay Pending forever.
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

NAME = "gp3-encrypted"
PROVISIONER = "ebs.csi.aws.com"


class DefaultStorageClass(pulumi.ComponentResource):
    """gp3, encrypted (the account's EBS key), bound where the pod lands, expandable, retained in prod."""

    name: str

    def __init__(self, name: str, retain: bool, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlplatform:k8s:DefaultStorageClass", name, None, opts)
        k8s.storage.v1.StorageClass(
            name,
            metadata={"name": NAME, "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
            provisioner=PROVISIONER,
            parameters={"type": "gp3", "encrypted": "true", "fsType": "ext4"},
            # A volume is created in the zone of the node its first pod is scheduled to.
            volume_binding_mode="WaitForFirstConsumer",
            allow_volume_expansion=True,
            # Stateful data outlives a deleted claim in prod (protect).
            reclaim_policy="Retain" if retain else "Delete",
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.name = NAME
        self.register_outputs({"name": self.name})
