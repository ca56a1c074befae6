"""AWS's limits on the physical names (and tags) the program makes, checked before AWS refuses them.

``findings(run)`` reads each registration's name as it will be at creation: the explicit name input;
else a prefix input plus the 26 characters the provider appends (Terraform's unique-ID suffix, which
is why IAM allows a role's ``name_prefix`` only 38 of its 64); else Pulumi's autoname, the logical
name, ``-`` and 7 random characters (lowercased where AWS wants lowercase), which is the shape of the
mocks' outputs. Each rule is AWS's documented limit for that resource type.

Load balancers: the AWS Load Balancer Controller (v3.5.0, pkg/ingress/model_build_load_balancer.go and
model_build_target_group.go) names what it generates ``k8s-<namespace:8>-<name:8>-<hash:10>`` or, for
an explicit group, ``k8s-<group:17>-<hash:10>``: at most 32 characters, always valid. What can break is
what a person writes: the ``load-balancer-name`` annotation (it refuses more than 32 characters) and
the ``group.name`` (pkg/ingress/group_loader.go: lowercase alphanumerics, ``-`` and ``.``, at most 63).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tooling.simulate.findings import Finding

# Terraform's PrefixedUniqueId: a 18-digit timestamp and an 8-hex-digit counter after the prefix.
PREFIX_SUFFIX = "20260101000000000000000001"
ALB = "alb.ingress.kubernetes.io/"
ALB_GROUP = re.compile(r"^([a-z0-9][-a-z0-9.]*)?[a-z0-9]$")


@dataclass(frozen=True)
class Rule:
    """AWS's limit on one kind of name: where the name is, how long it may be, what it may contain."""

    what: str
    field: str
    max_len: int
    pattern: str
    allowed: str
    prefix_field: str = "namePrefix"
    lower: bool = False  # Pulumi lowercases its autoname
    min_len: int = 1
    forbidden: tuple[tuple[str, str], ...] = ()  # (regex the name must not match, what it is)


_IAM = r"[\w+=,.@-]+", "letters, digits and +=,.@_-"
_LB = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?", "letters, digits and hyphens, with no hyphen first or last"
_RDS = r"[a-z][a-z0-9-]*", "lowercase letters, digits and hyphens, starting with a letter"
_RDS_FORBIDDEN = ((r"--", "two hyphens in a row"), (r"-$", "a hyphen last"))
_EKS = r"[0-9A-Za-z][A-Za-z0-9_-]*", "letters, digits, - and _, starting with a letter or digit"
RULES = {
    "aws:iam/role:Role": Rule("IAM role name", "name", 64, *_IAM),
    "aws:iam/policy:Policy": Rule("IAM policy name", "name", 128, *_IAM),
    "aws:iam/rolePolicy:RolePolicy": Rule("IAM inline policy name", "name", 128, *_IAM),
    "aws:iam/instanceProfile:InstanceProfile": Rule("IAM instance profile name", "name", 128, *_IAM),
    "aws:s3/bucket:Bucket": Rule(
        "S3 bucket name", "bucket", 63, r"[a-z0-9][a-z0-9.-]*[a-z0-9]",
        "lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit", "bucketPrefix", True, 3,
        ((r"\.\.", "two dots in a row"), (r"^\d+\.\d+\.\d+\.\d+$", "the form of an IP address"),
         (r"^(xn--|sthree-|amzn-s3-demo-)", "a prefix AWS reserves"), (r"(-s3alias|--ol-s3|\.mrap|--x-s3|--table-s3)$", "a suffix AWS reserves"))),
    "aws:lb/loadBalancer:LoadBalancer": Rule("load balancer name", "name", 32, *_LB, forbidden=((r"^internal-", "the prefix internal-"),)),
    "aws:lb/targetGroup:TargetGroup": Rule("target group name", "name", 32, *_LB),
    "aws:rds/instance:Instance": Rule("RDS DB identifier", "identifier", 63, *_RDS, "identifierPrefix", True, forbidden=_RDS_FORBIDDEN),
    "aws:rds/cluster:Cluster": Rule("RDS cluster identifier", "clusterIdentifier", 63, *_RDS, "clusterIdentifierPrefix", True,
                                    forbidden=_RDS_FORBIDDEN),
    "aws:rds/parameterGroup:ParameterGroup": Rule("DB parameter group name", "name", 255, *_RDS, lower=True, forbidden=_RDS_FORBIDDEN),
    "aws:rds/subnetGroup:SubnetGroup": Rule("DB subnet group name", "name", 255, r"[a-z0-9 ._-]+",
                                            "lowercase letters, digits, spaces and ._-", lower=True),
    "aws:kms/alias:Alias": Rule("KMS alias", "name", 256, r"alias/[A-Za-z0-9/_-]+", "alias/ and then letters, digits and /_-",
                                forbidden=((r"^alias/aws/", "the prefix alias/aws/, which AWS keeps for its own keys"),)),
    "aws:eks/cluster:Cluster": Rule("EKS cluster name", "name", 100, *_EKS),
    "aws:eks/nodeGroup:NodeGroup": Rule("EKS node group name", "nodeGroupName", 63, *_EKS, "nodeGroupNamePrefix"),
    "aws:ec2/securityGroup:SecurityGroup": Rule("security group name", "name", 255, r"[A-Za-z0-9 ._\-:/()#,@\[\]+=&;{}!$*]+",
                                                "letters, digits, spaces and ._-:/()#,@[]+=&;{}!$*", forbidden=((r"^sg-", "the prefix sg-"),)),
    "aws:cloudwatch/logGroup:LogGroup": Rule("CloudWatch log group name", "name", 512, r"[\w./#-]+", "letters, digits and _-./#"),
    "aws:ec2/launchTemplate:LaunchTemplate": Rule("launch template name", "name", 128, r"[A-Za-z0-9().\-/_]+",
                                                  "letters, digits and ().-/_", min_len=3),
    "aws:ecr/repository:Repository": Rule("ECR repository name", "name", 256, r"(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*",
                                          "lowercase path parts of letters and digits joined by . _ -", "", True, 2),
}
# The same resources under the type tokens of their aliases.
RULES |= {"aws:s3/bucketV2:BucketV2": RULES["aws:s3/bucket:Bucket"], "aws:alb/loadBalancer:LoadBalancer": RULES["aws:lb/loadBalancer:LoadBalancer"],
          "aws:alb/targetGroup:TargetGroup": RULES["aws:lb/targetGroup:TargetGroup"]}


def physical_name(resource, rule: Rule) -> tuple[str, str]:
    """The name ``resource`` gets and how: given, prefixed (the provider appends 26 characters) or autonamed."""
    given = resource.inputs.get(rule.field)
    if isinstance(given, str) and given:
        return given, f"{rule.field} as given"
    prefix = resource.inputs.get(rule.prefix_field) if rule.prefix_field else None
    if isinstance(prefix, str) and prefix:
        return prefix + PREFIX_SUFFIX, f"{rule.prefix_field} {prefix!r} ({len(prefix)}) and the provider's 26 characters"
    generated = resource.outputs.get(rule.field)
    name = generated if isinstance(generated, str) and generated else f"{resource.name}-abcdef0"
    return (name.lower() if rule.lower else name), f"the logical name {resource.name!r} and Pulumi's 8 characters"


def check(rule: Rule, name: str, how: str = "") -> list[str]:
    """Why AWS would refuse ``name`` under ``rule`` (empty: it would not)."""
    said = f"{rule.what} {name!r} ({how})" if how else f"{rule.what} {name!r}"
    problems = []
    if not rule.min_len <= len(name) <= rule.max_len:
        problems.append(f"{said} is {len(name)} characters; AWS allows {rule.min_len} to {rule.max_len}")
    if not re.fullmatch(rule.pattern, name):
        problems.append(f"{said} has characters or a form AWS refuses; allowed: {rule.allowed}")
    problems += [f"{said} has {what}" for pattern, what in rule.forbidden if re.search(pattern, name)]
    return problems


def tag_problems(tags: object) -> list[str]:
    """AWS tags: keys of 1 to 128 characters that do not start with aws:, values of at most 256."""
    if not isinstance(tags, dict):
        return []
    return ([f"tag key {key!r} is {len(key)} characters; AWS allows 1 to 128" for key in tags if not 1 <= len(str(key)) <= 128]
            + [f"tag {key!r} has a value of {len(str(v))} characters; AWS allows 256" for key, v in tags.items() if len(str(v)) > 256]
            + [f"tag key {key!r} starts with aws:, which AWS keeps for itself" for key in tags if str(key).lower().startswith("aws:")])


def _annotations(value: object):
    """Every mapping under ``value`` that holds an ALB annotation, and the serving chart's ``loadBalancer.groupName``."""
    if isinstance(value, dict):
        if any(str(key).startswith(ALB) for key in value):
            yield value
        if isinstance(value.get("loadBalancer"), dict) and "groupName" in value["loadBalancer"]:
            yield {f"{ALB}group.name": value["loadBalancer"]["groupName"]}
        for child in value.values():
            yield from _annotations(child)
    elif isinstance(value, list):
        for child in value:
            yield from _annotations(child)


def alb_problems(annotations: dict) -> list[str]:
    """What the AWS Load Balancer Controller v3.5.0 refuses in an Ingress's (or the serving chart's) names."""
    problems = []
    name = annotations.get(f"{ALB}load-balancer-name")
    if isinstance(name, str):
        problems += check(RULES["aws:lb/loadBalancer:LoadBalancer"], name, "load-balancer-name annotation")
    group = annotations.get(f"{ALB}group.name")
    if isinstance(group, str) and (not ALB_GROUP.match(group) or len(group) > 63):
        problems.append(f"ALB group name {group!r} is refused by the load balancer controller: lowercase letters, digits, "
                        "'-' and '.', starting and ending with a letter or digit, at most 63 characters")
    return problems


def findings(run) -> list[Finding]:
    """Every name or tag of the run's registrations that AWS (or the load balancer controller) would refuse."""
    found = []
    for resource in run.resources:
        subject = f"{resource.type} {resource.name}"
        problems = []
        if resource.type in RULES:
            problems += check(RULES[resource.type], *physical_name(resource, RULES[resource.type]))
        if resource.type.startswith("aws:"):
            problems += tag_problems(resource.inputs.get("tags"))
        if resource.type == "aws:autoscaling/tag:Tag":
            tag = resource.inputs.get("tag") or {}
            problems += tag_problems({tag.get("key", ""): tag.get("value", "")})
        if resource.type.startswith("kubernetes:"):
            for annotations in _annotations(resource.inputs):
                problems += alb_problems(annotations)
        found += [Finding("names", subject, problem) for problem in dict.fromkeys(problems)]
    return sorted(found)
