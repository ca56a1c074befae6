"""The model-serving chart, rendered with the real helm binary over every ci/ scenario."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml

from infra.components.model_serving import inference_service_name
from infra.pod_security import pod_spec_of, restricted_violations
from pipelines.fraud.contract import FEATURES
from tests.charts.conftest import CHART, ROOT, SCENARIOS, by_kind, helm, render

# Values the chart must refuse, one file each: test data, kept out of the packaged chart.
BAD_VALUES_DIR = Path(__file__).resolve().parent / "bad-values"

KUBERNETES_VERSION = "1.35.0"
VALIDATORS = ROOT / "scripts" / "crd-validators"


def test_lint_strict_over_every_scenario() -> None:
    """helm lint --strict passes with each ci/ values file."""
    assert SCENARIOS, "no ci/*-values.yaml scenarios"
    for scenario in SCENARIOS:
        result = helm("lint", "--strict", str(CHART), "-f", str(scenario), check=False)
        assert result.returncode == 0, f"{scenario.name}: {result.stdout}{result.stderr}"


def test_scenarios_cover_every_mode(rendered: dict[str, list[dict]]) -> None:
    """The scenarios include default, canary, GPU, Standard, Knative and monitoring on and off."""
    assert {"default", "canary", "gpu", "standard", "knative", "monitoring", "monitoring-off", "load-balancer"} <= set(rendered)


def test_builtin_objects_validate_against_kubernetes_schemas(rendered: dict[str, list[dict]]) -> None:
    """Every built-in kind validates (strict) against the schema of the Kubernetes version the platform pins."""
    for scenario, objects in rendered.items():
        for obj in objects:
            if obj["apiVersion"].endswith("coreos.com/v1") or obj["kind"] == "InferenceService":
                continue
            try:
                kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
            except kubernetes_validate.ValidationError as error:
                raise AssertionError(f"{scenario}: {obj['kind']}/{obj['metadata']['name']}: {error.message}") from None


def test_inference_service_validates_against_kserve_schema(rendered: dict[str, list[dict]], isvc_schema: dict) -> None:
    """The InferenceService validates against KServe v0.20.0's CRD schema (unknown fields refused)."""
    validator = jsonschema.Draft202012Validator(isvc_schema)
    for scenario, objects in rendered.items():
        (isvc,) = by_kind(objects, "InferenceService")
        errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(isvc)]
        assert errors == [], scenario


def test_kserve_schema_refuses_a_misspelt_field(isvc_schema: dict) -> None:
    """The strict CRD schema catches a typo the API server would prune."""
    isvc = {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {"name": "x"},
        "spec": {"predictor": {"model": {"modelFormat": {"name": "sklearn"}, "storageURI": "s3://b/m"}}},
    }
    errors = list(jsonschema.Draft202012Validator(isvc_schema).iter_errors(isvc))
    assert any("storageURI" in e.message for e in errors)


def _validate_monitoring(objects: list[dict]) -> list[dict]:
    result = subprocess.run(
        ["node", "validate.mjs"], cwd=VALIDATORS, input=json.dumps(objects), capture_output=True, text=True, check=True
    )
    return json.loads(result.stdout)


def test_monitoring_objects_validate_against_prometheus_operator_schemas(rendered: dict[str, list[dict]]) -> None:
    """PodMonitor and PrometheusRule validate against the prometheus-operator CRD schemas."""
    objects = [o for o in rendered["monitoring"] if o["apiVersion"] == "monitoring.coreos.com/v1"]
    assert sorted(o["kind"] for o in objects) == ["PodMonitor", "PrometheusRule"]
    results = _validate_monitoring(objects)
    assert [r for r in results if r["error"]] == []
    broken = json.loads(json.dumps(objects[0]))
    broken["spec"]["podMetricsEndpoints"][0]["portNumber"] = "metrics"
    assert _validate_monitoring([broken])[0]["error"], "the validator accepted a string port number"


def test_predictor_pod_meets_restricted_pod_security(rendered: dict[str, list[dict]]) -> None:
    """The predictor pod passes every restricted-profile check, in every scenario."""
    for scenario, objects in rendered.items():
        (isvc,) = by_kind(objects, "InferenceService")
        spec = pod_spec_of(isvc)
        assert restricted_violations(spec) == [], scenario
        pod_sc = spec["securityContext"]
        assert pod_sc["runAsNonRoot"] is True and pod_sc["seccompProfile"]["type"] == "RuntimeDefault", scenario
        assert pod_sc["runAsUser"] != 0, scenario
        model = isvc["spec"]["predictor"]["model"]
        sc = model["securityContext"]
        assert sc["capabilities"]["drop"] == ["ALL"] and sc["allowPrivilegeEscalation"] is False, scenario
        assert sc["readOnlyRootFilesystem"] is True, scenario
        assert {"name": "scratch", "mountPath": "/tmp"} in model["volumeMounts"], scenario
        assert {v["name"]: v for v in spec["volumes"]}["scratch"]["emptyDir"], scenario
        assert model["resources"]["requests"] and model["resources"]["limits"], scenario
        assert {"cpu", "memory"} <= set(model["resources"]["limits"]), scenario
        assert spec["serviceAccountName"] not in ("", "default"), scenario


def test_restricted_checker_catches_violations() -> None:
    """The restricted-profile checker flags root, privilege escalation, host namespaces and hostPath."""
    spec = {
        "hostNetwork": True,
        "securityContext": {"runAsUser": 0},
        "volumes": [{"name": "h", "hostPath": {"path": "/"}}],
        "containers": [{"name": "c", "securityContext": {"privileged": True, "capabilities": {"add": ["SYS_ADMIN"]}}}],
    }
    problems = " | ".join(restricted_violations(spec))
    for expected in ("hostNetwork", "runAsUser is 0", "hostPath", "privileged", "allowPrivilegeEscalation",
                     "runAsNonRoot", "seccompProfile", "drop ALL", "SYS_ADMIN"):
        assert expected in problems


def test_test_pod_is_pinned_and_restricted(rendered: dict[str, list[dict]]) -> None:
    """The helm test pod uses a pinned image (no latest) and meets the restricted profile."""
    for scenario, objects in rendered.items():
        (pod,) = by_kind(objects, "Pod")
        assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test", scenario
        image = pod["spec"]["containers"][0]["image"]
        assert ":" in image.rsplit("/", 1)[-1] and not image.endswith(":latest"), image
        assert restricted_violations(pod_spec_of(pod)) == [], scenario
        assert pod["spec"]["containers"][0]["args"][-1].endswith("/v2/models/fraud-model-serving/ready"), scenario


def test_labels_and_stable_selectors(rendered: dict[str, list[dict]]) -> None:
    """Every object carries the app.kubernetes.io labels; selectors hold no version or chart label."""
    for scenario, objects in rendered.items():
        for obj in objects:
            labels = obj["metadata"]["labels"]
            for key in ("app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/version",
                        "app.kubernetes.io/managed-by", "helm.sh/chart"):
                assert key in labels, f"{scenario}: {obj['kind']} lacks {key}"
        (isvc,) = by_kind(objects, "InferenceService")
        selector = isvc["spec"]["predictor"]["labels"]
        assert selector == {"app.kubernetes.io/name": "model-serving", "app.kubernetes.io/instance": "fraud",
                            "app.kubernetes.io/component": "predictor"}
        predictor_policies = [p for p in by_kind(objects, "NetworkPolicy") if p["metadata"]["name"].endswith("-predictor")]
        for policy in predictor_policies[:1] + by_kind(objects, "PodDisruptionBudget"):
            matched = policy["spec"].get("podSelector", policy["spec"].get("selector"))["matchLabels"]
            assert matched == selector, f"{scenario}: {policy['kind']} selects {matched}"


def test_inference_service_defaults(rendered: dict[str, list[dict]]) -> None:
    """Default: sklearn on V2 in Standard mode with HPA on cpu, the storage URI as given, no canary."""
    (isvc,) = by_kind(rendered["default"], "InferenceService")
    annotations = isvc["metadata"]["annotations"]
    assert annotations["serving.kserve.io/deploymentMode"] == "Standard"
    assert annotations["serving.kserve.io/autoscalerClass"] == "hpa"
    predictor = isvc["spec"]["predictor"]
    assert predictor["model"]["modelFormat"] == {"name": "sklearn"}
    assert predictor["model"]["protocolVersion"] == "v2"
    assert predictor["model"]["storageUri"].startswith("s3://")
    assert (predictor["minReplicas"], predictor["maxReplicas"], predictor["scaleMetric"]) == (1, 3, "cpu")
    assert "canaryTrafficPercent" not in predictor
    assert "nvidia.com/gpu" not in predictor["model"]["resources"]["limits"]
    assert "tolerations" not in predictor


def test_canary_scenario(rendered: dict[str, list[dict]]) -> None:
    """Canary: Standard mode, the stable predictor v1 and a canary v2 with its own model at 10 %; the PDB stays."""
    objects = rendered["canary"]
    (isvc,) = by_kind(objects, "InferenceService")
    assert isvc["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] == "Standard"
    predictor = isvc["spec"]["predictor"]
    assert predictor["name"] == "v1" and "canaryTrafficPercent" not in predictor
    (canary,) = isvc["spec"]["canary"]
    assert canary["trafficPercent"] == 10 and canary["predictor"]["name"] == "v2"
    assert canary["predictor"]["model"]["storageUri"].endswith("/fedcba9876543210/artifacts/model")
    assert canary["predictor"]["model"]["resources"] == predictor["model"]["resources"]
    assert len(by_kind(objects, "PodDisruptionBudget")) == 1


def test_gpu_scenario(rendered: dict[str, list[dict]]) -> None:
    """GPU: nvidia.com/gpu limit, toleration for the GPU taint, GPU node selector, and the GPU runtime for the GPU format."""
    (isvc,) = by_kind(rendered["gpu"], "InferenceService")
    predictor = isvc["spec"]["predictor"]
    assert predictor["model"]["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in predictor["tolerations"]
    assert predictor["nodeSelector"]["nvidia.com/gpu.present"] == "true"
    assert predictor["model"]["modelFormat"]["name"] == "xgboost"
    assert predictor["model"]["runtime"] == "mlplatform-mlserver-gpu"


def test_gpu_scenario_is_what_the_platform_gives() -> None:
    """The ci/ GPU scenario's gpu block is the platform's (infra/gpu.py): the chart spells no GPU fact of its own."""
    from infra import gpu

    scenario = yaml.safe_load((CHART / "ci" / "gpu-values.yaml").read_text())
    assert scenario["gpu"] == gpu.chart_values(True)
    chart = "".join(path.read_text() for path in (CHART / "templates").rglob("*") if path.is_file())
    assert gpu.RESOURCE not in chart and gpu.NODE_LABEL[0] not in chart and gpu.SERVING_RUNTIME not in chart


def test_gpu_without_the_platform_facts_is_refused() -> None:
    """gpu.enabled with no resource, node selector or tolerations fails with one line saying where they come from."""
    result = helm("template", "fraud", str(CHART), "--set", "model.storageUri=s3://b/m", "--set", "gpu.enabled=true", check=False)
    assert result.returncode != 0 and "gpu.enabled needs gpu.resource, gpu.nodeSelector and gpu.tolerations" in result.stderr


def test_standard_scenario(rendered: dict[str, list[dict]]) -> None:
    """Standard: HPA on memory, a PDB, the IRSA annotation and MinIO egress."""
    objects = rendered["standard"]
    (isvc,) = by_kind(objects, "InferenceService")
    assert isvc["spec"]["predictor"]["scaleMetric"] == "memory"
    assert isvc["spec"]["predictor"]["serviceAccountName"] == "model-serving"
    (pdb,) = by_kind(objects, "PodDisruptionBudget")
    assert pdb["spec"]["maxUnavailable"] == 1
    (account,) = by_kind(objects, "ServiceAccount")
    assert account["metadata"]["name"] == "model-serving"
    assert account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"].endswith(":role/mlp-staging-serving")
    # The storage initializer's and the request logger's STS calls stay in the region (the VPC's STS endpoint).
    assert account["metadata"]["annotations"]["eks.amazonaws.com/sts-regional-endpoints"] == "true"
    assert account["automountServiceAccountToken"] is False
    policy = by_kind(objects, "NetworkPolicy")[0]
    store = policy["spec"]["egress"][1]
    assert store["to"] == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "minio"}},
                            "podSelector": {"matchLabels": {"app.kubernetes.io/name": "minio"}}}]
    assert store["ports"] == [{"protocol": "TCP", "port": 9000}]


def test_knative_scenario_scales_to_zero(rendered: dict[str, list[dict]]) -> None:
    """Knative: minReplicas 0 on concurrency is allowed; the activator may reach the pods."""
    objects = rendered["knative"]
    (isvc,) = by_kind(objects, "InferenceService")
    assert (isvc["spec"]["predictor"]["minReplicas"], isvc["spec"]["predictor"]["scaleMetric"]) == (0, "concurrency")
    policy = by_kind(objects, "NetworkPolicy")[0]
    sources = [peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
               for peer in policy["spec"]["ingress"][0]["from"] if "namespaceSelector" in peer]
    assert "knative-serving" in sources


def test_network_policy_default(rendered: dict[str, list[dict]]) -> None:
    """Ingress only from the gateway (and the test pod) and from monitoring on the metrics port; egress only DNS and the store."""
    policy = by_kind(rendered["default"], "NetworkPolicy")[0]
    spec = policy["spec"]
    assert spec["policyTypes"] == ["Ingress", "Egress"]
    serving, scraping = spec["ingress"]
    assert serving["from"][0] == {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "istio-system"}},
                                  "podSelector": {"matchLabels": {"app": "istio-ingressgateway"}}}
    assert serving["ports"] == [{"protocol": "TCP", "port": 8080}]
    assert scraping["from"][0]["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"] == "monitoring"
    assert scraping["ports"] == [{"protocol": "TCP", "port": 8082}]
    dns, store = spec["egress"]
    assert dns["to"][0]["podSelector"]["matchLabels"] == {"k8s-app": "kube-dns"}
    assert sorted((p["protocol"], p["port"]) for p in dns["ports"]) == [("TCP", 53), ("UDP", 53)]
    assert store["ports"] == [{"protocol": "TCP", "port": 443}]
    assert store["to"][0]["ipBlock"]["except"] == ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"]
    assert len(spec["egress"]) == 2


def test_monitoring_on_and_off(rendered: dict[str, list[dict]]) -> None:
    """Monitoring on: PodMonitor + PrometheusRule with release label and thresholds; off: neither."""
    objects = rendered["monitoring"]
    (monitor,) = by_kind(objects, "PodMonitor")
    (rule,) = by_kind(objects, "PrometheusRule")
    for obj in (monitor, rule):
        assert obj["metadata"]["labels"]["release"] == "monitoring"
    assert monitor["spec"]["podMetricsEndpoints"][0]["portNumber"] == 8082
    alerts = {r["alert"]: r for r in rule["spec"]["groups"][0]["rules"]}
    assert set(alerts) == {"ModelLatencyHigh", "ModelErrorRateHigh", "ModelDriftHigh"}
    assert alerts["ModelLatencyHigh"]["expr"].strip().endswith("> 0.1")
    assert "histogram_quantile(0.95" in alerts["ModelLatencyHigh"]["expr"]
    assert alerts["ModelErrorRateHigh"]["expr"].strip().endswith("> 0.02")
    assert alerts["ModelDriftHigh"]["expr"].strip().endswith("> 0.25")
    assert all(a["for"] == "10m" and a["labels"]["severity"] == "critical" for a in alerts.values())
    for scenario in ("default", "monitoring-off"):
        assert not [o for o in rendered[scenario] if o["kind"] in ("PodMonitor", "PrometheusRule")]
    assert by_kind(rendered["monitoring-off"], "NetworkPolicy") == []


def _notes(values: Path) -> str:
    result = helm("install", "fraud", str(CHART), "-n", "models", "-f", str(values), "--dry-run=client")
    return result.stdout.split("NOTES:", 1)[1]


def test_notes_print_a_working_v2_curl_per_mode() -> None:
    """NOTES.txt prints a V2 infer curl (port-forward in Standard mode, the gateway in Knative) and the canary's next steps."""
    standard = _notes(CHART / "ci" / "default-values.yaml")
    assert "kubectl -n models port-forward service/fraud-model-serving-predictor 8080:80" in standard
    assert "curl -s http://localhost:8080/v2/models/fraud-model-serving/infer" in standard
    body = standard.split("-d '", 1)[1].split("'", 1)[0]
    example = yaml.safe_load((CHART / "values.yaml").read_text())["exampleRequest"]
    assert json.loads(body) == example, "NOTES sends exampleRequest"
    # One row of the contract's features (tests/ml/test_serving.py sends it to the served champion).
    assert example["inputs"][0]["shape"] == [1, len(FEATURES)] == [1, len(example["inputs"][0]["data"])]
    assert f"-d '{body}'" in (CHART / "README.md").read_text(), "the chart README shows the request NOTES sends"
    knative = _notes(CHART / "ci" / "knative-values.yaml")
    assert 'curl -s -H "Host: ${SERVICE_HOSTNAME}" http://${INGRESS_HOST}/v2/models/fraud-model-serving/infer' in knative
    canary = _notes(CHART / "ci" / "canary-values.yaml")
    assert "port-forward service/fraud-model-serving-v1-predictor 8080:80" in canary
    assert "Canary v2: 10% of the requests" in canary
    assert "--set predictor.name=v2 --set model.storageUri=s3://mlp-staging-artifacts/mlflow/1/fedcba9876543210/artifacts/model" in canary


def test_values_schema_describes_every_value() -> None:
    """Every key of values.yaml is in values.schema.json, and every nested object refuses unknown keys."""
    schema = json.loads((CHART / "values.schema.json").read_text())
    values = yaml.safe_load((CHART / "values.yaml").read_text())

    def walk(value: object, node: dict, path: str) -> None:
        if isinstance(value, dict) and node.get("type") == "object" and "properties" in node:
            assert node.get("additionalProperties") is False, f"{path or 'root'} allows unknown keys"
            for key, child in value.items():
                assert key in node["properties"], f"{path}.{key} missing from values.schema.json"
                walk(child, node["properties"][key], f"{path}.{key}")

    walk(values, schema, "")


def test_every_value_is_documented_and_the_readme_is_fresh() -> None:
    """Every value has a `# --` comment and the README's values table matches them."""
    import sys

    sys.path.insert(0, str(ROOT / "scripts"))
    import chart_docs

    _, missing = chart_docs.rows(CHART / "values.yaml")
    assert missing == []
    readme = (CHART / "README.md").read_text()
    table = readme.split("<!-- values:start -->\n", 1)[1].split("\n<!-- values:end -->", 1)[0]
    assert table == chart_docs.render_table(chart_docs.rows(CHART / "values.yaml")[0])


def test_every_schema_property_has_the_description_of_its_value() -> None:
    """values.schema.json carries a description on every property, the one its value's comment gives (generated, fresh)."""
    import sys

    sys.path.insert(0, str(ROOT / "scripts"))
    import chart_docs

    schema = json.loads((CHART / "values.schema.json").read_text())
    assert chart_docs.describe_schema(json.loads(json.dumps(schema)), chart_docs.comments((CHART / "values.yaml").read_text())) == schema
    undocumented = []

    def walk(node: dict, path: str) -> None:
        for key, child in node.get("properties", {}).items():
            if not child.get("description"):
                undocumented.append(f"{path}{key}")
            walk(child, f"{path}{key}.")
        if isinstance(node.get("items"), dict):
            walk(node["items"], f"{path}[].")

    walk(schema, "")
    assert undocumented == []
    assert schema["properties"]["model"]["properties"]["storageUri"]["pattern"].startswith("^$|")


def test_chart_metadata_is_complete() -> None:
    """Chart.yaml has everything a published chart needs."""
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    for key in ("apiVersion", "name", "version", "appVersion", "kubeVersion", "description", "keywords", "home",
                "sources", "maintainers"):
        assert chart.get(key), key
    assert chart["apiVersion"] == "v2"
    values_text = (CHART / "values.yaml").read_text()
    assert values_text.startswith("# yaml-language-server: $schema=values.schema.json")


BAD_VALUES = {
    "transformer-without-feature-server": r"transformer\.featureServerUrl is required with transformer\.enabled",
    "missing-storage-uri": r"model\.storageUri is required",
    "bad-storage-scheme": r"at '/model/storageUri': 'ftp://models/fraud' does not match pattern",
    "deprecated-raw-deployment": r"/deploymentMode': value must be one of 'Standard', 'Knative'",
    "deprecated-serverless": r"/deploymentMode': value must be one of 'Standard', 'Knative'",
    "canary-in-knative": r"canary\.name needs deploymentMode Standard",
    "canary-without-storage-uri": r"canary\.storageUri is required with canary\.name",
    "canary-named-like-stable": r"canary\.name \\?\"v2\\?\" equals predictor\.name",
    "canary-over-100": r"/canary/trafficPercent': maximum: got 120, want 100",
    "load-balancer-without-certificate": r"loadBalancer\.certificateArn is required with loadBalancer\.enabled",
    "load-balancer-without-cidrs": r"networkPolicy\.loadBalancerCidrs is required with loadBalancer\.enabled",
    "limits-below-requests": r"resources\.limits\.cpu 1500m is below resources\.requests\.cpu 2",
    "scale-to-zero-standard": r"autoscaling\.minReplicas 0 \(scale to zero\) needs deploymentMode Knative",
    "rps-in-standard": r"autoscaling\.scaleMetric \\?\"rps\\?\" needs deploymentMode Knative",
    "min-above-max": r"autoscaling\.minReplicas 5 is greater than autoscaling\.maxReplicas 2",
    "unknown-format": r"/model/format': value must be one of 'sklearn', 'mlflow', 'xgboost'",
    "privileged": r"/securityContext/allowPrivilegeEscalation': value must be false",
    "root-pod": r"/podSecurityContext/runAsNonRoot': value must be true",
    "low-uid": r"/podSecurityContext/runAsUser': minimum: got 1,000, want 10,000",
    "misspelt-key": r"additional properties 'autoscalling' not allowed",
    "latest-test-image": r"helmTest\.image .*uses the latest tag",
    "gpu-scale-to-zero": r"gpu\.enabled with autoscaling\.minReplicas 0",
    "gpu-scikit-learn-model": r"gpu\.enabled with model\.format sklearn: only xgboost models predict on the GPU \(mlplatform-mlserver-gpu\)",
    "gpu-without-runtime": r"gpu\.enabled needs gpu\.runtime and gpu\.modelFormat",
    "monitoring-without-release": r"monitoring\.release is required with monitoring\.enabled",
    "default-service-account": r"serviceAccount\.name must not be default",
    "no-object-store": r"networkPolicy\.objectStore needs cidrs \(S3\) or namespace \(MinIO\)",
    "missing-resources-limits": r"at '/resources': missing property 'limits'",
    "request-logging-without-url": r"requestLogging\.url is required with requestLogging\.enabled",
}


def test_every_bad_values_file_is_covered() -> None:
    """Each file in bad-values/ has an expected message here, and there are at least 10."""
    files = {p.stem for p in BAD_VALUES_DIR.glob("*.yaml")}
    assert files == set(BAD_VALUES)
    assert len(files) >= 10


@pytest.mark.parametrize(("name", "message"), sorted(BAD_VALUES.items()))
def test_bad_values_are_refused_with_a_message_naming_the_key(name: str, message: str) -> None:
    """Bad values fail at render time, by schema or validateValues, naming the key; nothing is rendered."""
    import re

    result = helm("template", "fraud", str(CHART), "-f", str(BAD_VALUES_DIR / f"{name}.yaml"), check=False)
    assert result.returncode != 0, f"{name} rendered:\n{result.stdout[:400]}"
    assert re.search(message, result.stderr), result.stderr
    assert result.stdout.strip() == ""


def test_checkov_finds_nothing_unjustified(tmp_path: Path) -> None:
    """checkov's kubernetes checks pass on every scenario's rendered manifests; each skip carries its reason inline."""
    manifests = tmp_path / "rendered.yaml"
    manifests.write_text("\n---\n".join(yaml.safe_dump(o) for s in SCENARIOS for o in render(s)))
    checkov = ROOT / ".venv-scan" / "bin" / "checkov"
    result = subprocess.run(
        [str(checkov), "-f", str(manifests), "--framework", "kubernetes", "--compact", "-o", "json"],
        capture_output=True, text=True, timeout=300,
    )
    report = json.loads(result.stdout)
    report = report[0] if isinstance(report, list) else report
    failed = [(c["check_id"], c["resource"]) for c in report["results"]["failed_checks"]]
    assert failed == []
    assert report["summary"]["passed"] > 100 and report["summary"]["resource_count"] > 0
    skipped = report["results"].get("skipped_checks", [])
    assert report["summary"]["skipped"] == len(skipped) > 0
    for check in skipped:
        assert len(check["check_result"]["suppress_comment"]) > 20, check["check_id"]


@pytest.mark.parametrize(("sets", "threads"), [((), "1"), (("resources.limits.cpu=1500m",), "2"),
                                               (("resources.limits.cpu=4", "resources.requests.cpu=2"), "4"),
                                               (("resources.limits.cpu=250m", "resources.requests.cpu=100m"), "1"),
                                               (("threads=3",), "3")])
def test_thread_pools_follow_the_cpu_limit(sets: tuple[str, ...], threads: str) -> None:
    """OMP/OpenBLAS/MKL threads are the CPU limit rounded up (at least 1), or `threads` when set."""
    (isvc,) = by_kind(render(CHART / "ci" / "default-values.yaml", sets=sets), "InferenceService")
    env = {e["name"]: e["value"] for e in isvc["spec"]["predictor"]["model"]["env"]}
    assert {env[name] for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")} == {threads}


def test_model_runtime_class_travels_with_the_model() -> None:
    """With model.implementation, MLServer loads that class from the model's code folder; without, the runtime's own."""
    sets = ("model.implementation=serving_runtime.ValidatingSKLearnModel",)
    (isvc,) = by_kind(render(CHART / "ci" / "default-values.yaml", sets=sets), "InferenceService")
    env = {e["name"]: e["value"] for e in isvc["spec"]["predictor"]["model"]["env"]}
    assert env["MLSERVER_MODEL_IMPLEMENTATION"] == "serving_runtime.ValidatingSKLearnModel"
    assert env["PYTHONPATH"] == "/mnt/models/code"
    (plain,) = by_kind(render(CHART / "ci" / "default-values.yaml"), "InferenceService")
    assert "MLSERVER_MODEL_IMPLEMENTATION" not in {e["name"] for e in plain["spec"]["predictor"]["model"]["env"]}


def test_load_balancer_scenario(rendered: dict[str, list[dict]]) -> None:
    """Behind the ALB: its annotations on the InferenceService (KServe copies them onto the Ingress), HTTPS with the
    ACM certificate, pod-IP targets health-checked on V2 readiness, and only the ALB's subnets admitted besides."""
    objects = rendered["load-balancer"]
    (isvc,) = by_kind(objects, "InferenceService")
    annotations = isvc["metadata"]["annotations"]
    assert annotations["alb.ingress.kubernetes.io/scheme"] == "internal"
    assert annotations["alb.ingress.kubernetes.io/target-type"] == "ip"
    assert json.loads(annotations["alb.ingress.kubernetes.io/listen-ports"]) == [{"HTTPS": 443}]
    assert annotations["alb.ingress.kubernetes.io/certificate-arn"].startswith("arn:aws:acm:")
    assert annotations["alb.ingress.kubernetes.io/healthcheck-path"] == "/v2/health/ready"
    assert annotations["alb.ingress.kubernetes.io/group.name"] == "mlp-staging"
    policy = by_kind(objects, "NetworkPolicy")[0]
    serving = policy["spec"]["ingress"][0]
    blocks = [peer["ipBlock"]["cidr"] for peer in serving["from"] if "ipBlock" in peer]
    assert blocks == ["10.0.128.0/20", "10.0.144.0/20"]
    assert serving["ports"] == [{"protocol": "TCP", "port": 8080}]
    (plain,) = by_kind(rendered["default"], "InferenceService")
    assert not [key for key in plain["metadata"]["annotations"] if key.startswith("alb.")]


@pytest.mark.parametrize("release", ["fraud", "model-serving", "fraud-model-serving-v2", "a" * 50])
def test_program_names_the_inference_service_the_chart_renders(release: str) -> None:
    """The drift pipeline's InferenceService name (model_serving.inference_service_name) is the chart's fullname."""
    storage = "s3://mlp-staging-artifacts/mlflow/1/0123456789abcdef/artifacts/model"
    (isvc,) = by_kind(render(sets=(f"model.storageUri={storage}",), release=release[:53]), "InferenceService")
    assert isvc["metadata"]["name"] == inference_service_name(release[:53])


def test_the_packaged_chart_carries_no_test_fixtures(tmp_path: Path) -> None:
    """`helm package` ships the templates, values, schema and README; not the ci/ scenarios (.helmignore)."""
    import tarfile

    helm("package", str(CHART), "--destination", str(tmp_path))
    (archive,) = tmp_path.glob("*.tgz")
    with tarfile.open(archive) as tar:
        names = {name.split("/", 1)[1] for name in tar.getnames()}
    assert {"Chart.yaml", "values.yaml", "values.schema.json", "README.md", "templates/inferenceservice.yaml"} <= names
    assert not [name for name in names if name.startswith("ci/") or "bad-values" in name]


PROBES = {"startupProbe": "/v2/health/live", "readinessProbe": "/v2/health/ready", "livenessProbe": "/v2/health/live"}


def test_every_model_container_has_health_probes(rendered: dict[str, list[dict]]) -> None:
    """Stable and canary model containers: startup, readiness and liveness on MLServer's V2 health paths, on the http port."""
    for scenario, objects in rendered.items():
        (isvc,) = by_kind(objects, "InferenceService")
        models = [isvc["spec"]["predictor"]["model"]] + [c["predictor"]["model"] for c in isvc["spec"].get("canary", [])]
        values = yaml.safe_load((CHART / "values.yaml").read_text())
        for model in models:
            for probe, path in PROBES.items():
                assert model[probe]["httpGet"] == {"path": path, "port": values["ports"]["http"]}, (scenario, probe)
