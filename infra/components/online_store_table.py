"""The feature store's online store on AWS: the DynamoDB table Feast reads and materializes into.

The program creates the table (Feast 0.66 only creates one that DescribeTable does not find), so that it is
encrypted with the platform's key, has point-in-time recovery in prod, and is protected and retained like every
other stateful resource; its ARN scopes the feature server's and the pipelines' IRSA roles to exactly this table.
Key schema is Feast's (hash key ``entity_id`` of type S); the name is the stack's (infra/feature_store.py dynamodb_table:
stacks sharing an account and region keep their own tables).
"""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

# Feast's DynamoDB online store keys every view's table by the serialized entity key (feast/infra/online_stores/dynamodb.py).
HASH_KEY = "entity_id"


class OnlineStoreTable(pulumi.ComponentResource):
    """Table ``table_name`` on demand capacity, SSE-KMS with ``kms_key_arn``; PITR and protection where asked."""

    arn: pulumi.Output[str]
    name: pulumi.Output[str]

    def __init__(self, name: str, table_name: str, kms_key_arn: pulumi.Input[str], point_in_time_recovery: bool, protect: bool,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlplatform:aws:OnlineStoreTable", name, None, opts)
        # Stateful: the online features the models are served with; a replacement would empty it until the next
        # materialize, so prod protects and retains it (the protect stack setting).
        table = aws.dynamodb.Table(
            name,
            name=table_name,
            billing_mode="PAY_PER_REQUEST",
            hash_key=HASH_KEY,
            attributes=[aws.dynamodb.TableAttributeArgs(name=HASH_KEY, type="S")],
            server_side_encryption=aws.dynamodb.TableServerSideEncryptionArgs(enabled=True, kms_key_arn=kms_key_arn),
            point_in_time_recovery=aws.dynamodb.TablePointInTimeRecoveryArgs(enabled=point_in_time_recovery),
            deletion_protection_enabled=protect,
            opts=pulumi.ResourceOptions(parent=self, protect=protect, retain_on_delete=protect),
        )
        self.arn = table.arn
        self.name = table.name
        self.register_outputs({"arn": self.arn, "name": self.name})
