"""Upload a compiled pipeline to Kubeflow Pipelines and keep its recurring run, idempotently.

Runs in-cluster as a Job (standard library only, so a plain pinned Python image
suffices and `pulumi up` needs no port-forward). Environment:

  KFP_API           http://ml-pipeline.kubeflow.svc.cluster.local:8888
  PIPELINE_NAME     fraud-detection-training
  VERSION_NAME      <pipeline name>-<content hash>: the same spec gives the same version
  PIPELINE_FILE     the compiled IR YAML
  SCHEDULE          5-field cron (UTC), empty for no recurring run
  PARAMETERS        JSON object of pipeline parameters for the recurring run

Re-running with the same inputs changes nothing: an existing version is kept,
and the recurring run named after the version is created only once (older
recurring runs of the pipeline are disabled when a new version takes over).
"""

from __future__ import annotations

import json
import os
import sys
import urllib.parse
import urllib.request
import uuid

API_PREFIX = "/apis/v2beta1"


def request(api: str, method: str, path: str, body: bytes | None = None, content_type: str = "application/json") -> dict:
    req = urllib.request.Request(f"{api}{API_PREFIX}{path}", data=body, method=method, headers={"Content-Type": content_type})
    with urllib.request.urlopen(req, timeout=60) as response:
        text = response.read().decode()
    return json.loads(text) if text else {}


def name_filter(name: str) -> str:
    predicate = {"predicates": [{"key": "display_name", "operation": "EQUALS", "string_value": name}]}
    return urllib.parse.quote(json.dumps(predicate))


def multipart(path: str, filename: str) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    with open(path, "rb") as handle:
        content = handle.read()
    body = (
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"uploadfile\"; filename=\"{filename}\"\r\n"
        "Content-Type: application/x-yaml\r\n\r\n"
    ).encode() + content + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def recurring_runs(response: dict) -> list[dict]:
    """The list in a ListRecurringRuns response (the proto field is camelCase; accept both spellings)."""
    return response.get("recurringRuns") or response.get("recurring_runs") or []


def ensure(api: str, pipeline_name: str, version_name: str, pipeline_file: str, schedule: str, parameters: dict) -> dict:
    """Make the pipeline, its version and its recurring run exist; return what was done."""
    done = {"pipeline": "kept", "version": "kept", "recurring_run": "kept" if schedule else "none"}
    found = request(api, "GET", f"/pipelines?filter={name_filter(pipeline_name)}").get("pipelines", [])
    if found:
        pipeline_id = found[0]["pipeline_id"]
    else:
        body, kind = multipart(pipeline_file, f"{version_name}.yaml")
        query = urllib.parse.urlencode({"name": pipeline_name, "display_name": pipeline_name})
        pipeline_id = request(api, "POST", f"/pipelines/upload?{query}", body, kind)["pipeline_id"]
        done["pipeline"] = "created"
    versions = request(api, "GET", f"/pipelines/{pipeline_id}/versions?filter={name_filter(version_name)}").get("pipeline_versions", [])
    if versions:
        version_id = versions[0]["pipeline_version_id"]
    else:
        body, kind = multipart(pipeline_file, f"{version_name}.yaml")
        query = urllib.parse.urlencode({"name": version_name, "display_name": version_name, "pipelineid": pipeline_id})
        version_id = request(api, "POST", f"/pipelines/upload_version?{query}", body, kind)["pipeline_version_id"]
        done["version"] = "created"
    if not schedule:
        return done
    run_name = f"{version_name}-scheduled"
    if not recurring_runs(request(api, "GET", f"/recurringruns?filter={name_filter(run_name)}")):
        for old in recurring_runs(request(api, "GET", "/recurringruns?page_size=200")):
            if old.get("pipeline_version_reference", {}).get("pipeline_id") == pipeline_id and old.get("mode") != "DISABLE":
                request(api, "POST", f"/recurringruns/{old['recurring_run_id']}:disable", b"{}")
        recurring = {
            "display_name": run_name,
            "pipeline_version_reference": {"pipeline_id": pipeline_id, "pipeline_version_id": version_id},
            "runtime_config": {"parameters": parameters},
            # KFP's cron has a leading seconds field.
            "trigger": {"cron_schedule": {"cron": f"0 {schedule}"}},
            "max_concurrency": "1",
            "mode": "ENABLE",
            "no_catchup": True,
        }
        request(api, "POST", "/recurringruns", json.dumps(recurring).encode())
        done["recurring_run"] = "created"
    return done


def main() -> int:
    env = os.environ
    missing = [k for k in ("KFP_API", "PIPELINE_NAME", "VERSION_NAME", "PIPELINE_FILE") if not env.get(k)]
    if missing:
        print(f"error: missing environment {missing}", file=sys.stderr)
        return 2
    result = ensure(
        env["KFP_API"].rstrip("/"), env["PIPELINE_NAME"], env["VERSION_NAME"], env["PIPELINE_FILE"],
        env.get("SCHEDULE", ""), json.loads(env.get("PARAMETERS") or "{}"),
    )
    print(json.dumps({"version": env["VERSION_NAME"], **result}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
