"""The AWS layer's resource graph for every stack, under mocks."""

from __future__ import annotations

import json

import pytest

from infra import backups, workloads
from infra.components import network
from infra.components.eks_cluster import CONTROL_PLANE_LOG_TYPES, NODE_ROLE_POLICIES
from tooling import offline
from tooling.mocks import Registration

BUCKET = "aws:s3/bucket:Bucket"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
CLUSTER = "aws:eks/cluster:Cluster"


def test_every_stack_runs_to_completion(stack_run: offline.OfflineRun) -> None:
    """The program completes for every stack and exports its outputs."""
    assert stack_run.resources, stack_run.stack
    assert stack_run.outputs["environment"] == stack_run.stack


def test_expected_resource_counts(stack_runs: dict[str, offline.OfflineRun]) -> None:
    """Counts by type follow the stack config (zones, NAT mode, node groups)."""
    expectations = {
        # stack: (subnets, NAT gateways, node groups)
        "dev": (4, 1, 3),
        "staging": (6, 1, 4),
        "prod": (6, 3, 4),
    }
    for stack, (subnets, nats, groups) in expectations.items():
        counts = stack_runs[stack].count_by_type()
        assert counts["aws:ec2/subnet:Subnet"] == subnets, stack
        assert counts["aws:ec2/natGateway:NatGateway"] == nats, stack
        assert counts[NODE_GROUP] == groups == counts[LAUNCH_TEMPLATE], stack
        # data and artifacts; prod adds its locked access-log bucket.
        assert counts[CLUSTER] == 1 and counts[BUCKET] == 2 + (stack == "prod"), stack
        # MLflow's Postgres on staging and prod; KFP's MySQL on prod (kfpDatabase rds).
        assert counts.get("aws:rds/instance:Instance", 0) == (0 if stack == "dev" else 1) + (stack == "prod"), stack
        # The cluster's and the nodes' roles, one IRSA role per workload and per backup CronJob.
        assert counts["aws:iam/role:Role"] == 2 + len(workloads.WORKLOADS) + len(backups.workloads(stack_runs[stack].settings)), stack
        assert counts["aws:eks/addon:Addon"] == 6, stack


def test_local_stack_has_no_aws_resources(stack_runs: dict[str, offline.OfflineRun]) -> None:
    """The local stack declares no AWS resource or provider at all."""
    local = stack_runs["local"]
    assert [r.urn for r in local.resources if r.type.startswith("aws:") or r.type == "pulumi:providers:aws"] == []
    assert local.count_by_type()["pulumi:providers:kubernetes"] == 1
    (provider,) = local.of_type("pulumi:providers:kubernetes")
    assert "kubeconfig" not in provider.inputs, "the local stack uses the current kubeconfig"


def test_gpu_groups_are_tainted_labelled_and_use_nvidia_ami(aws_run: offline.OfflineRun) -> None:
    """GPU groups: NVIDIA AMI, nvidia.com/gpu NoSchedule taint, device-plugin label, scale from zero."""
    gpu_groups = [r for r in aws_run.of_type(NODE_GROUP) if r.inputs["labels"]["mlplatform.io/role"] == "gpu"]
    assert gpu_groups, aws_run.stack
    for group in gpu_groups:
        assert group.inputs["amiType"] in ("AL2023_x86_64_NVIDIA", "BOTTLEROCKET_x86_64_NVIDIA"), group.urn
        assert group.inputs["taints"] == [{"key": "nvidia.com/gpu", "value": "true", "effect": "NO_SCHEDULE"}], group.urn
        assert group.inputs["labels"]["nvidia.com/gpu.present"] == "true", group.urn
        assert group.inputs["scalingConfig"]["minSize"] == 0, group.urn
    for group in aws_run.of_type(NODE_GROUP):
        if group not in gpu_groups:
            assert "taints" not in group.inputs and "nvidia.com/gpu.present" not in group.inputs["labels"], group.urn


def test_spot_groups_are_diversified(aws_run: offline.OfflineRun) -> None:
    """SPOT groups use at least 3 instance types of one size."""
    spot = [r for r in aws_run.of_type(NODE_GROUP) if r.inputs["capacityType"] == "SPOT"]
    assert spot, aws_run.stack
    for group in spot:
        types = group.inputs["instanceTypes"]
        assert len(types) >= 3, group.urn
        assert len({t.split(".")[1] for t in types}) == 1, group.urn
    system = [r for r in aws_run.of_type(NODE_GROUP) if r.inputs["labels"]["mlplatform.io/role"] == "system"]
    assert [g.inputs["capacityType"] for g in system] == ["ON_DEMAND"], aws_run.stack


def test_launch_templates_require_imdsv2_and_encrypt_volumes(aws_run: offline.OfflineRun) -> None:
    """Every node: IMDSv2 with hop limit 1, encrypted gp3 volumes, no SSH access."""
    for template in aws_run.of_type(LAUNCH_TEMPLATE):
        metadata = template.inputs["metadataOptions"]
        assert metadata["httpTokens"] == "required", template.urn
        assert metadata["httpPutResponseHopLimit"] == 1, template.urn
        assert template.inputs["blockDeviceMappings"], template.urn
        for device in template.inputs["blockDeviceMappings"]:
            assert device["ebs"]["encrypted"] == "true", template.urn
        assert "keyName" not in template.inputs, template.urn
    for group in aws_run.of_type(NODE_GROUP):
        assert "remoteAccess" not in group.inputs, group.urn
        assert group.inputs["launchTemplate"]["id"].startswith("lt-"), group.urn
        assert "scalingConfig.desiredSize" in group.ignore_changes, group.urn


def test_cluster_control_plane(aws_run: offline.OfflineRun) -> None:
    """EKS: pinned version, API auth mode, KMS secrets encryption, all log types, private endpoint."""
    settings = aws_run.settings
    (cluster,) = aws_run.of_type(CLUSTER)
    inputs = cluster.inputs
    assert inputs["version"] == settings.cluster.kubernetes_version
    assert inputs["accessConfig"]["authenticationMode"] == "API"
    assert inputs["accessConfig"]["bootstrapClusterCreatorAdminPermissions"] is False
    assert inputs["encryptionConfig"]["resources"] == ["secrets"]
    assert inputs["encryptionConfig"]["provider"]["keyArn"].startswith("arn:aws:kms:")
    assert sorted(inputs["enabledClusterLogTypes"]) == sorted(CONTROL_PLANE_LOG_TYPES)
    assert inputs["vpcConfig"]["endpointPrivateAccess"] is True
    assert inputs["upgradePolicy"]["supportType"] == "STANDARD"
    assert len(inputs["vpcConfig"]["subnetIds"]) == len(settings.availability_zones)
    assert all(s.startswith("subnet-") for s in inputs["vpcConfig"]["subnetIds"])
    if aws_run.stack == "prod":
        assert inputs["vpcConfig"]["endpointPublicAccess"] is False
        assert "publicAccessCidrs" not in inputs["vpcConfig"]
    else:
        assert inputs["vpcConfig"]["publicAccessCidrs"] == list(settings.cluster.public_access_cidrs)
        assert "0.0.0.0/0" not in inputs["vpcConfig"]["publicAccessCidrs"]
    (log_group,) = [g for g in aws_run.of_type("aws:cloudwatch/logGroup:LogGroup") if g.inputs["name"] == f"/aws/eks/{settings.name}/cluster"]
    assert log_group.inputs["retentionInDays"] == settings.cluster.log_retention_days
    assert log_group.urn.split("::")[-1] in {d.split("::")[-1] for d in cluster.dependencies}
    entries = aws_run.of_type("aws:eks/accessPolicyAssociation:AccessPolicyAssociation")
    admin, view = (f"arn:aws:eks::aws:cluster-access-policy/{p}" for p in ("AmazonEKSClusterAdminPolicy", "AmazonEKSAdminViewPolicy"))
    granted = {e.inputs["principalArn"]: e.inputs["policyArn"] for e in entries}
    assert granted == {**dict.fromkeys(settings.cluster.admin_principals, admin), settings.cluster.ci_preview_role_arn: view}
    assert settings.cluster.ci_deploy_role_arn in granted and settings.cluster.ci_preview_role_arn


def test_access_entries_do_not_depend_on_who_runs_pulumi(monkeypatch) -> None:
    """The same entries whoever deploys (a person of clusterAdminArns or the CI's role): a preview shows no change of
    access, and a CI deploy after a person's swaps nothing; a principal with no entry is refused before anything exists."""
    from tooling import mocks

    def entries(issuer: str) -> dict[str, str]:
        monkeypatch.setattr(mocks, "DEPLOYER_ROLE", issuer)
        run = offline.run("staging", {"clusterAdminArns": [PERSON]})
        return {e.name: e.inputs for e in run.of_type("aws:eks/accessEntry:AccessEntry")}

    assert entries(PERSON) == entries(mocks.DEPLOYER_ROLE) and len(entries(PERSON)) == 3
    with pytest.raises(Exception, match="clusterAdminArns: arn:aws:iam::123456789012:role/someone-else, who runs this, gets no access entry"):
        entries("arn:aws:iam::123456789012:role/someone-else")


PERSON = "arn:aws:iam::123456789012:role/platform-admins"


def test_addons_and_network_policy_enforcement(aws_run: offline.OfflineRun) -> None:
    """The six managed add-ons exist (metrics-server for HPA); vpc-cni enforces NetworkPolicies; EBS CSI uses its IRSA role."""
    addons = {r.inputs["addonName"]: r for r in aws_run.of_type("aws:eks/addon:Addon")}
    assert set(addons) == {"vpc-cni", "coredns", "kube-proxy", "aws-ebs-csi-driver", "eks-pod-identity-agent", "metrics-server"}
    assert json.loads(addons["vpc-cni"].inputs["configurationValues"]) == {"enableNetworkPolicy": "true"}
    assert addons["aws-ebs-csi-driver"].inputs["serviceAccountRoleArn"] == aws_run.outputs["roleArns"]["ebs-csi"]
    assert all(a.inputs["addonVersion"].startswith("v") for a in addons.values())


def test_oidc_provider_for_irsa(aws_run: offline.OfflineRun) -> None:
    """An OIDC provider for the cluster issuer with the STS audience."""
    (oidc,) = aws_run.of_type("aws:iam/openIdConnectProvider:OpenIdConnectProvider")
    assert oidc.inputs["clientIdLists"] == ["sts.amazonaws.com"]
    assert oidc.inputs["url"].startswith("https://oidc.eks.")


def _companion(run: offline.OfflineRun, resource_type: str, bucket: Registration) -> dict:
    matches = [r for r in run.of_type(resource_type) if r.inputs.get("bucket") == bucket.outputs["bucket"]]
    assert len(matches) == 1, f"{bucket.urn} has {len(matches)} {resource_type}"
    return matches[0].inputs


def test_buckets_are_private_encrypted_versioned_tls_only(aws_run: offline.OfflineRun) -> None:
    """Each bucket has SSE-KMS with bucket key (the access-log bucket: SSE-S3, which log delivery needs), versioning,
    public access block, ownership, a TLS-only policy and lifecycle; prod's buckets log to the locked log bucket."""
    log_buckets = [b for b in aws_run.of_type(BUCKET) if "-access-logs" in b.name]
    assert len(log_buckets) == (aws_run.settings.environment == "prod")
    for bucket in aws_run.of_type(BUCKET):
        is_log = bucket in log_buckets
        sse = _companion(aws_run, "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration", bucket)
        rule = sse["rules"][0]
        if is_log:
            assert rule["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "AES256", bucket.urn
        else:
            assert rule["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "aws:kms", bucket.urn
            assert rule["applyServerSideEncryptionByDefault"]["kmsMasterKeyId"].startswith("arn:aws:kms:"), bucket.urn
            assert rule["bucketKeyEnabled"] is True, bucket.urn
        versioning = _companion(aws_run, "aws:s3/bucketVersioning:BucketVersioning", bucket)
        assert versioning["versioningConfiguration"]["status"] == "Enabled", bucket.urn
        block = _companion(aws_run, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", bucket)
        assert all(block[k] is True for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"))
        ownership = _companion(aws_run, "aws:s3/bucketOwnershipControls:BucketOwnershipControls", bucket)
        assert ownership["rule"]["objectOwnership"] == "BucketOwnerEnforced", bucket.urn
        policy = json.loads(_companion(aws_run, "aws:s3/bucketPolicy:BucketPolicy", bucket)["policy"])
        deny = policy["Statement"][0]
        assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}, bucket.urn
        assert bucket.outputs["arn"] in deny["Resource"], bucket.urn
        if is_log:
            delivery, locked = policy["Statement"][1:]
            assert delivery["Principal"] == {"Service": "logging.s3.amazonaws.com"} and delivery["Action"] == "s3:PutObject"
            assert locked["Effect"] == "Deny" and locked["Principal"] == "*" and "s3:DeleteObjectVersion" in locked["Action"]
        else:
            assert len(policy["Statement"]) == 1, bucket.urn
        lifecycle = _companion(aws_run, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", bucket)
        days = lifecycle["rules"][0]["noncurrentVersionExpiration"]["noncurrentDays"]
        assert days == aws_run.settings.noncurrent_version_days, bucket.urn
        if aws_run.settings.environment == "prod" and not is_log:
            logging = _companion(aws_run, "aws:s3/bucketLogging:BucketLogging", bucket)
            assert logging["targetBucket"] == log_buckets[0].inputs["bucket"], bucket.urn


def test_protection_follows_the_environment(stack_runs: dict[str, offline.OfflineRun]) -> None:
    """prod protects and retains buckets, KMS keys and the cluster; dev may force-destroy."""
    stateful = (BUCKET, "aws:kms/key:Key", CLUSTER)
    prod = stack_runs["prod"]
    for resource in prod.resources:
        if resource.type in stateful:
            assert resource.protect, resource.urn
            if resource.type != CLUSTER:
                assert resource.retain_on_delete, resource.urn
    (cluster,) = prod.of_type(CLUSTER)
    assert cluster.inputs["deletionProtection"] is True
    assert all(b.inputs["forceDestroy"] is False for b in prod.of_type(BUCKET))
    dev = stack_runs["dev"]
    assert not any(r.protect for r in dev.resources)
    assert all(b.inputs["forceDestroy"] is True for b in dev.of_type(BUCKET))


def test_node_role_has_only_worker_cni_and_ecr_read(aws_run: offline.OfflineRun) -> None:
    """The node role carries exactly the three node policies and no S3 access."""
    node_role_arn = aws_run.of_type(NODE_GROUP)[0].inputs["nodeRoleArn"]
    node_role = next(r for r in aws_run.of_type("aws:iam/role:Role") if r.outputs["arn"] == node_role_arn)
    attached = sorted(
        a.inputs["policyArn"]
        for a in aws_run.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
        if a.inputs["role"] == node_role.outputs["name"]
    )
    assert attached == sorted(NODE_ROLE_POLICIES)
    assert not [p for p in aws_run.of_type("aws:iam/rolePolicy:RolePolicy") if p.inputs["role"] == node_role.outputs["name"]]


@pytest.mark.parametrize("workload", workloads.WORKLOADS, ids=lambda w: w.name)
def test_irsa_trust_names_exactly_the_service_accounts(aws_run: offline.OfflineRun, workload: workloads.Workload) -> None:
    """Each workload role trusts only its service accounts (StringEquals on :sub) and the STS audience (:aud)."""
    role_arn = aws_run.outputs["roleArns"][workload.name]
    role = next(r for r in aws_run.of_type("aws:iam/role:Role") if r.outputs["arn"] == role_arn)
    (statement,) = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert statement["Principal"]["Federated"] == aws_run.outputs["oidcProviderArn"]
    condition = statement["Condition"]
    assert list(condition) == ["StringEquals"], role.urn
    issuer = aws_run.outputs["oidcProviderArn"].split("oidc-provider/")[1]
    subjects = condition["StringEquals"][f"{issuer}:sub"]
    assert sorted([subjects] if isinstance(subjects, str) else subjects) == sorted(workload.subjects)
    assert condition["StringEquals"][f"{issuer}:aud"] == "sts.amazonaws.com"


@pytest.mark.parametrize("workload", [w for w in workloads.WORKLOADS if w.grants], ids=lambda w: w.name)
def test_irsa_access_is_scoped_to_prefixes(aws_run: offline.OfflineRun, workload: workloads.Workload) -> None:
    """Workload policies name their buckets and prefixes: no wildcard actions or resources."""
    role_arn = aws_run.outputs["roleArns"][workload.name]
    role = next(r for r in aws_run.of_type("aws:iam/role:Role") if r.outputs["arn"] == role_arn)
    (policy,) = [p for p in aws_run.of_type("aws:iam/rolePolicy:RolePolicy") if p.inputs["role"] == role.outputs["name"]]
    statements = json.loads(policy.inputs["policy"])["Statement"]
    for statement in statements:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        assert statement["Resource"] != "*" and not any(a == "*" or a.endswith(":*") for a in actions), statement
        # DynamoDB only for a workload granted the program's tables (infra/feature_store.py), by their ARN.
        allowed = ("arn:aws:s3:::", "arn:aws:kms:", *(("arn:aws:dynamodb:",) if workload.tables else ()))
        assert statement["Resource"].startswith(allowed), statement
    writes = {s["Resource"] for s in statements if "s3:PutObject" in s["Action"]}
    expected_writes = {p for _, p, mode in workload.grants if mode == "write"}
    assert len(writes) == len(expected_writes)
    assert all(any(w.endswith(f"/{p}*") for w in writes) for p in expected_writes)
    if workload is workloads.SERVING:
        # Models are read-only to serving; it writes only its request log (KServe's logger).
        assert all(w.endswith(f"/{workloads.REQUEST_LOG_PREFIX}*") for w in writes), writes
    if workload is workloads.PIPELINES_UI:
        # The KFP UI shows artifacts: no action of its role writes or deletes anything.
        actions = {a for s in statements for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])}
        assert actions and all(a.split(":")[1].startswith(("Get", "List", "Decrypt", "Describe")) for a in actions), actions


def test_subnets_carry_eks_tags(aws_run: offline.OfflineRun) -> None:
    """Public subnets are tagged for internet-facing LBs, private ones for internal LBs, both with the cluster tag."""
    for subnet in aws_run.of_type("aws:ec2/subnet:Subnet"):
        tags = subnet.inputs["tags"]
        assert tags[f"kubernetes.io/cluster/{aws_run.settings.name}"] == "shared", subnet.urn
        role = "kubernetes.io/role/elb" if "-public-" in subnet.name else "kubernetes.io/role/internal-elb"
        assert tags[role] == "1", subnet.urn
        assert subnet.inputs.get("mapPublicIpOnLaunch") is not True, subnet.urn


def test_kubernetes_provider_uses_exec_token(aws_run: offline.OfflineRun) -> None:
    """The exported kubeconfig gets tokens from `aws eks get-token`, storing no credential."""
    kubeconfig = json.loads(aws_run.outputs["kubeconfig"])
    user = kubeconfig["users"][0]["user"]
    assert user["exec"]["command"] == "aws"
    assert user["exec"]["args"][:2] == ["eks", "get-token"]
    assert "token" not in user and "client-key-data" not in user


def test_provider_default_tags(aws_run: offline.OfflineRun) -> None:
    """Every AWS resource is tagged through the provider's default tags."""
    (provider,) = aws_run.of_type("pulumi:providers:aws")
    tags = json.loads(provider.inputs["defaultTags"])["tags"] if isinstance(provider.inputs["defaultTags"], str) else provider.inputs["defaultTags"]["tags"]
    assert tags["environment"] == aws_run.stack and tags["managed-by"] == "pulumi"


def test_existing_vpc_is_reused() -> None:
    """With existingVpcId the program creates no VPC and places the cluster in the given subnets."""
    subnets = ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"]
    run = offline.run(
        "dev",
        {
            "existingVpcId": "vpc-0123456789abcdef0",
            "existingPrivateSubnetIds": subnets,
            "existingPublicSubnetIds": ["subnet-0123456789abcdef2", "subnet-0123456789abcdef3"],
        },
    )
    assert not [r for r in run.resources if r.type.startswith("aws:ec2/") and r.type != LAUNCH_TEMPLATE]
    (cluster,) = run.of_type(CLUSTER)
    assert cluster.inputs["vpcConfig"]["subnetIds"] == subnets
    assert run.outputs["vpcId"] == "vpc-0123456789abcdef0"


def test_gpu_and_spot_groups_can_be_switched_off() -> None:
    """enableGpuNodes: false and enableSpotNodes: false leave only on-demand CPU groups (one with role cpu for the steps)."""
    groups = offline.settings_of("staging")[1].model_dump(by_alias=True)["nodeGroups"]
    on_demand = {**next(g for g in groups if g["role"] == "cpu"), "name": "cpu", "capacityType": "ON_DEMAND"}
    run = offline.run("staging", {"enableGpuNodes": False, "enableSpotNodes": False, "nodeGroups": [*groups, on_demand]})
    groups = run.of_type(NODE_GROUP)
    assert sorted(g.inputs["nodeGroupNamePrefix"] for g in groups) == ["cpu-", "system-"]


def test_log_groups_are_encrypted_with_a_key_only_their_groups_may_use(aws_run: offline.OfflineRun) -> None:
    """EKS's and RDS's log groups are declared, each on a platform logs key that lets CloudWatch Logs use it for that
    service's groups of this stack only, and each is created before the service that writes to it."""
    name = aws_run.settings.name
    groups = {g.inputs["name"]: g for g in aws_run.of_type("aws:cloudwatch/logGroup:LogGroup")}
    writers = {f"/aws/eks/{name}/cluster": ("aws:eks/cluster:Cluster", f"/aws/eks/{name}/")}
    if aws_run.settings.database.kind == "rds":
        writers[f"/aws/rds/instance/{name}-mlflow-db/postgresql"] = ("aws:rds/instance:Instance", f"/aws/rds/instance/{name}-mlflow-db/")
    if aws_run.settings.kfp_database.kind == "rds":
        writers |= {f"/aws/rds/instance/{name}-kfp-db/{log}": ("aws:rds/instance:Instance", f"/aws/rds/instance/{name}-kfp-db/")
                    for log in ("error", "slowquery")}
    assert set(groups) == set(writers)
    for group_name, (writer_type, prefix) in writers.items():
        group = groups[group_name]
        (key,) = [k for k in aws_run.of_type("aws:kms/key:Key") if k.outputs["arn"] == group.inputs["kmsKeyId"]]
        statements = {s["Sid"]: s for s in json.loads(key.inputs["policy"])["Statement"]}
        logs = statements["CloudWatchLogs"]
        assert logs["Principal"] == {"Service": f"logs.{aws_run.settings.aws_region}.amazonaws.com"}
        assert logs["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"].endswith(f":log-group:{prefix}*")
        assert statements["AccountAdministers"]["Principal"]["AWS"].endswith(":root")
        assert group.inputs["retentionInDays"] == aws_run.settings.cluster.log_retention_days
        (writer,) = [w for w in aws_run.of_type(writer_type) if writer_type != "aws:rds/instance:Instance"
                     or prefix.endswith(f"/{w.inputs['identifier']}/")]
        assert group.urn.split("::")[-1] in {d.split("::")[-1] for d in writer.dependencies}, group_name
    if aws_run.settings.database.kind == "rds":
        (instance,) = [i for i in aws_run.of_type("aws:rds/instance:Instance") if i.inputs["engine"] == "postgres"]
        assert instance.inputs["identifier"] == f"{name}-mlflow-db" and instance.inputs["enabledCloudwatchLogsExports"] == ["postgresql"]


def test_aws_apis_are_reached_inside_the_vpc(stack_runs: dict[str, offline.OfflineRun]) -> None:
    """The program's VPC has an interface endpoint with private DNS in every private subnet for each AWS API the
    cluster calls, and the platform's S3 flows go to the VPC, not the internet; a VPC the program did not make
    keeps the public S3 flow."""
    for stack in ("dev", "staging", "prod"):
        run = stack_runs[stack]
        endpoints = {e.inputs["serviceName"].split(".", 3)[3]: e for e in run.of_type("aws:ec2/vpcEndpoint:VpcEndpoint")}
        # DynamoDB's has no private DNS; the feature store names it (tests/infra/test_dynamodb_endpoint.py).
        assert endpoints.pop("dynamodb").inputs["privateDnsEnabled"] is False, stack
        assert set(endpoints) == set(network.INTERFACE_ENDPOINTS) >= {"s3", "sts", "ec2", "ecr.api", "ecr.dkr"}, stack
        for endpoint in endpoints.values():
            assert endpoint.inputs["vpcEndpointType"] == "Interface" and endpoint.inputs["privateDnsEnabled"] is True
            assert len(endpoint.inputs["subnetIds"]) == len(run.settings.availability_zones)
        assert endpoints["s3"].inputs["dnsOptions"]["privateDnsOnlyForInboundResolverEndpoint"] is False
        s3_flows = [p for p in run.of_type("kubernetes:networking.k8s.io/v1:NetworkPolicy") if "-to-s3" in p.name]
        assert s3_flows and all(p.inputs["spec"]["egress"][0]["to"] == [{"ipBlock": {"cidr": run.settings.network.vpc_cidr}}]
                                for p in s3_flows), stack
    existing = offline.run("staging", {"existingVpcId": "vpc-0123456789abcdef0",
                                       "existingPrivateSubnetIds": ["subnet-01234567", "subnet-11234567", "subnet-21234567"],
                                       "existingPublicSubnetIds": ["subnet-31234567", "subnet-41234567", "subnet-51234567"]})
    assert existing.of_type("aws:ec2/vpcEndpoint:VpcEndpoint") == []
    flow = next(p for p in existing.of_type("kubernetes:networking.k8s.io/v1:NetworkPolicy") if "-to-s3" in p.name)
    assert flow.inputs["spec"]["egress"][0]["to"][0]["ipBlock"]["cidr"] == "0.0.0.0/0"


def test_the_ci_runners_security_group_reaches_the_api_only_when_named() -> None:
    """ciRunnerSecurityGroupId admits the stack's runner to the cluster security group on 443, and nothing else; unset, no rule."""
    rule = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
    assert offline.run("prod").of_type(rule) == []
    (ingress,) = offline.run("prod", {"ciRunnerSecurityGroupId": "sg-0123456789abcdef0"}).of_type(rule)
    inputs = ingress.inputs
    assert (inputs["referencedSecurityGroupId"], inputs["fromPort"], inputs["toPort"], inputs["ipProtocol"]) == ("sg-0123456789abcdef0", 443, 443, "tcp")
    assert inputs["securityGroupId"].startswith("sg-") and "cidrIpv4" not in inputs


def test_the_kubernetes_provider_waits_for_the_access_entries(aws_run: offline.OfflineRun) -> None:
    """No Kubernetes object is applied before the deploying principals' access entries and policies exist (else 401s)."""
    (provider,) = [r for r in aws_run.resources if r.type == "pulumi:providers:kubernetes"]
    access = [r.urn for r in aws_run.resources if r.type in ("aws:eks/accessEntry:AccessEntry", "aws:eks/accessPolicyAssociation:AccessPolicyAssociation")]
    assert access and set(access) <= set(provider.dependencies)
