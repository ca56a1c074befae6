"""The platform's credentials in AWS Secrets Manager (AWS stacks): secrets with no value from the program.

Each generated credential (infra/credentials.py) is a secret on the platform's secrets key with no
``SecretVersion``: the value is never in Pulumi state. The External Secrets Operator fills it once,
with a value its Password generator makes in the cluster (a PushSecret with ``updatePolicy:
IfNotExists``, components/external_secrets.py); ESO writes only secrets tagged ``managed-by:
external-secrets``. RDS's master password is RDS's own secret (``manage_master_user_password``).
The operator's IRSA role may read exactly these secrets' ARNs and write only the generated ones.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import pulumi
import pulumi_aws as aws

from infra.credentials import Credential, RemoteRef

# The tag ESO 2.9.0 requires before it writes a value into an existing secret (providers/v1/aws/secretsmanager: isManagedByESO).
MANAGED_BY_ESO = {"managed-by": "external-secrets"}
# What ESO's PushSecret calls on a generated secret: DescribeSecret and GetSecretValue to see whether a value exists,
# PutSecretValue to write the first one, DeleteResourcePolicy (it clears a policy the PushSecret does not declare).
READ_ACTIONS = ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"]
FILL_ACTIONS = ["secretsmanager:PutSecretValue", "secretsmanager:DeleteResourcePolicy"]


def operator_policy(generated_arns: Sequence[str], read_only_arns: Sequence[str], kms_key_arn: str, region: str) -> str:
    """The operator's access: read every platform secret, fill the generated ones, and use the secrets key through Secrets Manager only."""
    statements = [
        {"Sid": "ReadPlatformSecrets", "Effect": "Allow", "Action": READ_ACTIONS, "Resource": sorted([*generated_arns, *read_only_arns])},
        {"Sid": "UseSecretsKey", "Effect": "Allow", "Action": ["kms:Decrypt", "kms:GenerateDataKey"], "Resource": kms_key_arn,
         "Condition": {"StringEquals": {"kms:ViaService": f"secretsmanager.{region}.amazonaws.com"}}},
    ]
    if generated_arns:
        statements.insert(1, {"Sid": "FillGeneratedSecrets", "Effect": "Allow", "Action": FILL_ACTIONS, "Resource": sorted(generated_arns)})
    return json.dumps({"Version": "2012-10-17", "Statement": statements}, sort_keys=True)


class PlatformSecrets(pulumi.ComponentResource):
    """One Secrets Manager secret per generated credential, and the operator's policy on exactly the stack's secrets."""

    remote: dict[str, RemoteRef]

    def __init__(
        self,
        name: str,
        stack_name: str,
        generated: Sequence[Credential],
        kms_key_arn: pulumi.Input[str],
        operator_role: pulumi.Input[str],
        region: str,
        protect: bool,
        external: dict[str, RemoteRef] | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """``external``: credentials whose secret another resource owns (RDS's), by key; read-only for the operator."""
        super().__init__("mlplatform:aws:PlatformSecrets", name, None, opts)
        secrets = {
            credential.key: aws.secretsmanager.Secret(
                f"{name}-{credential.key.replace('_', '-')}",
                name=credential.remote_name(stack_name),
                description=f"{credential.description}; filled by the External Secrets Operator, never by the program",
                kms_key_id=kms_key_arn,
                recovery_window_in_days=30 if protect else 7,
                tags=MANAGED_BY_ESO,
                # Stateful: the credential of a database that keeps it. Protected and retained in prod.
                opts=pulumi.ResourceOptions(parent=self, protect=protect, retain_on_delete=protect),
            )
            for credential in generated
        }
        external = dict(external or {})
        generated_keys = list(secrets)
        external_keys = list(external)
        policy = pulumi.Output.all(
            kms_key_arn, *(secrets[k].arn for k in generated_keys), *(external[k].key for k in external_keys)
        ).apply(lambda args: operator_policy(args[1:1 + len(generated_keys)], args[1 + len(generated_keys):], args[0], region))
        aws.iam.RolePolicy(f"{name}-operator", role=operator_role, policy=policy, opts=pulumi.ResourceOptions(parent=self))
        self.remote = {key: RemoteRef(secret.arn) for key, secret in secrets.items()} | external
        self.register_outputs({})
