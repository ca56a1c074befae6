{{/*
Labels of the transformer pods (KServe adds `component: transformer`), which the NetworkPolicies select.
*/}}
{{- define "model-serving.transformerSelectorLabels" -}}
{{ include "model-serving.selectorLabels" . }}
app.kubernetes.io/component: transformer
{{- end }}

{{/*
spec.transformer of the InferenceService (KServe v0.20 CustomTransformer, a pod spec): the pinned Python image runs
the transformer's zip application from its ConfigMap. KServe appends `--model_name <isvc>`, `--predictor_host
<predictor Service>.<namespace>`, `--http_port 8080` (and `--workers` with containerConcurrency) to the arguments
(CustomTransformer.GetContainer); the transformer reads those and ignores what it does not know.
*/}}
{{- define "model-serving.transformer" -}}
{{- $t := .Values.transformer -}}
{{- if $t.enabled }}
transformer:
  labels:
    {{- include "model-serving.transformerSelectorLabels" . | nindent 4 }}
  minReplicas: {{ $t.minReplicas }}
  maxReplicas: {{ $t.maxReplicas }}
  serviceAccountName: {{ include "model-serving.serviceAccountName" . }}
  automountServiceAccountToken: false
  hostNetwork: false
  hostPID: false
  hostIPC: false
  securityContext:
    {{- toYaml .Values.podSecurityContext | nindent 4 }}
  volumes:
    - name: code
      configMap:
        name: {{ $t.code.configMap }}
        items:
          - key: {{ $t.code.key }}
            path: {{ $t.code.key }}
    - name: scratch
      emptyDir:
        sizeLimit: 64Mi
  containers:
    - name: kserve-container
      image: {{ $t.image }}
      command: ["python", "/opt/transformer/{{ $t.code.key }}"]
      args: ["--feature_server_url", {{ $t.featureServerUrl | quote }}]
      env:
        - name: PYTHONDONTWRITEBYTECODE
          value: "1"
        - name: PYTHONUNBUFFERED
          value: "1"
      ports:
        - name: http
          containerPort: {{ .Values.ports.http }}
          protocol: TCP
      resources:
        requests:
          {{- toYaml $t.resources.requests | nindent 10 }}
        limits:
          {{- toYaml $t.resources.limits | nindent 10 }}
      readinessProbe:
        httpGet: {path: /v2/health/ready, port: {{ .Values.ports.http }}}
        periodSeconds: 10
      livenessProbe:
        httpGet: {path: /v2/health/live, port: {{ .Values.ports.http }}}
        periodSeconds: 15
        failureThreshold: 4
      securityContext:
        {{- toYaml .Values.securityContext | nindent 8 }}
        runAsUser: {{ .Values.podSecurityContext.runAsUser }}
      volumeMounts:
        - name: code
          mountPath: /opt/transformer
          readOnly: true
        - name: scratch
          mountPath: /tmp
{{- end }}
{{- end }}

{{/*
Who may call the model (the InferenceService's URL): the gateway, Knative's activator in Knative mode, the ALB's
subnets with a load balancer, and the chart's own `helm test` pod. The predictor admits them, and so does the
transformer when there is one (it then receives the InferenceService's traffic).
*/}}
{{- define "model-serving.callerPeers" -}}
{{- $np := .Values.networkPolicy -}}
- namespaceSelector:
    matchLabels:
      kubernetes.io/metadata.name: {{ $np.gateway.namespace }}
  {{- with $np.gateway.podLabels }}
  podSelector:
    matchLabels:
      {{- toYaml . | nindent 6 }}
  {{- end }}
{{- if eq .Values.deploymentMode "Knative" }}
# Knative's activator proxies requests while revisions scale from zero.
- namespaceSelector:
    matchLabels:
      kubernetes.io/metadata.name: {{ $np.knativeNamespace }}
{{- end }}
{{- if $.Values.loadBalancer.enabled }}
# The ALB (targets are pod IPs): its subnets.
{{- range $np.loadBalancerCidrs }}
- ipBlock:
    cidr: {{ . }}
{{- end }}
{{- end }}
# The chart's own `helm test` pod.
- podSelector:
    matchLabels:
      {{- include "model-serving.selectorLabels" . | nindent 6 }}
      app.kubernetes.io/component: helm-test
{{- end }}
