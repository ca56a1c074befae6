"""Engine stand-ins for running the program offline: realistic ids and ARNs for
what the program and the tests read back, and a record of every registration
(type, name, inputs as the engine sees them, parent, protect, retain-on-delete).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import pulumi
from pulumi.runtime.mocks import MockMonitor

ACCOUNT_ID = "123456789012"
DEPLOYER_ROLE = f"arn:aws:iam::{ACCOUNT_ID}:role/platform-deployer"


def rds_ca_bundle(region: str) -> str:
    """A stand-in for the region's RDS CA bundle (infra/rds_ca.py): one PEM block, named for the region, never fetched."""
    return f"-----BEGIN CERTIFICATE-----\n{_digest('rds-ca-' + region, 64)}\n-----END CERTIFICATE-----\n"

# What `aws eks describe-addon-versions` names as default, as recorded for the
# offline preview; a real preview resolves them from AWS.
ADDON_DEFAULT_VERSIONS = {
    "vpc-cni": "v1.20.4-eksbuild.2",
    "kube-proxy": "v1.34.1-eksbuild.2",
    "eks-pod-identity-agent": "v1.3.9-eksbuild.3",
    "coredns": "v1.12.4-eksbuild.1",
    "aws-ebs-csi-driver": "v1.51.1-eksbuild.1",
    "metrics-server": "v0.8.0-eksbuild.2",
}


SECRET_SIGNATURE = ("4dabf18193072939515e22adb298388d", "1b47061264138c4ac30d75fd1eb44270")


def unwrap_secrets(value: Any, path: str = "", found: list[str] | None = None) -> Any:
    """Replace the engine's secret envelopes by their values, noting where secrets were."""
    if isinstance(value, dict):
        if value.get(SECRET_SIGNATURE[0]) == SECRET_SIGNATURE[1]:
            if found is not None:
                found.append(path)
            return unwrap_secrets(value.get("value"), path, None)
        return {k: unwrap_secrets(v, f"{path}.{k}" if path else k, found) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap_secrets(v, f"{path}[{i}]", found) for i, v in enumerate(value)]
    return value


def _digest(text: str, length: int = 17) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:length]


@dataclass
class Registration:
    """One resource as the engine received it."""

    type: str
    name: str
    urn: str
    inputs: dict[str, Any]
    parent: str = ""
    protect: bool = False
    retain_on_delete: bool = False
    ignore_changes: tuple[str, ...] = ()
    dependencies: tuple[str, ...] = ()
    # The URNs each input property depends on (what the engine hands stack policies as property_dependencies).
    property_dependencies: dict[str, tuple[str, ...]] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    # Input paths whose values are secrets (mask them in anything printed).
    secret_paths: tuple[str, ...] = ()
    # The provider reference ("<urn>::<id>") the resource was registered with.
    provider: str = ""
    # The id the mocks gave it (what the provider would compute).
    id: str = ""

    def computed(self) -> set[str]:
        """The values the provider computes for it (its id and, for an AWS resource, the outputs it was not given):
        mock values, offline. Not those of random or tls resources, whose computed outputs are secrets."""
        outputs = self.outputs.items() if self.type.startswith("aws:") else ()
        return {self.id, *(v for k, v in outputs if k not in self.inputs and isinstance(v, str))} - {""}


class PlatformMocks(pulumi.runtime.Mocks):
    """Answers resource registrations and invokes the way AWS and Kubernetes would."""

    def __init__(self, region: str = "us-east-1", account: str = ACCOUNT_ID, step_image_pushed: bool = True) -> None:
        self.region = region
        # The caller's account (getCallerIdentity); another than the examples' shows what a real account refuses.
        self.account = account
        # Whether the step image of this checkout's content tag is in the stack's ECR repository (ecr.getImage).
        self.step_image_pushed = step_image_pushed

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
        state = dict(args.inputs)
        name, kind = args.name, args.typ
        resource_id = f"{name}-{_digest(kind + name, 7)}"
        service = kind.split(":")[1].split("/")[0] if kind.startswith("aws:") else ""
        if kind.startswith("aws:"):
            state.setdefault("name", resource_id)
            state.setdefault("arn", f"arn:aws:{service}:{self.region}:{ACCOUNT_ID}:{kind.split(':')[-1].lower()}/{resource_id}")
        if kind == "aws:s3/bucket:Bucket":
            bucket = state.get("bucket") or resource_id
            state.update(bucket=bucket, arn=f"arn:aws:s3:::{bucket}")
            resource_id = bucket
        elif kind == "aws:secretsmanager/secret:Secret":
            # Secrets Manager appends six random characters to the name.
            secret = f"{state.get('name') or resource_id}-{_digest(name, 6)}"
            state.update(arn=f"arn:aws:secretsmanager:{self.region}:{ACCOUNT_ID}:secret:{secret}")
            resource_id = state["arn"]
        elif kind == "aws:iam/role:Role":
            state.update(name=resource_id, arn=f"arn:aws:iam::{ACCOUNT_ID}:role/{resource_id}")
        elif kind == "aws:kms/key:Key":
            key_id = f"{_digest(name, 8)}-{_digest(name + 'k', 4)}-4000-8000-{_digest(name + 'id', 12)}"
            state.update(keyId=key_id, arn=f"arn:aws:kms:{self.region}:{ACCOUNT_ID}:key/{key_id}")
            resource_id = key_id
        elif kind == "aws:eks/cluster:Cluster":
            issuer = f"https://oidc.eks.{self.region}.amazonaws.com/id/{_digest(name, 32).upper()}"
            state.update(
                endpoint=f"https://{_digest(name, 32).upper()}.gr7.{self.region}.eks.amazonaws.com",
                identities=[{"oidcs": [{"issuer": issuer}]}],
                certificateAuthority={"data": "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0t"},
                status="ACTIVE",
                # EKS creates the cluster security group; managed node groups' nodes (and so pods) carry it.
                vpcConfig={**(state.get("vpcConfig") or {}), "clusterSecurityGroupId": f"sg-{_digest(name + 'cluster', 17)}"},
            )
            resource_id = state.get("name", name)
        elif kind == "aws:iam/openIdConnectProvider:OpenIdConnectProvider":
            host = str(state.get("url", "")).removeprefix("https://")
            state.update(url=host, arn=f"arn:aws:iam::{ACCOUNT_ID}:oidc-provider/{host}")
        elif kind == "aws:ec2/launchTemplate:LaunchTemplate":
            resource_id = f"lt-{_digest(name)}"
            state.update(latestVersion=1, defaultVersion=1)
        elif kind == "aws:eks/nodeGroup:NodeGroup":
            state["nodeGroupName"] = f"{state.get('nodeGroupNamePrefix', name)}{_digest(name, 20)}"
            state["resources"] = [{"autoscalingGroups": [{"name": f"eks-{state['nodeGroupName']}"}], "remoteAccessSecurityGroupId": ""}]
        elif kind == "aws:ecr/repository:Repository":
            repository = state.get("name") or resource_id
            state.update(repositoryUrl=f"{ACCOUNT_ID}.dkr.ecr.{self.region}.amazonaws.com/{repository}",
                         arn=f"arn:aws:ecr:{self.region}:{ACCOUNT_ID}:repository/{repository}", registryId=ACCOUNT_ID)
            resource_id = repository
        elif kind == "aws:rds/instance:Instance":
            state.update(address=f"{name}.c1a2b3c4d5e6.{self.region}.rds.amazonaws.com", endpoint=f"{name}.c1a2b3c4d5e6.{self.region}.rds.amazonaws.com:{args.inputs.get('port', 5432)}")
            if state.get("manageMasterUserPassword"):
                # RDS's own secret: rds!db-<resource id>-<6 characters>, on the key the instance names.
                secret = f"rds!db-{_digest(name, 8)}-{_digest(name, 4)}-4000-8000-{_digest(name + 'db', 12)}-{_digest(name + 's', 6)}"
                state["masterUserSecrets"] = [{"secretArn": f"arn:aws:secretsmanager:{self.region}:{ACCOUNT_ID}:secret:{secret}",
                                               "kmsKeyId": state.get("masterUserSecretKmsKeyId", ""), "secretStatus": "active"}]
        elif kind in ("random:index/randomPassword:RandomPassword", "random:index/randomString:RandomString"):
            state["result"] = _digest("secret" + name, int(state.get("length", 16)))
        elif kind.startswith("tls:index/"):
            # What pulumi-tls computes: PEM blocks (placeholders, stable per resource name).
            field_name, label = {
                "tls:index/privateKey:PrivateKey": ("privateKeyPem", "PRIVATE KEY"),
                "tls:index/certRequest:CertRequest": ("certRequestPem", "CERTIFICATE REQUEST"),
            }.get(kind, ("certPem", "CERTIFICATE"))
            state[field_name] = f"-----BEGIN {label}-----\n{_digest(kind + name, 64)}\n-----END {label}-----\n"
        elif kind == "aws:ec2/vpcEndpoint:VpcEndpoint":
            # An endpoint's DNS names: the regional one first, then one per zone (<id>-<suffix>[-<zone>].<service>...).
            resource_id = f"vpce-{_digest(name, 17)}"
            service = str(state.get("serviceName", "")).split(".", 3)[-1]
            regional = f"{resource_id}-{_digest(name + 'dns', 8)}.{service}.{self.region}.vpce.amazonaws.com"
            state["dnsEntries"] = [{"dnsName": regional, "hostedZoneId": "Z7HUB22UULQXV"}]
        elif kind.startswith("aws:ec2/"):
            prefix = {"vpc": "vpc", "subnet": "subnet", "internetGateway": "igw", "natGateway": "nat", "eip": "eipalloc", "routeTable": "rtb",
                      "securityGroup": "sg"}
            short = kind.split("/")[1].split(":")[0]
            resource_id = f"{prefix.get(short, short)}-{_digest(name)}"
        return resource_id, state

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict, list]:
        token = args.token
        if token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {
                "accountId": self.account,
                "arn": f"arn:aws:sts::{self.account}:assumed-role/platform-deployer/ci",
                "userId": "AROAEXAMPLE:ci",
                "id": self.account,
            }, []
        if token == "aws:iam/getSessionContext:getSessionContext":
            return {"arn": args.args.get("arn"), "issuerArn": DEPLOYER_ROLE, "issuerName": "platform-deployer", "issuerId": "AROAEXAMPLE", "sessionName": "ci", "id": "ci"}, []
        if token == "aws:eks/getAddonVersion:getAddonVersion":
            addon = args.args["addonName"]
            return {"addonName": addon, "kubernetesVersion": args.args.get("kubernetesVersion"), "version": ADDON_DEFAULT_VERSIONS[addon], "id": addon}, []
        if token == "aws:ecr/getImage:getImage":
            reference = f"{args.args['repositoryName']}:{args.args['imageTag']}"
            if not self.step_image_pushed:
                # As the provider answers: a failed invoke (the SDK raises it to the caller), not a broken RPC.
                return {}, [("imageTag", f"ImageNotFoundException: the image {reference} does not exist")]
            digest = f"sha256:{hashlib.sha256(reference.encode()).hexdigest()}"
            return {"imageDigest": digest, "imageTags": [args.args["imageTag"]], "id": digest}, []
        raise NotImplementedError(f"offline preview has no answer for invoke {token}; add one to tooling/mocks.py")


class RecordingMonitor(MockMonitor):
    """A mock monitor that also keeps the resource options the engine would see."""

    def __init__(self, mocks: PlatformMocks) -> None:
        super().__init__(mocks)
        self.registrations: list[Registration] = []

    def RegisterResource(self, request):  # noqa: N802 - gRPC method name
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            state = self.resources[response.urn].state
            secret_paths: list[str] = []
            inputs = unwrap_secrets(pulumi.runtime.rpc.deserialize_properties(request.object, keep_unknowns=True), "", secret_paths)
            self.registrations.append(
                Registration(
                    type=request.type,
                    name=request.name,
                    urn=response.urn,
                    inputs=inputs,
                    parent=request.parent,
                    protect=request.protect,
                    retain_on_delete=request.retainOnDelete,
                    ignore_changes=tuple(request.ignoreChanges),
                    dependencies=tuple(request.dependencies),
                    property_dependencies={key: tuple(value.urns) for key, value in request.propertyDependencies.items()},
                    outputs=dict(state),
                    secret_paths=tuple(secret_paths),
                    provider=request.provider,
                    id=response.id,
                )
            )
        return response
