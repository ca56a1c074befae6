// Validate prometheus-operator objects against their CRD schemas.
// Reads a JSON array of objects on stdin; prints a JSON array of
// {kind, name, error} (error null when valid). Exit 0 unless the input is unreadable.
import { PodMonitor } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PodMonitor";
import { ServiceMonitor } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor";
import { PrometheusRule } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule";

const models = { PodMonitor, ServiceMonitor, PrometheusRule };
let input = "";
for await (const chunk of process.stdin) input += chunk;
const results = JSON.parse(input).map((obj) => {
  const Model = models[obj.kind];
  if (!Model) return { kind: obj.kind, name: obj.metadata?.name, error: `no validator for kind ${obj.kind}` };
  try {
    new Model(obj).validate();
    return { kind: obj.kind, name: obj.metadata?.name, error: null };
  } catch (error) {
    return { kind: obj.kind, name: obj.metadata?.name, error: String(error.message ?? error) };
  }
});
process.stdout.write(JSON.stringify(results));
