"""Stack configuration: typed settings, declared keys and the one-line errors for bad input."""

from __future__ import annotations

import re
import runpy
from pathlib import Path

import pulumi
import pytest
import yaml

from infra import config, example_values
from tooling import offline
from tooling.mocks import PlatformMocks, RecordingMonitor

ROOT = Path(__file__).resolve().parents[2]


def settings_for(stack: str, **overrides: object) -> config.Settings:
    return config.parse_settings(config.decode_config(offline.stack_config(stack, overrides)))


@pytest.mark.parametrize("stack", offline.STACKS)
def test_every_stack_config_is_valid(stack: str) -> None:
    """Each shipped stack file parses into settings for its own environment."""
    settings = settings_for(stack)
    assert settings.environment == stack
    assert settings.is_aws == (stack != "local")


def test_pulumi_yaml_declares_every_key_with_description_and_default() -> None:
    """Pulumi.yaml declares exactly the keys infra/config/ reads, each with description and default."""
    declared = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["config"]
    assert set(declared) == config.CONFIG_KEYS
    for key, declaration in declared.items():
        assert declaration.get("description"), f"{key} has no description"
        assert "default" in declaration, f"{key} has no default"
        if key not in {"nodeGroups", "tags", "alertReceivers", "alertCredentials"}:  # Pulumi's project schema has no object type
            assert declaration.get("type") in {"string", "integer", "boolean", "array"}, f"{key} has no type"


def test_pulumi_yaml_runtime_and_layout() -> None:
    """The project runs main: infra/ with the python runtime and stacks in stacks/."""
    project = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
    assert project["runtime"]["name"] == "python"
    assert project["runtime"]["options"]["virtualenv"] == ".venv-infra"
    assert project["main"] == "infra/"
    assert project["stackConfigDir"] == "stacks"


def test_kubernetes_version_stays_a_string() -> None:
    """"1.35" from the CLI is a version string, not the number 1.35."""
    assert settings_for("dev").cluster.kubernetes_version == "1.35"


def test_settings_are_frozen() -> None:
    """Settings cannot be changed after validation."""
    settings = settings_for("dev")
    with pytest.raises(Exception, match="frozen"):
        settings.protect = True  # type: ignore[misc]


GROUP = {
    "name": "system", "role": "system", "capacityType": "ON_DEMAND", "instanceTypes": ["m7i.large"],
    "amiType": "AL2023_x86_64_STANDARD", "minSize": 2, "maxSize": 3, "desiredSize": 2,
}
SPOT = {**GROUP, "name": "cpu-spot", "role": "cpu", "capacityType": "SPOT",
        "instanceTypes": ["m7i.xlarge", "m6i.xlarge", "m5.xlarge"], "minSize": 0}
GPU = {**GROUP, "name": "gpu", "role": "gpu", "instanceTypes": ["g6.xlarge"], "amiType": "AL2023_x86_64_NVIDIA",
       "minSize": 0, "maxSize": 2, "desiredSize": 0}

BAD_CONFIGS = [
    ("dev", {"vpcCidr": "10.0.0.0/33"}, r"mlplatform:vpcCidr = \"10.0.0.0/33\": '10.0.0.0/33' is not an IPv4 CIDR"),
    ("dev", {"vpcCidr": "10.0.0.0/8"}, r"mlplatform:vpcCidr .*between /16 and /24"),
    ("dev", {"privateSubnetCidrs": ["10.10.0.0/19", "10.10.64.0/19"]}, r"mlplatform:privateSubnetCidrs.*overlaps '10.10.0.0/22'"),
    ("dev", {"publicSubnetCidrs": ["10.99.0.0/22", "10.10.4.0/22"]}, r"publicSubnetCidrs.*'10.99.0.0/22' is not inside vpcCidr"),
    ("dev", {"publicSubnetCidrs": ["10.10.0.0/22"]}, r"publicSubnetCidrs.*one CIDR per availability zone \(2\)"),
    ("dev", {"awsRegion": "us-central-9"}, r"mlplatform:awsRegion = \"us-central-9\": unknown AWS region"),
    ("dev", {"availabilityZones": ["eu-west-1a", "eu-west-1b"]}, r"availabilityZones.*'eu-west-1a' is not a zone of us-east-1"),
    ("dev", {"availabilityZones": ["us-east-1a"]}, r"availabilityZones.*give 2 or 3 availability zones"),
    ("dev", {"nodeGroups": [GROUP, {**GPU, "instanceTypes": ["m7i.xlarge"]}]}, r"nodeGroups\[1\]\.instanceTypes.*no NVIDIA GPU"),
    ("dev", {"nodeGroups": [GROUP, {**GPU, "amiType": "AL2023_x86_64_STANDARD"}]}, r"nodeGroups\[1\]\.amiType.*no NVIDIA driver"),
    ("dev", {"nodeGroups": [GROUP, {**GPU, "amiType": "AL2_x86_64_GPU"}]}, r"nodeGroups\[1\]\.amiType = \"AL2_x86_64_GPU\": Input should be"),
    ("dev", {"nodeGroups": [GROUP, {**SPOT, "instanceTypes": ["m7i.xlarge", "m6i.xlarge"]}]}, r"nodeGroups\[1\]\.instanceTypes.*at least 3 instance types.*got 2"),
    ("dev", {"nodeGroups": [GROUP, {**SPOT, "instanceTypes": ["m7i.xlarge", "m6i.2xlarge", "m5.xlarge"]}]}, r"instanceTypes.*must be of one size"),
    ("dev", {"nodeGroups": [{**GROUP, "minSize": 4, "maxSize": 3, "desiredSize": 3}]}, r"nodeGroups\[0\]\.minSize.*minSize 4 is greater than maxSize 3"),
    ("dev", {"nodeGroups": [{**GROUP, "desiredSize": 7}]}, r"nodeGroups\[0\]\.desiredSize.*desiredSize 7 is outside \[minSize, maxSize\] = \[2, 3\]"),
    ("dev", {"kubernetesVersion": "1.29"}, r"mlplatform:kubernetesVersion = \"1.29\": not in EKS standard support; use one of 1.34, 1.35"),
    ("prod", {"protect": False}, r"mlplatform:protect = false: prod must protect its stateful resources"),
    ("dev", {"nodeGroups": []}, r"mlplatform:nodeGroups = \[\]: no enabled system node group"),
    ("dev", {"nodeGroups": [SPOT]}, r"no enabled system node group"),
    ("dev", {"nodeGroups": [{**GROUP, "capacityType": "BIDDING"}]}, r"nodeGroups\[0\]\.capacityType = \"BIDDING\": Input should be 'ON_DEMAND' or 'SPOT'"),
    ("dev", {"nodeGroups": [{**GROUP, "capacityType": "SPOT", "instanceTypes": ["m7i.large", "m6i.large", "m5.large"]}]}, r"capacityType.*must be ON_DEMAND"),
    ("dev", {"nodeGroups": [GROUP, {**GPU, "minSize": 1, "desiredSize": 1}]}, r"nodeGroups\[1\]\.minSize.*scale to zero"),
    ("dev", {"nodeGroups": [GROUP, {**GROUP}]}, r"node group names must be unique, \['system'\] repeat"),
    ("dev", {"nodeGroups": [{**GROUP, "instanceTypes": ["g5.xlarge"]}]}, r"GPU instances in a system group"),
    ("dev", {"nodeGroups": [{**GROUP, "instanceTypes": ["large"]}]}, r"'large' is not an EC2 instance type"),
    ("dev", {"nodeGroups": [{**GROUP, "name": "System_Nodes"}]}, r"nodeGroups\[0\]\.name = \"System_Nodes\": must be a lowercase DNS label"),
    ("dev", {"nodeGroups": [{**GROUP, "instanceType": "m7i.large"}]}, r"nodeGroups\[0\]\.instanceType: unknown key"),
    ("prod", {"endpointPublicAccess": True, "publicAccessCidrs": ["0.0.0.0/0"]}, r"publicAccessCidrs.*cover every address and open the prod API server"),
    ("dev", {"endpointPublicAccess": True, "publicAccessCidrs": []}, r"publicAccessCidrs.*needs the CIDRs allowed"),
    ("dev", {"natGateways": "many"}, r"mlplatform:natGateways = \"many\": Input should be 'single' or 'perAz'"),
    ("dev", {"environment": "qa"}, r"mlplatform:environment = \"qa\": Input should be 'dev', 'staging', 'prod' or 'local'"),
    ("dev", {"cloud": "none"}, r"mlplatform:cloud.*only for the local environment"),
    ("local", {"cloud": "aws"}, r"mlplatform:cloud.*the local environment has no AWS"),
    ("dev", {"existingVpcId": "vpc-123"}, r"mlplatform:existingVpcId = \"vpc-123\": not a VPC id"),
    ("dev", {"existingVpcId": "vpc-0123456789abcdef0", "existingPrivateSubnetIds": ["subnet-0123456789abcdef0"]}, r"existingPrivateSubnetIds.*one subnet id per availability zone \(2\)"),
    ("prod", {"forceDestroyBuckets": True}, r"forceDestroyBuckets.*cannot force-destroy buckets of a protected stack"),
    ("dev", {"logRetentionDays": 42}, r"mlplatform:logRetentionDays = 42: not a CloudWatch Logs retention"),
    ("dev", {"clusterAdminArns": ["admin"]}, r"clusterAdminArns.*'admin' is not an IAM role or user ARN"),
    ("dev", {"protect": "yes please"}, r"mlplatform:protect = \"yes please\": Input should be a valid boolean"),
    ("dev", {"kubernetesVersoin": "1.35"}, r"mlplatform:kubernetesVersoin: unknown key"),
    ("local", {"objectStore": "s3"}, r"mlplatform:objectStore.*without AWS there is no S3; set objectStore: minio"),
    ("local", {"database": "rds"}, r"mlplatform:database.*without AWS there is no RDS"),
    ("prod", {"rdsMultiAz": False}, r"mlplatform:rdsMultiAz.*must be Multi-AZ"),
    ("prod", {"database": "in-cluster"}, r"mlplatform:database.*prod keeps MLflow's registry on RDS"),
    ("local", {"kfpDatabase": "rds"}, r"mlplatform:kfpDatabase.*without AWS there is no RDS; set kfpDatabase: in-cluster"),
    ("prod", {"kfpDatabase": "in-cluster"}, r"mlplatform:kfpDatabase.*prod keeps KFP's runs and metadata on RDS"),
    ("dev", {"kfpRdsInstanceClass": "m7g.large"}, r"mlplatform:kfpRdsInstanceClass = \"m7g.large\": not an RDS instance class"),
    ("dev", {"rdsInstanceClass": "t3.micro"}, r"mlplatform:rdsInstanceClass = \"t3.micro\": not an RDS instance class"),
    ("dev", {"pipelineSchedule": "daily"}, r"mlplatform:pipelineSchedule = \"daily\": a cron schedule has 5 fields"),
    ("dev", {"driftSchedule": "hourly"}, r"mlplatform:driftSchedule = \"hourly\": a cron schedule has 5 fields"),
    ("staging", {"pipelineStepImageDigest": "latest"}, r"mlplatform:pipelineStepImageDigest = \"latest\": not an image digest: sha256:<64 hex"),
    ("staging", {"pipelineStepImageDigest": "sha256:abc"}, r"mlplatform:pipelineStepImageDigest = \"sha256:abc\": not an image digest"),
    ("dev", {"pipelineAucFloor": "0.3"}, r"mlplatform:pipelineAucFloor = 0.3: Input should be greater than or equal to 0.5"),
    ("staging", {"pipelineFeatureSource": "feest"}, r"mlplatform:pipelineFeatureSource = \"feest\": not a feature source: use file or feast \("),
    ("dev", {"servingStorageUri": "ftp://models/x"}, r"mlplatform:servingStorageUri.*a model URI is s3://"),
    ("staging", {"servingCanaryName": "v2"}, r"mlplatform:servingCanaryStorageUri.*required with servingCanaryName"),
    ("staging", {"servingCanaryStorageUri": "s3://b/m2"}, r"mlplatform:servingCanaryStorageUri.*set servingCanaryName too"),
    ("staging", {"servingCanaryName": "v1", "servingPredictorName": "v1", "servingCanaryStorageUri": "s3://b/m2"},
     r"mlplatform:servingCanaryName.*'v1' is the stable predictor's name"),
    ("staging", {"servingCanaryName": "v2", "servingCanaryStorageUri": "s3://b/m2", "servingCanaryPercent": 101},
     r"mlplatform:servingCanaryPercent = 101: Input should be less than or equal to 100"),
    ("staging", {"servingCanaryName": "V2"}, r"mlplatform:servingCanaryName = \"V2\": a predictor name is a short lowercase label"),
    ("staging", {"servingOwner": "helm"}, r"mlplatform:servingStorageUri.*servingOwner is helm"),
    ("staging", {"servingOwner": "argo"}, r"mlplatform:servingOwner = \"argo\": Input should be 'stack' or 'helm'"),
    ("local", {"servingIngress": "internal"}, r"mlplatform:servingIngress.*only on AWS; set servingIngress: none"),
    ("staging", {"servingIngress": "public"}, r"mlplatform:servingIngress = \"public\": Input should be 'none', 'internal' or 'internet-facing'"),
    ("staging", {"servingCertificateArn": ""}, r"mlplatform:servingCertificateArn.*required with servingIngress"),
    ("staging", {"servingDomain": ""}, r"mlplatform:servingDomain.*required with servingIngress"),
    ("staging", {"servingCertificateArn": "arn:aws:iam::123456789012:server-certificate/x"}, r"servingCertificateArn.*not an ACM certificate ARN"),
    ("staging", {"servingGpu": True, "enableGpuNodes": False}, r"mlplatform:servingGpu.*no enabled GPU node group would run the model"),
    ("local", {"servingGpu": True, "servingStorageUri": "s3://mlflow/1/models/m-1/artifacts"}, r"mlplatform:servingGpu.*the local stack has no GPU node group or GPU runtime"),
    ("staging", {"servingMinReplicas": 0}, r"mlplatform:servingMinReplicas = 0: 0 \(scale to zero\) needs Knative, which the platform does not install"),
    ("staging", {"kserveDeploymentMode": "Knative"}, r"mlplatform:kserveDeploymentMode = \"Knative\": the platform installs no Knative Serving"),
    ("staging", {"servingDeploymentMode": "Knative"}, r"mlplatform:servingDeploymentMode = \"Knative\": the platform installs no Knative Serving"),
    ("staging", {"servingMinReplicas": 5, "servingMaxReplicas": 2}, r"servingMinReplicas.*greater than servingMaxReplicas 2"),
    ("staging", {"kserveDeploymentMode": "Serverless"}, r"kserveDeploymentMode = \"Serverless\": Input should be 'Standard' or 'Knative'"),
    ("prod", {"servingGpu": True, "servingStorageUri": ""}, r"mlplatform:servingStorageUri.*needs a model"),
    ("staging", {"gitops": "argocd"}, r"mlplatform:gitopsRepoUrl.*syncs the serving chart from git; set the repository URL"),
    ("staging", {"gitops": "flux"}, r"mlplatform:gitops = \"flux\": Input should be '' or 'argocd'"),
    ("staging", {"gitopsRepoUrl": "https://github.com/example/mlplatform.git"}, r"gitopsRepoUrl.*set without gitops: argocd"),
    ("staging", {"gitops": "argocd", "gitopsRepoUrl": "github.com/x"}, r"gitopsRepoUrl.*not a git repository URL"),
    ("staging", {"gitops": "argocd", "gitopsRepoUrl": "https://github.com/example/mlplatform.git", "servingOwner": "helm",
                 "servingStorageUri": "", "servingPredictorName": ""}, r"mlplatform:gitops.*servingOwner must be stack"),
    ("prod", {"ciRunnerLabels": ["ubuntu-24.04"]}, r"mlplatform:ciRunnerLabels.*cannot reach this cluster's API"),
    ("staging", {"ciRunnerLabels": ["ubuntu 24.04"]}, r"ciRunnerLabels.*not a runner label"),
    ("staging", {"ciDeployRoleArn": "", "clusterAdminArns": []}, r"mlplatform:clusterAdminArns.*no one would reach the cluster's API"),
    ("staging", {"ciPreviewRoleArn": "platform-preview"}, r"mlplatform:ciPreviewRoleArn = \"platform-preview\": .*not an IAM role ARN"),
    ("prod", {"ciRunnerSecurityGroupId": "runner-sg"}, r"mlplatform:ciRunnerSecurityGroupId = \"runner-sg\": not a security group id"),
    ("prod", {"gatewayNamespace": "kube-system"}, r"mlplatform:gatewayNamespace.*'kube-system' is a system or platform namespace"),
    ("staging", {"gatewayNamespace": "kubeflow"}, r"mlplatform:gatewayNamespace.*'kubeflow' is a system or platform namespace"),
    ("prod", {"enableSpotNodes": False}, r"mlplatform:enableSpotNodes.*no enabled node group has role cpu.*add an ON_DEMAND group with role cpu"),
    ("prod", {"platformPlacement": "any"}, r"mlplatform:platformPlacement.*prod's platform services must survive a spot reclaim"),
    ("local", {"platformPlacement": "system"}, r"mlplatform:platformPlacement.*without AWS there are no node groups"),
    ("staging", {"platformPlacement": "anywhere"}, r"mlplatform:platformPlacement"),
    ("dev", {"platformPlacement": "system", "nodeGroups": [{**GROUP, "minSize": 1, "desiredSize": 1}, SPOT]},
     r"mlplatform:platformPlacement.*keeps 1 node\(s\); give it minSize >= 2"),
    ("staging", {"serviceCidr": "10.20.0.0/16"}, r"mlplatform:serviceCidr.*overlaps vpcCidr 10.20.0.0/16"),
    ("staging", {"serviceCidr": "100.64.0.0/16"}, r"mlplatform:serviceCidr = \"100.64.0.0/16\": EKS takes a /12 to /24 block inside 10.0.0.0/8"),
]


@pytest.mark.parametrize(("stack", "overrides", "message"), BAD_CONFIGS, ids=[m[:40] for _, _, m in BAD_CONFIGS])
def test_bad_config_is_refused_with_one_line(stack: str, overrides: dict, message: str) -> None:
    """Each invalid configuration fails with one line naming the key, the value and what is allowed."""
    with pytest.raises(config.ConfigError, match=message) as raised:
        settings_for(stack, **overrides)
    assert "\n" not in str(raised.value)
    assert str(raised.value).startswith("invalid stack config: mlplatform:")


def test_ci_runner_follows_the_endpoint() -> None:
    """A cluster whose API the internet cannot reach gets a runner in its VPC; hosted runners only where it is open to all."""
    assert settings_for("prod").ci_runner == ("self-hosted", "linux", "mlplatform-prod")
    assert settings_for("staging").ci_runner == ("self-hosted", "linux", "mlplatform-staging")
    assert settings_for("local").ci_runner == ()
    # CIDR coverage, not strings: two halves of the address space are the whole internet.
    halves = settings_for("dev", publicAccessCidrs=["0.0.0.0/1", "128.0.0.0/1"])
    assert halves.cluster.endpoint_open_to_internet and halves.ci_runner == config.HOSTED_RUNNER
    assert settings_for("dev", ciRunnerLabels=["self-hosted", "gpu-box"]).ci_runner == ("self-hosted", "gpu-box")


def test_bad_config_fails_before_any_resource_is_declared() -> None:
    """The entry point turns a bad config into a clean RunError and registers nothing."""
    flat = offline.stack_config("prod", {"protect": False})
    monitor = RecordingMonitor(PlatformMocks())
    pulumi.runtime.set_mocks(PlatformMocks(), project=config.PROJECT, stack="prod", monitor=monitor)
    pulumi.runtime.set_all_config(flat)
    with pytest.raises(pulumi.RunError, match="mlplatform:protect = false: prod must protect"):
        runpy.run_path(str(ROOT / "infra" / "__main__.py"), run_name="__main__")
    assert monitor.registrations == []


def test_enable_flags_switch_off_gpu_and_spot_groups() -> None:
    """enableGpuNodes/enableSpotNodes remove those groups from the stack."""
    on_demand = {**SPOT, "name": "cpu", "capacityType": "ON_DEMAND"}
    settings = settings_for("staging", enableGpuNodes=False, enableSpotNodes=False, nodeGroups=[GROUP, SPOT, GPU, on_demand])
    assert [g.name for g in settings.enabled_node_groups] == ["system", "cpu"]
    settings = settings_for("staging", enableGpuNodes=False)
    assert [g.name for g in settings.enabled_node_groups] == ["system", "cpu-spot"]


def test_readme_documents_every_key() -> None:
    """The README's configuration table names every key Pulumi.yaml declares."""
    readme = (ROOT / "README.md").read_text()
    declared = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["config"]
    missing = [key for key in declared if f"| `{key}` |" not in readme]
    assert missing == []


def test_readme_layout_names_every_module() -> None:
    """The README's Layout names every Python module and script of the tree (a new one must be placed there)."""
    root = Path(__file__).resolve().parents[2]
    readme = (root / "README.md").read_text()
    layout = readme.split("## Layout", 1)[1].split("\n## ", 1)[0]
    words = set(re.findall(r"[\w.-]+", layout))
    files = [
        *(p for folder in ("infra", "tooling", "pipelines", "policies", "demo", "benchmarks", "pipelines/fraud", "pipelines/drift")
          for p in (root / folder).glob("*.py") if p.name != "__init__.py"),
        *(p for p in (root / "scripts").iterdir() if not p.name.startswith(("__", "."))),
    ]
    missing = sorted(str(p.relative_to(root)) for p in files if p.name not in words and p.stem not in words)
    assert missing == [], f"README Layout does not name {missing}"
    for folder in ("components/", "jobs/", "manifests/", "iam/", "fraud/", "drift/", "tooling/", "policies/"):
        assert folder in layout, folder


def test_example_values_are_refused_in_any_account_but_the_examples() -> None:
    """Deployed into a real account, the committed staging stack stops in one line naming each example value's key;
    in the documentation account (the offline mocks') it runs."""
    flat = offline.stack_config("staging")
    mocks = PlatformMocks(account="210987654321")
    monitor = RecordingMonitor(mocks)
    pulumi.runtime.set_mocks(mocks, project=config.PROJECT, stack="staging", monitor=monitor)
    pulumi.runtime.set_all_config(flat)
    with pytest.raises(pulumi.RunError) as raised:
        runpy.run_path(str(ROOT / "infra" / "__main__.py"), run_name="__main__")
    message = str(raised.value)
    assert "\n" not in message
    for key in ("publicAccessCidrs[0]", "servingStorageUri", "servingDomain", "servingCertificateArn", "ciDeployRoleArn"):
        assert f"mlplatform:{key} = " in message, key
    assert "names account 123456789012, not the deploying account 210987654321" in message
    assert "documentation range" in message and "example domain" in message
    assert [r.type for r in monitor.registrations] == ["pulumi:providers:aws"]
    own = {"publicAccessCidrs": ["198.18.0.0/15"], "servingDomain": "models.staging.acme.io", "servingStorageUri": "",
           "servingCertificateArn": "arn:aws:acm:us-east-1:210987654321:certificate/0f0e0d0c-0007-4b3a-9c8d-7e6f5a4b3c2d",
           "ciDeployRoleArn": "arn:aws:iam::210987654321:role/deploy", "ciPreviewRoleArn": "arn:aws:iam::210987654321:role/preview"}
    assert example_values.refusals(offline.settings_of("staging", own)[1], "210987654321") == []
    assert example_values.refusals(offline.settings_of("staging")[1], example_values.EXAMPLE_ACCOUNT) == []
