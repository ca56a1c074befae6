"""Credentials (infra/credentials.py): on AWS stacks no value is in the program's graph, every consumer reads the
Secret the External Secrets Operator syncs, and the operator may touch exactly the stack's secrets."""

from __future__ import annotations

import json

import pytest

from infra import alert_routing, credentials, sso
from infra.components import external_secrets
from infra.components.platform_secrets import MANAGED_BY_ESO
from infra.pod_security import pod_spec_of
from infra.workloads import EXTERNAL_SECRETS
from tooling import offline
from tooling.mocks import Registration
from tooling.simulate.references import pod_references

EXTERNAL_SECRET = "kubernetes:external-secrets.io/v1:ExternalSecret"
PUSH_SECRET = "kubernetes:external-secrets.io/v1alpha1:PushSecret"
SECRET = "kubernetes:core/v1:Secret"
SM_SECRET = "aws:secretsmanager/secret:Secret"
GENERATED = ("random:index/randomPassword:RandomPassword", "random:index/randomString:RandomString")
# Secret inputs that are not credentials: the provider's kubeconfig and the program's TLS keys (service_tls.py).
NOT_CREDENTIALS = ("pulumi:providers:kubernetes", "tls:index/")
# Values a person gives as Pulumi secrets (alertCredentials, ssoClientSecret), never generated: README "Credentials".
PERSON_SUPPLIED = {("monitoring", alert_routing.CREDENTIALS_SECRET), ("sso", sso.CLIENT_SECRET)}


def _key(resource: Registration) -> tuple[str, str]:
    return resource.inputs["metadata"].get("namespace", ""), resource.inputs["metadata"]["name"]


def _secret_inputs(run: offline.OfflineRun) -> list[str]:
    """Resources whose inputs carry a secret value, other than the kubeconfig and TLS material."""
    return [f"{r.type} {r.name}: {list(r.secret_paths)}" for r in run.resources if r.secret_paths
            and not r.type.startswith(NOT_CREDENTIALS) and not (r.type == SECRET and r.inputs.get("type") == "kubernetes.io/tls")
            and not (r.type == SECRET and _key(r) in PERSON_SUPPLIED)]


def test_no_credential_value_is_in_an_aws_stacks_graph(aws_run: offline.OfflineRun) -> None:
    """No RandomPassword, no SecretVersion, no RDS password on an AWS stack; no resource's inputs hold a secret value but TLS material."""
    assert [r.urn for r in aws_run.resources if r.type in GENERATED] == []
    assert aws_run.of_type("aws:secretsmanager/secretVersion:SecretVersion") == []
    for instance in aws_run.of_type("aws:rds/instance:Instance"):
        assert instance.inputs.get("manageMasterUserPassword") is True and "password" not in instance.inputs, instance.urn
        assert instance.inputs["masterUserSecretKmsKeyId"] == _credentials_key(aws_run), instance.urn
    assert _secret_inputs(aws_run) == []


def test_the_sign_in_proxies_cookie_key_is_synced(stack_runs: dict[str, offline.OfflineRun]) -> None:
    """With sso, the proxies' cookie key is a generated credential like the others (Secrets Manager, an ExternalSecret the
    proxies read by reference); the program holds only the client secret the person gave as a Pulumi secret."""
    run = stack_runs["staging+sso"]
    assert [r.urn for r in run.resources if r.type in GENERATED] == []
    assert credentials.SSO_COOKIE in credentials.generated_for(run.settings)
    assert _secret_inputs(run) == []
    (cookie,) = [r for r in run.of_type(EXTERNAL_SECRET) if _key(r) == ("sso", sso.COOKIE_SECRET)]
    assert credentials.used_keys(list(cookie.inputs["spec"]["target"]["template"]["data"].values())) == [credentials.SSO_COOKIE.key]
    (client,) = [r for r in run.of_type(SECRET) if _key(r) == ("sso", sso.CLIENT_SECRET)]
    assert set(client.inputs["stringData"]) == {sso.SECRET_KEYS[0]}, "the cookie key must not be a value the program holds"
    for release in [r for r in run.of_type("kubernetes:helm.sh/v3:Release") if r.inputs["namespace"] == "sso"]:
        (env,) = release.inputs["values"]["extraEnv"]
        assert env["valueFrom"]["secretKeyRef"] == {"name": sso.COOKIE_SECRET, "key": sso.SECRET_KEYS[1]}, release.urn
        assert "cookie-secret" not in release.inputs["values"]["config"]["requiredSecretKeys"], release.urn


def test_the_value_check_finds_generated_values_on_the_local_stack(stack_runs: dict[str, offline.OfflineRun]) -> None:
    """Not vacuous: on the local stack (generated values, README "Credentials") the same checks find each value."""
    local = stack_runs["local"]
    assert {r.name for r in local.of_type(GENERATED[0])} >= {"postgres-password", "kubeflow-pipelines-mysql-root"}
    assert {name for name in _secret_inputs(local)} >= {f"{SECRET} kubeflow-pipelines-mysql: ['stringData']",
                                                        f"{SECRET} postgres-credentials: ['stringData']"}
    assert local.of_type(EXTERNAL_SECRET) == []


def _credentials_key(run: offline.OfflineRun) -> str:
    (key,) = [r for r in run.of_type("aws:kms/key:Key") if r.name == f"{run.settings.name}-credentials"]
    return key.outputs["arn"]


def test_every_consumer_reads_the_synced_secret_by_reference(aws_run: offline.OfflineRun) -> None:
    """Each Secret a workload names is an ExternalSecret's target, never a program-held Secret, and is read by
    reference (secretKeyRef, envFrom, a volume); Grafana's chart reads its admin from one by name."""
    synced = {_key(r): r for r in aws_run.of_type(EXTERNAL_SECRET)}
    assert {name for _, name in synced} >= {"mysql-secret", "metadata-store-config", "mlflow-config"}
    if aws_run.settings.mlflow_basic_auth:
        # The pipeline user's password (components/mlflow_users.py) and the admin's keys of mlflow-config.
        assert {("mlflow", "mlflow-pipeline-user"), ("kubeflow", "mlflow-credentials")} <= synced.keys()
        config = synced["mlflow", "mlflow-config"].inputs["spec"]["target"]["template"]["data"]
        assert credentials.used_keys([config["admin-password"]]) == [credentials.MLFLOW_ADMIN.key]
    assert not synced.keys() & {_key(r) for r in aws_run.of_type(SECRET)}, "a Secret both synced and held by the program"
    for external in synced.values():
        assert external.inputs["spec"]["target"]["name"] == external.inputs["metadata"]["name"], external.urn
    readers = {}
    for resource in aws_run.resources:
        spec = pod_spec_of({"kind": resource.type.rsplit(":", 1)[-1], **resource.inputs}) if resource.type.startswith("kubernetes:apps") else None
        for kind, name in pod_references(spec) if spec else []:
            if kind == "Secret":
                readers.setdefault((resource.inputs["metadata"]["namespace"], name), []).append(resource.name)
    program_held = {_key(r) for r in aws_run.of_type(SECRET)}
    credential_reads = {key for key in readers if key not in program_held}
    assert credential_reads <= synced.keys(), f"read but neither synced nor the program's: {credential_reads - synced.keys()}"
    assert ("mlflow", "mlflow-config") in readers
    if aws_run.settings.database.kind == "in-cluster":
        assert ("postgres", "postgres-credentials") in readers and ("postgres", "postgres-credentials") in synced
    if aws_run.settings.monitoring:
        (release,) = [r for r in aws_run.of_type("kubernetes:helm.sh/v3:Release") if r.name == "monitoring"]
        admin = release.inputs["values"]["grafana"]["admin"]
        assert ("monitoring", admin["existingSecret"]) in synced
        template = synced["monitoring", admin["existingSecret"]].inputs["spec"]["target"]["template"]["data"]
        assert set(template) == {admin["userKey"], admin["passwordKey"]}


def test_each_template_reads_only_what_its_data_fetches(aws_run: offline.OfflineRun) -> None:
    """Every credential an ExternalSecret's template reads is fetched from the stack's Secrets Manager, and nothing else is."""
    arns = {r.outputs["arn"] for r in aws_run.of_type(SM_SECRET)}
    rds = {i.outputs["masterUserSecrets"][0]["secretArn"] for i in aws_run.of_type("aws:rds/instance:Instance")}
    for external in aws_run.of_type(EXTERNAL_SECRET):
        spec = external.inputs["spec"]
        used = credentials.used_keys(list(spec["target"]["template"]["data"].values()))
        assert used, f"{external.urn}: a template with no credential"
        assert sorted(d["secretKey"] for d in spec["data"]) == sorted(used), external.urn
        assert {d["remoteRef"]["key"] for d in spec["data"]} <= arns | rds, external.urn
        assert spec["secretStoreRef"] == {"kind": "ClusterSecretStore", "name": credentials.STORE_NAME}
        assert external.inputs["metadata"]["annotations"] == credentials.WAIT_FOR, "consumers must find the Secret synced"


def test_generated_secrets_are_filled_once_by_the_operator(aws_run: offline.OfflineRun) -> None:
    """Each generated credential is a Secrets Manager secret on the credentials key, tagged for ESO, filled by one
    PushSecret from a Password generator that never overwrites or deletes it."""
    generated = credentials.generated_for(aws_run.settings)
    secrets = {r.inputs["name"]: r for r in aws_run.of_type(SM_SECRET)}
    assert set(secrets) == {c.remote_name(aws_run.settings.name) for c in generated}
    for secret in secrets.values():
        assert secret.inputs["kmsKeyId"] == _credentials_key(aws_run) and secret.inputs["tags"] == MANAGED_BY_ESO, secret.urn
    pushes = {p.inputs["spec"]["data"][0]["match"]["remoteRef"]["remoteKey"]: p.inputs["spec"] for p in aws_run.of_type(PUSH_SECRET)}
    assert set(pushes) == set(secrets)
    for spec in pushes.values():
        assert (spec["updatePolicy"], spec["deletionPolicy"]) == ("IfNotExists", "None")
        assert spec["selector"]["generatorRef"]["kind"] == "Password"


def test_the_operator_may_touch_exactly_the_stacks_secrets(aws_run: offline.OfflineRun) -> None:
    """The operator's role reads exactly the stack's secrets (RDS's included), writes only the generated ones, and
    uses the credentials key through Secrets Manager only; the chart runs it on that role."""
    (policy,) = [json.loads(r.inputs["policy"]) for r in aws_run.of_type("aws:iam/rolePolicy:RolePolicy")
                 if r.name == f"{aws_run.settings.name}-credentials-operator"]
    statements = {s["Sid"]: s for s in policy["Statement"]}
    generated = sorted(r.outputs["arn"] for r in aws_run.of_type(SM_SECRET))
    rds = [i.outputs["masterUserSecrets"][0]["secretArn"] for i in aws_run.of_type("aws:rds/instance:Instance")]
    assert statements["ReadPlatformSecrets"]["Resource"] == sorted(generated + rds)
    assert statements["FillGeneratedSecrets"]["Resource"] == generated
    assert statements["UseSecretsKey"]["Resource"] == _credentials_key(aws_run)
    assert all("*" not in json.dumps(s["Resource"]) for s in policy["Statement"])
    (release,) = [r for r in aws_run.of_type("kubernetes:helm.sh/v3:Release") if r.name == "external-secrets"]
    account = release.inputs["values"]["serviceAccount"]
    assert account["name"] in EXTERNAL_SECRETS.service_accounts and account["annotations"]["eks.amazonaws.com/role-arn"]


def test_templates_are_checked_and_escaped() -> None:
    """A template that reads a credential the stack does not keep is refused; configparser's % is escaped inside and outside templates."""
    with pytest.raises(ValueError, match="mysql-secret reads \\['kfp_mysql_root'\\]"):
        credentials.external_secret_spec("mysql-secret", {"password": "{{.kfp_mysql_root}}"}, {})
    synced = credentials.Synced({}, [])
    marker = synced.value(credentials.DATABASE, "", None, url=True)
    assert marker == "{{.database_password | urlquery}}"
    assert external_secrets.generator_spec(credentials.KFP_MYSQL)["symbols"] == 0


@pytest.mark.parametrize("text, expected", [
    ("a%b:{{.database_password | urlquery}}", 'a%%b:{{.database_password | urlquery | replace "%" "%%"}}'),
    ("{{.mlflow_admin}}", '{{.mlflow_admin | replace "%" "%%"}}'),
])
def test_ini_escaping_of_templates(text: str, expected: str) -> None:
    """MLflow's basic_auth.ini is read with interpolation: every % the operator renders into it is doubled."""
    assert credentials.ini_escape_template(text) == expected
