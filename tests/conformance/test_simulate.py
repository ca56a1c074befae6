"""The fresh-cluster simulation (tooling/simulate): every stack's `pulumi up` and `pulumi destroy`
over its rendered objects, each check made to fire by a planted defect, and the README's waves.

Planted defects mutate deep copies of the session's runs and objects (nothing is rendered again);
each asserts the exact finding line, with the waves read from the plan.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from tooling import offline, render
from tooling.mocks import Registration
from tooling.simulate import __main__ as cli
from tooling.simulate import awaits, destroy, order, reachability, references
from tooling.simulate.engine import Plan
from tooling.simulate.report import readme_block, simulate, simulate_destroy, waves_lines, with_waves

ROOT = Path(__file__).resolve().parents[2]
def copies(stack_runs: dict, stack_objects: dict, stack: str = "staging") -> tuple[offline.OfflineRun, list[render.Rendered]]:
    """Deep copies of one stack's run and objects, to plant a defect in."""
    return copy.deepcopy(stack_runs[stack]), copy.deepcopy(stack_objects[stack])


def resource(run: offline.OfflineRun, resource_type: str, name: str) -> Registration:
    (found,) = [r for r in run.resources if r.type == resource_type and r.name == name]
    return found


def rendered(objects: list[render.Rendered], kind: str, namespace: str, name: str) -> render.Rendered:
    (found,) = [o for o in objects if render.identity(o.obj)[1:] == (kind, namespace, name)]
    return found


def lines(found: list) -> set[str]:
    return {f.line() for f in found}


def test_every_stack_simulates_clean(stack: str, stack_runs: dict, stack_objects: dict, upstream: Path) -> None:
    """A fresh `pulumi up` of every stack (and option variant) meets no finding and exits 0."""
    outcome = simulate(stack_runs[stack], stack_objects[stack], upstream)
    assert [f.line() for f in outcome.findings] == [], outcome.text()
    assert outcome.exit_code == 0 and outcome.lines[-1] == "no findings"


def test_every_stack_destroys_clean(stack: str, stack_runs: dict, stack_objects: dict, upstream: Path) -> None:
    """`pulumi destroy` of every stack leaks or hangs on nothing; only prod refuses (its state is protected)."""
    outcome = simulate_destroy(stack_runs[stack], stack_objects[stack], upstream)
    assert [f.line() for f in outcome.findings] == [], outcome.text()
    protected = [r for r in stack_runs[stack].resources if r.protect]
    assert bool(outcome.refused) == bool(protected) == (stack == "prod"), outcome.text()


def test_order_namespace_before_its_objects(stack_runs: dict, stack_objects: dict, upstream: Path) -> None:
    """order: an object whose step no longer waits for its Namespace is named, with both waves."""
    run, objects = copies(stack_runs, stack_objects)
    policy = resource(run, "kubernetes:networking.k8s.io/v1:NetworkPolicy", "mlflow-allow-dns")
    namespace = resource(run, "kubernetes:core/v1:Namespace", "mlflow")
    policy.dependencies = tuple(d for d in policy.dependencies if d != namespace.urn)
    plan = Plan(run, objects, upstream)
    expected = (f"FINDING order: NetworkPolicy mlflow/allow-dns: NetworkPolicy mlflow-allow-dns (wave {plan.wave[policy.urn]}) does not "
                f"wait for Namespace mlflow (wave {plan.wave[namespace.urn]}), which creates Namespace mlflow")
    assert expected in lines(order.findings(plan))


def test_order_custom_resource_after_its_crd_and_webhook(stack_runs: dict, stack_objects: dict, upstream: Path) -> None:
    """order: a Certificate from a step that waits neither for cert-manager's CRDs nor for its webhook is named twice."""
    run, objects = copies(stack_runs, stack_objects)
    service = resource(run, "kubernetes:core/v1:Service", "mlflow-service")
    certificate = {"apiVersion": "cert-manager.io/v1", "kind": "Certificate", "metadata": {"name": "planted", "namespace": "mlflow"},
                   "spec": {"secretName": "planted-tls", "issuerRef": {"name": "x"}}}
    objects.append(render.Rendered(service.urn, certificate))
    plan = Plan(run, objects, upstream)
    manager = resource(run, render.RELEASE, "cert-manager")
    found = {line for line in lines(order.findings(plan)) if "Certificate mlflow/planted" in line}
    assert found == {
        f"FINDING order: Certificate mlflow/planted: Service mlflow-service (wave {plan.wave[service.urn]}) does not wait for "
        f"Release cert-manager (wave {plan.wave[manager.urn]}), which installs its CRD certificates.cert-manager.io",
        f"FINDING order: Certificate mlflow/planted: Service mlflow-service (wave {plan.wave[service.urn]}) may create it while "
        "fail-closed webhook webhook.cert-manager.io has no ready backend: it does not wait for Deployment "
        "cert-manager/cert-manager-webhook (Release cert-manager)",
    }


def test_order_service_webhook_before_its_controller(stack_runs: dict, stack_objects: dict, upstream: Path) -> None:
    """order: the load balancer controller's fail-closed Service webhook, planted back, names every Service created without waiting for it."""
    run, objects = copies(stack_runs, stack_objects)
    (config,) = [o for o in objects if o.obj.get("kind") == "MutatingWebhookConfiguration" and o.obj["metadata"]["name"] == "aws-load-balancer-webhook"]
    config.obj["webhooks"].append({
        "name": "mservice.elbv2.k8s.aws", "failurePolicy": "Fail", "admissionReviewVersions": ["v1"], "sideEffects": "None",
        "clientConfig": {"service": {"name": "aws-load-balancer-webhook-service", "namespace": "kube-system", "path": "/mutate-v1-service"}},
        "objectSelector": {"matchExpressions": [{"key": "app.kubernetes.io/name", "operator": "NotIn", "values": ["aws-load-balancer-controller"]}]},
        "rules": [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["services"]}],
    })
    plan = Plan(run, objects, upstream)
    service = resource(run, "kubernetes:core/v1:Service", "mlflow-service")
    found = lines(order.findings(plan))
    assert (f"FINDING order: Service mlflow/mlflow: Service mlflow-service (wave {plan.wave[service.urn]}) may create it while fail-closed "
            "webhook mservice.elbv2.k8s.aws has no ready backend: it does not wait for Deployment kube-system/aws-load-balancer-controller "
            "(Release aws-load-balancer-controller)") in found
    assert not [line for line in found if "aws-load-balancer-webhook-service" in line.split(":")[1]], "the controller's own Service is exempt"


def test_references_missing_secret(stack_runs: dict, stack_objects: dict, upstream: Path) -> None:
    """references: a pod template naming a Secret nothing creates is named with the Secret."""
    run, objects = copies(stack_runs, stack_objects)
    mlflow = rendered(objects, "Deployment", "mlflow", "mlflow")
    container = mlflow.obj["spec"]["template"]["spec"]["containers"][0]
    container.setdefault("env", []).append({"name": "PLANTED", "valueFrom": {"secretKeyRef": {"name": "planted-missing", "key": "k"}}})
    found = lines(references.findings(Plan(run, objects, upstream)))
    assert "FINDING references: Deployment mlflow/mlflow: needs Secret mlflow/planted-missing: nothing in the stack creates it" in found


def test_references_external_secret_needs_the_operator(stack_runs: dict, stack_objects: dict, upstream: Path) -> None:
    """references: a Secret an ExternalSecret makes counts once the operator's controller is awaited before it; an
    ExternalSecret applied without waiting for the operator, or none at all, leaves its consumer a finding."""
    import dataclasses

    run, objects = copies(stack_runs, stack_objects)
    assert not [line for line in lines(references.findings(Plan(run, objects, upstream))) if "mlflow/mlflow-config" in line]
    external = resource(run, "kubernetes:external-secrets.io/v1:ExternalSecret", "mlflow-config")
    run.resources[run.resources.index(external)] = dataclasses.replace(external, dependencies=())
    found = {line for line in lines(references.findings(Plan(run, objects, upstream))) if "mlflow/mlflow-config" in line}
    assert found == {"FINDING references: Deployment mlflow/mlflow: needs Secret mlflow/mlflow-config: its creator is the External "
                     "Secrets Operator (ExternalSecret mlflow/mlflow-config), which no running operator syncs: its step does not "
                     "wait for the operator's controller"}
    without = [o for o in objects if render.identity(o.obj)[1:] != ("ExternalSecret", "mlflow", "mlflow-config")]
    assert ("FINDING references: Deployment mlflow/mlflow: needs Secret mlflow/mlflow-config: nothing in the stack creates it"
            in lines(references.findings(Plan(run, without, upstream))))


@pytest.mark.parametrize("stack", ["staging", "local"])
def test_references_cache_deployer_csr(stack: str, stack_runs: dict, stack_objects: dict, upstream: Path) -> None:
    """references: KFP's cache webhook certificate from cache-deployer's kubelet-serving CSR is a finding on EKS, not on kind."""
    run, objects = copies(stack_runs, stack_objects, stack)
    objects = [o for o in objects if not (o.obj.get("kind") == "Certificate" and o.obj["spec"].get("secretName") == "webhook-server-tls")]
    server = rendered(objects, "Deployment", "kubeflow", "cache-server")
    deployer = copy.deepcopy(server.obj)
    deployer["metadata"]["name"] = "cache-deployer-deployment"
    deployer["spec"]["template"]["spec"]["volumes"] = []
    deployer["spec"]["template"]["spec"]["containers"] = [{"name": "main", "image": "ghcr.io/kubeflow/kfp-cache-deployer:2.17.0"}]
    objects.append(render.Rendered(server.source, deployer))
    found = {line for line in lines(references.findings(Plan(run, objects, upstream))) if "webhook-server-tls" in line}
    expected = {"FINDING references: Deployment kubeflow/cache-server: needs Secret kubeflow/webhook-server-tls: its creator, KFP's "
                "cache-deployer, has it signed through a kubernetes.io/kubelet-serving CSR, which EKS signs only for nodes "
                "(kubeflow/manifests#2165, #2146; kubeflow/pipelines#4505): the pods never start; issue it with a cert-manager Certificate"}
    assert found == (expected if stack != "local" else set())
    without = [o for o in objects if o.obj is not deployer]
    assert ("FINDING references: Deployment kubeflow/cache-server: needs Secret kubeflow/webhook-server-tls: nothing in the stack creates it"
            in lines(references.findings(Plan(run, without, upstream))))


def test_references_irsa_patched_after_pods(stack_runs: dict, stack_objects: dict, upstream: Path) -> None:
    """references: an IRSA role annotation added by a ServiceAccountPatch after the pods exist is named with its patch."""
    run, objects = copies(stack_runs, stack_objects)
    directory = resource(run, render.DIRECTORY, "kubeflow-pipelines-platform-agnostic")
    patch = Registration(
        type="kubernetes:core/v1:ServiceAccountPatch", name="planted-irsa", urn=directory.urn.replace(directory.name, "planted-irsa"),
        inputs={"metadata": {"namespace": "kubeflow", "name": "ml-pipeline", "annotations": {references.IRSA_ANNOTATION: "arn:aws:iam::1:role/x"}}},
        parent=directory.parent, dependencies=(directory.urn,), provider=directory.provider,
    )
    run.resources.append(patch)
    plan = Plan(run, objects, upstream)
    assert ("FINDING references: ServiceAccount kubeflow/ml-pipeline: its eks.amazonaws.com/role-arn annotation comes from ServiceAccountPatch "
            f"planted-irsa (wave {plan.wave[patch.urn]}), after the pods of Deployment kubeflow/ml-pipeline are created: EKS injects "
            "credentials only at pod creation (aws/amazon-eks-pod-identity-webhook#28); annotate the ServiceAccount where it is created"
            ) in lines(references.findings(plan))


def _without_policies(objects: list[render.Rendered], *names: str) -> list[render.Rendered]:
    return [o for o in objects if not (o.obj.get("kind") == "NetworkPolicy" and o.obj["metadata"]["name"] in names)]


def test_reachability_each_flow(stack_runs: dict, stack_objects: dict, upstream: Path) -> None:
    """reachability: dropping DNS, the API server's ipBlock, a webhook's ingress and a scrape's ingress names the pods cut off."""
    run, objects = copies(stack_runs, stack_objects)
    cut = _without_policies(objects, "allow-dns", "allow-kubeflow-to-apiserver-1-egress", "allow-apiserver-to-kserve-webhook-ingress",
                            "allow-monitoring-internal-ingress")
    plan = Plan(run, cut, upstream)
    found = lines(reachability.findings(plan))
    api, control_plane = run.settings.cluster.kubernetes_service_address, reachability.control_plane(plan)
    assert {
        "FINDING reachability: Deployment mlflow/mlflow: cannot reach CoreDNS (kube-system k8s-app=kube-dns) on 53",
        f"FINDING reachability: Deployment kubeflow/ml-pipeline: ServiceAccount ml-pipeline is bound to a role but its pods cannot reach the API server at {api}:443",
        f"FINDING reachability: Deployment kserve/kserve-controller-manager: does not admit the control plane ({control_plane}) "
        "on 9443 for webhook inferenceservice.kserve-webhook-server.validator: every request it intercepts is refused",
        "FINDING reachability: PodMonitor monitoring/pushgateway: Prometheus (monitoring) cannot scrape Deployment monitoring/pushgateway on 9091",
    } <= found


def test_awaits_timeout_and_storage(stack_runs: dict, stack_objects: dict, upstream: Path) -> None:
    """awaits: a release timeout below the model's floor, and a claim whose StorageClass the stack lacks, are named."""
    run, objects = copies(stack_runs, stack_objects)
    manager = resource(run, render.RELEASE, "cert-manager")
    manager.inputs["timeout"] = 10
    objects = [o for o in objects if o.obj.get("kind") != "StorageClass"]
    plan = Plan(run, objects, upstream)
    found = lines(awaits.findings(plan))
    assert (f"FINDING awaits: Release cert-manager: awaits {len(plan.awaited(manager.urn))} objects for at least "
            f"{awaits.estimate(plan, manager.urn)} s (image pulls, starts, hooks, GPU scale-up), more than its timeout of 10 s") in found
    assert "FINDING awaits: PersistentVolumeClaim kubeflow/mysql-pv-claim: claims the default StorageClass, which the stack does not create: it stays Pending" in found


def test_destroy_ingress_before_its_controller(stack_runs: dict, stack_objects: dict, upstream: Path) -> None:
    """destroy: an Ingress whose step does not wait for the load balancer controller's release is named (its ALB would leak)."""
    run, objects = copies(stack_runs, stack_objects)
    service = resource(run, "kubernetes:core/v1:Service", "mlflow-service")
    ingress = {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "planted", "namespace": "mlflow"},
               "spec": {"ingressClassName": "alb", "defaultBackend": {"service": {"name": "mlflow", "port": {"number": 5000}}}}}
    objects.append(render.Rendered(service.urn, ingress))
    found = lines(destroy.teardown(Plan(run, objects, upstream)).findings)
    assert ("FINDING destroy: Ingress mlflow/planted: Service mlflow-service does not wait for Release aws-load-balancer-controller, so destroy "
            "may delete the controller first: the ALB, its target groups and security group leak and the object keeps its finalizer, "
            "stalling its namespace") in found


def test_destroy_prod_refuses_and_lists(stack_runs: dict, stack_objects: dict, upstream: Path) -> None:
    """destroy: prod's protected resources make `pulumi destroy` refuse (exit 1), each listed; retained ones are in the must-do list."""
    outcome = simulate_destroy(stack_runs["prod"], stack_objects["prod"], upstream)
    protected = [r for r in stack_runs["prod"].resources if r.protect]
    assert outcome.exit_code == 1
    assert outcome.refused.startswith(f"REFUSED: pulumi destroy of prod stops at its {len(protected)} protected resources (")
    assert all(f"{r.type.rsplit(':', 1)[-1]} {r.name}" in outcome.refused for r in protected)
    assert any("reclaimPolicy Retain" in item for item in outcome.must)


def test_scheduling_and_names_are_wired(stack_runs: dict, stack_objects: dict, upstream: Path) -> None:
    """scheduling, names: the entry point runs both checks (a pod no node fits, a bucket name AWS refuses)."""
    run, objects = copies(stack_runs, stack_objects)
    mlflow = rendered(objects, "Deployment", "mlflow", "mlflow")
    mlflow.obj["spec"]["template"]["spec"]["containers"][0]["resources"] = {"requests": {"cpu": "1000"}, "limits": {"cpu": "1000"}}
    bucket = next(r for r in run.resources if r.type == "aws:s3/bucket:Bucket")
    bucket.inputs["bucket"] = "Planted_Bucket_Name"
    found = simulate(run, objects, upstream).findings
    assert any(f.kind == "scheduling" and f.subject == "Deployment mlflow/mlflow" for f in found), found
    assert any(f.kind == "names" and "Planted_Bucket_Name" in f.line() for f in found), found


def test_readme_shows_the_staging_waves(stack_runs: dict, stack_objects: dict, upstream: Path) -> None:
    """The README's waves are what `make simulate STACK=staging` prints (the docs cannot drift)."""
    readme = (ROOT / "README.md").read_text()
    plan = Plan(stack_runs["staging"], stack_objects["staging"], upstream)
    assert readme_block(readme) == "```text\n" + "\n".join(waves_lines(plan)) + "\n```", \
        "README waves differ: run `.venv-infra/bin/python -m tooling.simulate --stack staging --readme`"
    assert with_waves(readme, plan) == readme


def test_cli_without_upstream_says_so(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    """The command exits 2 with one line when the upstream sources are absent."""
    monkeypatch.setattr(render, "upstream_root", lambda: None)
    assert cli.main(["--stack", "staging"]) == 2
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "no upstream sources" in out

