"""DynamoDB inside the VPC (issue 27): the interface endpoint the feature store's online store is reached through, its
policy limited to the stack's table, feature_store.yaml naming it, and the flows narrowed to the VPC."""

from __future__ import annotations

import base64
import json

import pytest
import yaml

from infra import versions
from infra.components import dynamodb_endpoint
from infra.components.irsa_role import TABLE_ACTIONS
from tooling import offline

STEP_IMAGE = {"pipelineStepImageDigest": "sha256:" + "5e" * 32}
EXISTING_VPC = {"existingVpcId": "vpc-0123456789abcdef0",
                "existingPrivateSubnetIds": ["subnet-01234567", "subnet-11234567", "subnet-21234567"],
                "existingPublicSubnetIds": ["subnet-31234567", "subnet-41234567", "subnet-51234567"]}
TABLE_ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/staging-fraud.customer_aggregates"


@pytest.fixture(scope="module")
def runs() -> dict[str, offline.OfflineRun]:
    """The AWS stacks' graphs, and staging in a VPC the program did not make."""
    return {stack: offline.run(stack, STEP_IMAGE) for stack in ("dev", "staging", "prod")} | {
        "existing-vpc": offline.run("staging", {**STEP_IMAGE, **EXISTING_VPC})}


def _dynamodb_endpoints(run: offline.OfflineRun) -> list:
    return [e for e in run.of_type("aws:ec2/vpcEndpoint:VpcEndpoint") if e.inputs["serviceName"].endswith(".dynamodb")]


def _online_store(run: offline.OfflineRun) -> dict:
    (release,) = [r for r in run.of_type("kubernetes:helm.sh/v3:Release") if r.inputs["chart"] == versions.FEAST_FEATURE_SERVER.chart]
    return yaml.safe_load(base64.b64decode(release.inputs["values"]["feature_store_yaml_base64"]))["online_store"]


def _dynamodb_flows(run: offline.OfflineRun) -> list[dict]:
    return [p.inputs["spec"] for p in run.of_type("kubernetes:networking.k8s.io/v1:NetworkPolicy") if "-to-dynamodb" in p.name]


def test_endpoint_policy_admits_only_the_platforms_table_actions_on_the_given_tables() -> None:
    """The endpoint policy: the roles' table actions (never a wildcard) on the stack's tables only; none refused."""
    (statement,) = json.loads(dynamodb_endpoint.endpoint_policy([TABLE_ARN]))["Statement"]
    assert statement["Effect"] == "Allow" and statement["Resource"] == [TABLE_ARN]
    assert set(statement["Action"]) == {a for actions in TABLE_ACTIONS.values() for a in actions}
    assert not [a for a in statement["Action"] if "*" in a or a in ("dynamodb:CreateTable", "dynamodb:DeleteTable", "dynamodb:Scan")]
    with pytest.raises(ValueError, match="table ARNs"):
        dynamodb_endpoint.endpoint_policy([])


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_every_aws_stack_reaches_dynamodb_through_its_vpc_endpoint(runs: dict, stack: str) -> None:
    """Each AWS stack: one DynamoDB interface endpoint in every private subnet, limited to the stack's online-store table."""
    run = runs[stack]
    (endpoint,) = _dynamodb_endpoints(run)
    assert endpoint.inputs["serviceName"] == f"com.amazonaws.{run.settings.aws_region}.dynamodb", endpoint.urn
    assert endpoint.inputs["vpcEndpointType"] == "Interface" and endpoint.inputs["privateDnsEnabled"] is False, endpoint.urn
    (vpc,) = run.of_type("aws:ec2/vpc:Vpc")
    assert endpoint.inputs["vpcId"] == vpc.id
    private = {s.id for s in run.of_type("aws:ec2/subnet:Subnet") if "-private-" in s.name}
    assert set(endpoint.inputs["subnetIds"]) == private and len(private) == len(run.settings.availability_zones), endpoint.urn
    (group,) = [g for g in run.of_type("aws:ec2/securityGroup:SecurityGroup") if g.id in endpoint.inputs["securityGroupIds"]]
    assert [(r["fromPort"], r["cidrBlocks"]) for r in group.inputs["ingress"]] == [(443, [run.settings.network.vpc_cidr])]
    (table,) = run.of_type("aws:dynamodb/table:Table")
    (statement,) = json.loads(endpoint.inputs["policy"])["Statement"]
    assert statement["Resource"] == [table.outputs["arn"]], endpoint.urn


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_feature_store_and_its_flows_use_the_endpoint(runs: dict, stack: str) -> None:
    """The feature server's feature_store.yaml names the endpoint; the server's and the steps' flows reach the VPC only."""
    run = runs[stack]
    (endpoint,) = _dynamodb_endpoints(run)
    assert _online_store(run)["endpoint_url"] == f"https://{endpoint.outputs['dnsEntries'][0]['dnsName']}"
    flows = _dynamodb_flows(run)
    assert len(flows) == 2, [f["podSelector"] for f in flows]  # the feature server and the feature steps
    for spec in flows:
        (rule,) = spec["egress"]
        assert rule["to"] == [{"ipBlock": {"cidr": run.settings.network.vpc_cidr}}] and rule["ports"] == [{"protocol": "TCP", "port": 443}]


def test_an_existing_vpc_keeps_dynamodbs_public_address(runs: dict) -> None:
    """In a VPC the program did not make, no endpoint is made or named, and the flows admit DynamoDB's public addresses."""
    run = runs["existing-vpc"]
    assert _dynamodb_endpoints(run) == []
    assert "endpoint_url" not in _online_store(run)
    flows = _dynamodb_flows(run)
    assert flows and all(f["egress"][0]["to"][0]["ipBlock"]["cidr"] == "0.0.0.0/0" for f in flows)
