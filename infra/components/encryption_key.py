"""A customer-managed KMS key with rotation, for EKS secrets or S3."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws


class EncryptionKey(pulumi.ComponentResource):
    """KMS key plus an alias; protected and retained where the stack asks for it."""

    arn: pulumi.Output[str]

    def __init__(
        self, name: str, description: str, protect: bool, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlplatform:aws:EncryptionKey", name, None, opts)
        # Stateful: losing the key loses every object it encrypted.
        key = aws.kms.Key(
            name,
            description=description,
            enable_key_rotation=True,
            deletion_window_in_days=30,
            opts=pulumi.ResourceOptions(parent=self, protect=protect, retain_on_delete=protect),
        )
        aws.kms.Alias(name, name=f"alias/{name}", target_key_id=key.key_id, opts=pulumi.ResourceOptions(parent=self))
        self.arn = key.arn
        self.register_outputs({"arn": self.arn})
