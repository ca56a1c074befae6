"""The program's MLflow users Job and the pipeline user's Secrets, in each stack's graph under mocks
(what the Job does against a real MLflow: tests/ml/test_mlflow_users.py)."""

from __future__ import annotations

import pytest

from infra import flows, namespaces, versions
from infra.components import mlflow_users as component
from infra.workload_security import container_security, pod_security
from pipelines import cluster, mlflow_users
from tooling import offline
from tooling.mocks import Registration
from tooling.netpol import Pod, allowed

JOB = "kubernetes:batch/v1:Job"
SECRET = "kubernetes:core/v1:Secret"
EXTERNAL_SECRET = "kubernetes:external-secrets.io/v1:ExternalSecret"


def users_job(run: offline.OfflineRun) -> Registration:
    """The stack's one users Job."""
    (job,) = [r for r in run.of_type(JOB) if r.inputs["metadata"]["name"].startswith("mlflow-users-")]
    return job


def secret(run: offline.OfflineRun, namespace: str, name: str) -> dict:
    """The data of the Secret ``namespace/name`` (exactly one): the program's, or the template of the ExternalSecret
    that makes it (AWS stacks, infra/credentials.py)."""
    (found,) = [r for r in [*run.of_type(SECRET), *run.of_type(EXTERNAL_SECRET)]
                if (r.inputs["metadata"]["name"], r.inputs["metadata"].get("namespace")) == (name, namespace)]
    return found.inputs["stringData"] if found.type == SECRET else found.inputs["spec"]["target"]["template"]["data"]


def test_pipeline_steps_get_the_pipeline_user_not_the_admin(stack_run: offline.OfflineRun) -> None:
    """The credentials the pipeline steps read name the pipeline user, and its password is not the admin's."""
    steps = secret(stack_run, namespaces.KUBEFLOW.name, cluster.MLFLOW_CREDENTIALS_SECRET)
    config = secret(stack_run, namespaces.MLFLOW.name, "mlflow-config")
    assert steps["username"] == mlflow_users.PIPELINE_USERNAME != config[component.ADMIN_KEYS["username"]]
    assert steps["password"] != config[component.ADMIN_KEYS["password"]]
    assert steps == secret(stack_run, namespaces.MLFLOW.name, component.PIPELINE_SECRET)


def test_users_job_runs_restricted_bounded_and_after_mlflow(stack_run: offline.OfflineRun) -> None:
    """The users Job: MLflow's pinned image, restricted pod, no API token, requests and limits, created after MLflow's Deployment."""
    job = users_job(stack_run)
    spec = job.inputs["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    assert container["image"] == versions.IMAGES["mlflow"], job.urn
    assert spec["securityContext"] == pod_security() and container["securityContext"] == container_security(), job.urn
    assert spec["automountServiceAccountToken"] is False, job.urn
    assert set(container["resources"]) == {"requests", "limits"}, job.urn
    assert all(set(container["resources"][kind]) == {"cpu", "memory"} for kind in ("requests", "limits")), job.urn
    assert any(urn.endswith("::mlflow-deployment") for urn in job.dependencies), job.urn


def test_users_job_reads_every_credential_by_reference_from_secrets_that_exist(stack_run: offline.OfflineRun) -> None:
    """The Job's credentials are secretKeyRefs to keys its namespace's Secrets hold; no credential is a literal value."""
    job = users_job(stack_run)
    namespace = job.inputs["metadata"]["namespace"]
    (container,) = job.inputs["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e for e in container["env"]}
    credentials = (*cluster.MLFLOW_CREDENTIALS_ENV.values(), mlflow_users.PIPELINE_PASSWORD_ENV)
    for name in credentials:
        ref = env[name]["valueFrom"]["secretKeyRef"]
        assert secret(stack_run, namespace, ref["name"])[ref["key"]], (job.urn, name)
    assert env[cluster.MLFLOW_CREDENTIALS_ENV["username"]]["valueFrom"]["secretKeyRef"]["key"] == component.ADMIN_KEYS["username"]


def test_users_job_runs_this_checkouts_code_and_is_renamed_when_it_changes(stack_run: offline.OfflineRun) -> None:
    """The Job mounts the modules it imports, as they are in this checkout; other code or another server is another Job."""
    job = users_job(stack_run)
    (volume,) = [v for v in job.inputs["spec"]["template"]["spec"]["volumes"] if "configMap" in v]
    (code,) = [r for r in stack_run.of_type("kubernetes:core/v1:ConfigMap") if r.inputs["metadata"]["name"] == volume["configMap"]["name"]]
    assert code.inputs["data"] == component.job_modules()
    modules, url = component.job_modules(), "http://mlflow.mlflow.svc.cluster.local:5000"
    assert job.inputs["metadata"]["name"] == f"mlflow-users-{component.job_suffix(modules, url)}"
    changed = {**modules, "mlflow_users.py": modules["mlflow_users.py"] + "\n# changed\n"}
    assert component.job_suffix(changed, url) != component.job_suffix(modules, url)


def test_only_the_users_job_and_the_pipelines_reach_mlflow_from_the_platform(stack_run: offline.OfflineRun) -> None:
    """The stack's NetworkPolicies admit the users Job's pods to MLflow's port, and no other pod of MLflow's namespace."""
    policies = [r.inputs for r in stack_run.of_type("kubernetes:networking.k8s.io/v1:NetworkPolicy")]
    job = users_job(stack_run)
    mlflow = Pod(namespaces.MLFLOW.name, dict(flows.MLFLOW_PODS))
    job_pod = Pod(namespaces.MLFLOW.name, dict(job.inputs["spec"]["template"]["metadata"]["labels"]))
    assert allowed(policies, job_pod, mlflow, flows.MLFLOW_PORT), job.urn
    assert not allowed(policies, Pod(namespaces.MLFLOW.name, {"app.kubernetes.io/name": "other"}), mlflow, flows.MLFLOW_PORT)


@pytest.mark.parametrize("stack", ["local"])
def test_without_mlflow_auth_there_is_no_user_job_nor_flow(stack: str) -> None:
    """mlflowBasicAuth off: no users Job, no pipeline user Secret, no flow for it."""
    run = offline.run(stack, {"mlflowBasicAuth": False})
    assert not [r for r in run.of_type(JOB) if r.inputs["metadata"]["name"].startswith("mlflow-users-")]
    assert not [r for r in run.of_type(SECRET) if r.inputs["metadata"]["name"] == component.PIPELINE_SECRET]
    assert not [r for r in run.of_type("kubernetes:networking.k8s.io/v1:NetworkPolicy") if r.name.startswith("mlflow-users-")]
