"""What a real EKS cluster would break on that renders and mocks do not show, checked on the rendered objects.

Each was found by reading upstream's code and issues at the pinned versions against the values we pass.
"""

from __future__ import annotations

import ipaddress
import json

import pytest
import yaml

from infra import flows, versions
from tooling import offline
from tooling.netpol import Pod, allowed
from tooling.render import Rendered, namespace_of

AWS_STACKS = [s for s in offline.STACKS if s != "local"]


def _objects(stack_objects: dict[str, list[Rendered]], stack: str) -> list[dict]:
    return [item.obj for item in stack_objects[stack]]


def _one(objects: list[dict], kind: str, name: str) -> dict:
    (found,) = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    return found


def _env(deployment: dict, container: str) -> dict[str, dict]:
    (spec,) = [c for c in deployment["spec"]["template"]["spec"]["containers"] if c["name"] == container]
    return {e["name"]: e for e in spec.get("env", [])}


def _resolve(objects: list[dict], namespace: str, entry: dict) -> str | None:
    """An env entry's value, following a configMapKeyRef to the stack's ConfigMap."""
    if "valueFrom" not in entry:
        return entry.get("value")
    ref = entry["valueFrom"]["configMapKeyRef"]
    (config,) = [o for o in objects if o["kind"] == "ConfigMap" and o["metadata"]["name"] == ref["name"] and namespace_of(o) == namespace]
    return config["data"][ref["key"]]


@pytest.mark.parametrize("stack", offline.STACKS)
def test_kfp_cache_webhook_certificate_comes_from_cert_manager(stack: str, stack_objects: dict[str, list[Rendered]],
                                                               stack_runs: dict[str, offline.OfflineRun]) -> None:
    """No cache-deployer (its kubelet-serving CSR is never signed on EKS): cert-manager issues the Secret cache-server
    mounts, for the names the webhook calls, and injects its CA into the webhook; KFP waits for cert-manager."""
    objects = _objects(stack_objects, stack)
    assert not [o for o in objects if "cache-deployer" in o["metadata"].get("name", "")]
    server = _one(objects, "Deployment", "cache-server")
    secrets = {v["secret"]["secretName"] for v in server["spec"]["template"]["spec"]["volumes"] if "secret" in v}
    (certificate,) = [o for o in objects if o["kind"] == "Certificate" and o["spec"]["secretName"] in secrets]
    (webhook,) = [o for o in objects if o["kind"] == "MutatingWebhookConfiguration" and namespace_of(certificate) in str(o.get("webhooks"))
                  and "cache-server" in str(o.get("webhooks"))]
    assert webhook["metadata"]["annotations"]["cert-manager.io/inject-ca-from"] == f"{namespace_of(certificate)}/{certificate['metadata']['name']}"
    service = webhook["webhooks"][0]["clientConfig"]["service"]
    assert f"{service['name']}.{service['namespace']}.svc" in certificate["spec"]["dnsNames"]
    args = server["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--tls_cert_filename=tls.crt" in args and "--tls_key_filename=tls.key" in args
    run = stack_runs[stack]
    (directory,) = [d for d in run.of_type("kubernetes:kustomize/v2:Directory") if d.name.endswith("-platform-agnostic")]
    (cert_manager,) = [r for r in run.of_type("kubernetes:helm.sh/v3:Release") if r.inputs["chart"] == versions.CERT_MANAGER.chart]
    assert cert_manager.urn in directory.dependencies, "KFP's Certificate and Issuer would be applied before cert-manager's CRDs"
    policies = [o for o in objects if o["kind"] == "NetworkPolicy"]
    control_plane = flows.control_plane_cidrs(run.settings, run.settings.network.vpc_cidr)[0]
    port = server["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"]
    pod = Pod(namespace_of(server), dict(server["spec"]["template"]["metadata"]["labels"]))
    assert allowed(policies, Pod("", ip=str(next(ipaddress.ip_network(control_plane).hosts()))), pod, port), \
        "the API server cannot call the cache webhook"


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_kfp_api_server_signs_s3_requests_with_irsa_not_the_images_keys(stack: str, stack_objects: dict[str, list[Rendered]]) -> None:
    """Both OBJECTSTORECONFIG keys are set and empty: absent, KFP 2.17.0 reads minio/minio123 from the image's
    /config/config.json and signs every S3 request with them; empty, its AWS client takes the default chain (IRSA)."""
    env = _env(_one(_objects(stack_objects, stack), "Deployment", "ml-pipeline"), "ml-pipeline-api-server")
    for key in ("OBJECTSTORECONFIG_ACCESSKEY", "OBJECTSTORECONFIG_SECRETACCESSKEY"):
        assert key in env and env[key] == {"name": key, "value": ""}, env.get(key)


@pytest.mark.parametrize("stack", offline.STACKS)
def test_kfp_ui_reads_archived_logs_from_the_platforms_bucket(stack: str, stack_objects: dict[str, list[Rendered]],
                                                              stack_runs: dict[str, offline.OfflineRun]) -> None:
    """Once Argo's TTL removes a workflow, the UI reads its logs from the archive: the platform's bucket, Argo's key format,
    and on S3 the stack's region (else it signs for us-east-1 and asks GetBucketLocation, which its role lacks)."""
    objects = _objects(stack_objects, stack)
    env = _env(_one(objects, "Deployment", "ml-pipeline-ui"), "ml-pipeline-ui")
    run = stack_runs[stack]
    namespace = "kubeflow"
    repositories = _one(objects, "ConfigMap", "artifact-repositories")
    argo = yaml.safe_load(next(iter(repositories["data"].values())))["s3"]
    assert _resolve(objects, namespace, env["ARGO_ARCHIVE_LOGS"]) == "true"
    assert _resolve(objects, namespace, env["ARGO_ARCHIVE_BUCKETNAME"]) == argo["bucket"]
    assert _resolve(objects, namespace, env["ARGO_KEYFORMAT"]) == argo["keyFormat"]
    if run.settings.is_aws:
        assert _resolve(objects, namespace, env["ARGO_ARCHIVE_ARTIFACTORY"]) == "s3"
        assert _resolve(objects, namespace, env["AWS_REGION"]) == run.settings.aws_region
        assert _resolve(objects, namespace, env["AWS_S3_ENDPOINT"]) == f"s3.{run.settings.aws_region}.amazonaws.com"
        assert not {"MINIO_ACCESS_KEY", "MINIO_SECRET_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} & set(env)
    else:
        # The UI appends MINIO_NAMESPACE to MINIO_HOST when it is set: the endpoint must be the host alone.
        assert _resolve(objects, namespace, env["MINIO_NAMESPACE"]) == ""
        assert _resolve(objects, namespace, env["MINIO_HOST"]) == argo["endpoint"].rsplit(":", 1)[0]


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_no_webhook_refuses_services_before_its_controller_runs(stack: str, stack_objects: dict[str, list[Rendered]]) -> None:
    """The load-balancer controller's Service webhook is off: with failurePolicy Fail it refuses every Service of the
    first `pulumi up` until the controller's pods are ready (the platform uses ALB Ingresses, not NLB Services)."""
    objects = _objects(stack_objects, stack)
    webhooks = [(o, w) for o in objects if o["kind"] == "MutatingWebhookConfiguration" for w in o.get("webhooks", [])
                if w.get("failurePolicy", "Fail") == "Fail"
                and any("services" in r.get("resources", []) and "" in r.get("apiGroups", []) for r in w.get("rules", []))]
    assert [w["name"] for _, w in webhooks] == []
    # The controller and its other webhooks (pods, target group bindings) are still installed.
    assert [o for o in objects if o["kind"] == "Deployment" and "load-balancer-controller" in o["metadata"]["name"]]
    assert "mpod.elbv2.k8s.aws" in str([o for o in objects if o["kind"] == "MutatingWebhookConfiguration"])


@pytest.mark.parametrize("stack", offline.STACKS)
def test_kserve_gives_the_storage_initializer_the_buckets_region(stack: str, stack_objects: dict[str, list[Rendered]],
                                                                  stack_runs: dict[str, offline.OfflineRun]) -> None:
    """On S3, KServe's credentials config names the stack's region: KServe v0.20.0 sets it as AWS_REGION on the storage
    initializer of a service account with an IRSA role, instead of relying on the pod identity webhook for it."""
    config = _one(_objects(stack_objects, stack), "ConfigMap", "inferenceservice-config")
    s3 = json.loads(config["data"]["credentials"])["s3"]
    run = stack_runs[stack]
    assert s3["s3Region"] == (run.settings.aws_region if run.settings.object_store == "s3" else "")
