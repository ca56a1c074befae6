"""DynamoDB inside the VPC: an interface endpoint for the feature store's online store, limited to the stack's tables.

The feature server and the feature steps call DynamoDB; without an endpoint their calls leave through the NAT gateway
and their NetworkPolicies must admit HTTPS to the whole internet (DynamoDB's addresses have no fixed range). An
interface endpoint (like every other AWS API the platform calls, components/network.py) puts DynamoDB at addresses in
the VPC, so flows narrow to the VPC (infra/feature_store.py). A gateway endpoint would also keep the traffic off the
NAT, but its route points at DynamoDB's public prefix list, which a NetworkPolicy cannot name: the flows would have to
stay open to 0.0.0.0/0. DynamoDB's interface endpoints have no private DNS, so the clients name the endpoint
(:attr:`DynamoDbEndpoint.url`, Feast's ``endpoint_url`` in ``feature_store.yaml``).

The endpoint policy admits only the table actions the platform's roles hold (irsa_role.TABLE_ACTIONS) on the stack's
tables: a credential used through this endpoint reaches no other table, whatever its own policy allows.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import pulumi
import pulumi_aws as aws

from infra.components.irsa_role import TABLE_ACTIONS

SERVICE = "dynamodb"


def endpoint_policy(table_arns: Sequence[str]) -> str:
    """The endpoint's policy: the platform's table actions on ``table_arns`` only."""
    if not table_arns:
        raise ValueError("the DynamoDB endpoint needs the stack's table ARNs (its policy admits only those)")
    actions = sorted({action for grant in TABLE_ACTIONS.values() for action in grant})
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "StackOnlineStoreTables", "Effect": "Allow", "Principal": "*", "Action": actions, "Resource": sorted(table_arns)}]})


def url(dns_entries: Sequence) -> str:
    """The endpoint's regional HTTPS URL: its first DNS entry (the regional one; the others are per zone)."""
    if not dns_entries:
        raise ValueError("the DynamoDB endpoint has no DNS entry yet; it is created with one per zone and one regional")
    entry = dns_entries[0]
    name = entry.get("dns_name") or entry.get("dnsName") if isinstance(entry, dict) else entry.dns_name
    return f"https://{name}"


class DynamoDbEndpoint(pulumi.ComponentResource):
    """Interface endpoint for DynamoDB in ``subnet_ids`` behind ``security_group_id``, limited to ``table_arns``."""

    url: pulumi.Output[str]

    def __init__(self, name: str, vpc_id: pulumi.Input[str], subnet_ids: Sequence[pulumi.Input[str]], security_group_id: pulumi.Input[str],
                 region: str, table_arns: Sequence[pulumi.Input[str]], opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlplatform:aws:DynamoDbEndpoint", name, None, opts)
        endpoint = aws.ec2.VpcEndpoint(
            name,
            vpc_id=vpc_id,
            service_name=f"com.amazonaws.{region}.{SERVICE}",
            vpc_endpoint_type="Interface",
            private_dns_enabled=False,  # not offered for DynamoDB's interface endpoints: clients name the endpoint
            subnet_ids=list(subnet_ids),
            security_group_ids=[security_group_id],
            policy=pulumi.Output.all(*table_arns).apply(endpoint_policy),
            tags={"Name": name},
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.url = endpoint.dns_entries.apply(url)
        self.register_outputs({"url": self.url})
