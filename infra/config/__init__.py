"""Typed, validated stack settings: the one place the program reads configuration.

Pulumi hands the program a flat map of ``mlplatform:<key>`` strings (the project
defaults from ``Pulumi.yaml`` merged with ``stacks/Pulumi.<stack>.yaml``). This
package turns that map into frozen :class:`Settings` and refuses anything invalid
before a single resource is declared, with one line that names the key, the bad
value and what is allowed. One module per settings group (``nodegroup``,
``network``, ``cluster``, ``database``, ``pipelines``, ``serving``, ``gitops``, ``observability``, ``sso``),
``settings`` ties them together, ``loading`` reads and decodes the stack's map.
"""

from infra.config.base import CONFIG_NAMESPACES, PRIVATE_RANGES, PROJECT, ConfigError, covers_internet, is_prod_stack
from infra.config.cluster import LOG_RETENTION_DAYS, SUPPORTED_KUBERNETES_VERSIONS, ClusterSettings
from infra.config.database import DatabaseSettings
from infra.config.gitops import GitOpsSettings
from infra.config.loading import CONFIG_KEYS, check_namespaces, check_secrets, check_stack, decode_config, load, parse_settings
from infra.config.network import NetworkSettings
from infra.config.nodegroup import STANDARD_AMI_TYPES, NodeGroupSettings, instance_family, instance_size
from infra.config.observability import AlertReceiver, ObservabilitySettings, check_secret_credentials
from infra.config.pipelines import PipelineSettings
from infra.config.serving import MODEL_URI, ServingSettings
from infra.config.settings import AWS_REGIONS, FLAT_KEYS, GROUPS, HOSTED_RUNNER, Settings
from infra.config.sso import SECRET_KEYS, SsoSettings

__all__ = [
    "AWS_REGIONS", "AlertReceiver", "ObservabilitySettings", "check_secret_credentials", "CONFIG_KEYS", "CONFIG_NAMESPACES",
    "FLAT_KEYS", "GROUPS", "HOSTED_RUNNER", "LOG_RETENTION_DAYS", "MODEL_URI",
    "PRIVATE_RANGES", "PROJECT", "SECRET_KEYS", "STANDARD_AMI_TYPES", "SUPPORTED_KUBERNETES_VERSIONS", "ClusterSettings", "ConfigError",
    "DatabaseSettings", "GitOpsSettings", "NetworkSettings", "NodeGroupSettings", "PipelineSettings", "ServingSettings",
    "Settings", "SsoSettings", "check_namespaces", "check_secrets", "check_stack", "covers_internet", "decode_config", "instance_family", "instance_size", "is_prod_stack",
    "load", "parse_settings",
]
