{{/*
Expand the name of the chart.
*/}}
{{- define "model-serving.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 40 | trimSuffix "-" }}
{{- end }}

{{/*
Full name: the InferenceService's name and so the model's V2 name. Kept to 45
characters because KServe appends "-predictor-<hash>" to derived names.
*/}}
{{- define "model-serving.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 45 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 45 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 45 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Chart name and version, for the helm.sh/chart label.
*/}}
{{- define "model-serving.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Common labels.
*/}}
{{- define "model-serving.labels" -}}
helm.sh/chart: {{ include "model-serving.chart" . }}
{{ include "model-serving.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: mlplatform
{{- end }}

{{/*
Selector labels: stable across upgrades (no version, no chart).
*/}}
{{- define "model-serving.selectorLabels" -}}
app.kubernetes.io/name: {{ include "model-serving.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Labels of the predictor pods, which the NetworkPolicy, the PDB and the PodMonitor select.
*/}}
{{- define "model-serving.predictorSelectorLabels" -}}
{{ include "model-serving.selectorLabels" . }}
app.kubernetes.io/component: predictor
{{- end }}

{{/*
The service account the predictor runs as.
*/}}
{{- define "model-serving.serviceAccountName" -}}
{{- default (include "model-serving.fullname" .) .Values.serviceAccount.name }}
{{- end }}

{{/*
The stable predictor's Service (and Deployment): KServe's PredictorServiceName,
`<name>-<predictor.name>-predictor`, or `<name>-predictor` without a predictor name.
*/}}
{{- define "model-serving.predictorService" -}}
{{- $parts := list (include "model-serving.fullname" .) }}
{{- with .Values.predictor.name }}{{ $parts = append $parts . }}{{ end }}
{{- join "-" (append $parts "predictor") }}
{{- end }}

{{/*
In-cluster host of the stable predictor's Service.
*/}}
{{- define "model-serving.predictorHost" -}}
{{- printf "%s.%s.svc.cluster.local" (include "model-serving.predictorService" .) .Release.Namespace }}
{{- end }}

{{/*
The model block of a predictor, for the stable one and the canary alike: called with
a dict of the chart's Values and the model's storageUri.
*/}}
{{- define "model-serving.model" -}}
{{- $v := .Values -}}
modelFormat:
  name: {{ $v.model.format }}
  {{- with $v.model.formatVersion }}
  version: {{ . | quote }}
  {{- end }}
protocolVersion: {{ $v.model.protocolVersion }}
{{- with (ternary $v.gpu.runtime $v.model.runtime $v.gpu.enabled) }}
runtime: {{ . }}
{{- end }}
storageUri: {{ .storageUri | quote }}
resources:
  requests:
    {{- toYaml $v.resources.requests | nindent 4 }}
  limits:
    {{- toYaml $v.resources.limits | nindent 4 }}
    {{- if $v.gpu.enabled }}
    {{ $v.gpu.resource }}: {{ $v.gpu.count | quote }}
    {{- end }}
{{- $threads := include "model-serving.threads" $v }}
# MLServer's own start command (what the image's CMD ends with), from the writable scratch folder: the image's CMD runs
# from /opt/mlserver (owned 1000:0, mode 776, MLServer 1.7.1's Dockerfile), which a UID of 10000 or more outside group 0
# cannot enter, and MLServer keeps its metrics and environments folders in its working directory.
command: ["mlserver", "start", "/mnt/models"]
workingDir: /tmp
# Native thread pools (OpenMP, OpenBLAS, MKL) sized to the CPU the model is given, not the
# node's cores: unbounded, every request spins a thread per node core and the pod is throttled.
env:
  {{- range list "OMP_NUM_THREADS" "OPENBLAS_NUM_THREADS" "MKL_NUM_THREADS" }}
  - name: {{ . }}
    value: {{ $threads | quote }}
  {{- end }}
  # The request body limit: the runtime the model carries answers 413 above it (MLServer's model setting
  # `extra`), and MLServer's gRPC server refuses bigger messages.
  - name: MLSERVER_MODEL_EXTRA
    value: {{ dict "max_request_bytes" (int $v.model.maxRequestBytes) | toJson | quote }}
  - name: MLSERVER_GRPC_MAX_MESSAGE_LENGTH
    value: {{ int $v.model.maxRequestBytes | toString | quote }}
  # Adaptive batching (MLServer's model settings from env), in MLServer's own process: with a worker pool MLServer would merge
  # requests before the model's runtime could check each one, and that runtime refuses to load so.
  - name: MLSERVER_MODEL_MAX_BATCH_SIZE
    value: {{ int $v.model.batching.maxBatchSize | toString | quote }}
  - name: MLSERVER_MODEL_MAX_BATCH_TIME
    value: {{ $v.model.batching.maxBatchTime | toString | quote }}
  - name: MLSERVER_PARALLEL_WORKERS
    value: "0"
  {{- with $v.model.implementation }}
  # The model's own runtime class, from its code folder (overrides the ServingRuntime's env by name).
  - name: MLSERVER_MODEL_IMPLEMENTATION
    value: {{ . | quote }}
  - name: PYTHONPATH
    value: {{ $v.model.codePath | quote }}
  {{- end }}
# MLServer's V2 health endpoints (the load balancer checks /v2/health/ready too): no traffic until the
# model is loaded, a restart when the server stops answering; the startup probe gives the download and
# the load up to 5 minutes before liveness counts.
startupProbe:
  httpGet: {path: /v2/health/live, port: {{ $v.ports.http }}}
  periodSeconds: 5
  failureThreshold: 60
readinessProbe:
  httpGet: {path: /v2/health/ready, port: {{ $v.ports.http }}}
  periodSeconds: 10
  failureThreshold: 3
livenessProbe:
  httpGet: {path: /v2/health/live, port: {{ $v.ports.http }}}
  periodSeconds: 15
  failureThreshold: 4
securityContext:
  {{- toYaml $v.securityContext | nindent 2 }}
  runAsUser: {{ $v.podSecurityContext.runAsUser }}
volumeMounts:
  - name: scratch
    mountPath: /tmp
{{- end }}

{{/*
The pod-level security fields of a predictor and its scratch volume (the model container's /tmp), written out
on the stable predictor and on the canary alike (KServe v0.20.0 also copies the stable predictor's spec onto the
canary before merging the canary's over it: buildCanaryPredictor, predictor.go:897-899).
*/}}
{{- define "model-serving.podSecurity" -}}
serviceAccountName: {{ include "model-serving.serviceAccountName" . }}
automountServiceAccountToken: false
hostNetwork: false
hostPID: false
hostIPC: false
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
volumes:
  - name: scratch
    emptyDir:
      sizeLimit: {{ .Values.scratch.sizeLimit }}
{{- end }}

{{/*
The canary's real share of the requests, in percent, at `minReplicas` (a dict of "min" and "percent"): KServe
v0.20.0 runs ceil(min x percent / 100) canary replicas and lowers the stable predictor's minimum by as many, to at
least 1 (predictor.go canaryReplicaCount, :886-895, and :795-803), and the Service spreads requests over the pods.
*/}}
{{- define "model-serving.canaryShare" -}}
{{- $canary := int (ceil (divf (mul .min .percent) 100)) }}
{{- $stable := max (sub .min $canary) 1 }}
{{- if eq $canary 0 }}0{{ else }}{{ divf (mul $canary 100) (add $canary $stable) | printf "%.0f" }}{{ end }}
{{- end }}

{{/*
A CPU quantity ("500m", "1", 1.5) in millicores.
*/}}
{{- define "model-serving.millicores" -}}
{{- $q := toString . -}}
{{- if hasSuffix "m" $q }}{{ trimSuffix "m" $q | float64 }}{{ else }}{{ mulf (float64 $q) 1000 }}{{ end }}
{{- end }}

{{/*
A memory quantity ("512Mi", "2Gi", "1G", 1073741824) in bytes.
*/}}
{{- define "model-serving.bytes" -}}
{{- $q := toString . -}}
{{- $value := "" -}}
{{- range $suffix, $factor := dict "Ki" 1024.0 "Mi" 1048576.0 "Gi" 1073741824.0 "Ti" 1099511627776.0 "k" 1000.0 "M" 1000000.0 "G" 1000000000.0 "T" 1000000000000.0 }}
{{- if and (not $value) (hasSuffix $suffix $q) }}{{ $value = mulf (trimSuffix $suffix $q | float64) $factor }}{{ end }}
{{- end }}
{{- if not $value }}{{ $value = float64 $q }}{{ end }}
{{- $value -}}
{{- end }}

{{/*
Threads of the model's native pools: `threads`, or the CPU limit rounded up (at least 1).
*/}}
{{- define "model-serving.threads" -}}
{{- if .threads }}{{ .threads }}{{ else }}
{{- $limit := dig "limits" "cpu" "1" .resources }}
{{- max 1 (ceil (divf (include "model-serving.millicores" $limit | float64) 1000)) }}
{{- end }}
{{- end }}

{{/*
Refuse value combinations the schema cannot express, each with a message that
names the key and the fix.
*/}}
{{- define "model-serving.validateValues" -}}
{{- $v := .Values }}
{{- $errors := list }}
{{- if not $v.model.storageUri }}
{{- $errors = append $errors "model.storageUri is required: set it to the model's s3://, gs://, pvc:// or https:// URI (for example --set model.storageUri=s3://bucket/mlflow/1/abc/artifacts/model)" }}
{{- end }}
{{- if and $v.requestLogging.enabled (not $v.requestLogging.url) }}
{{- $errors = append $errors "requestLogging.url is required with requestLogging.enabled: the s3://<bucket>/<prefix> KServe's logger writes to" }}
{{- end }}
{{- if and (eq $v.deploymentMode "Standard") (not (has $v.autoscaling.scaleMetric (list "cpu" "memory"))) }}
{{- $errors = append $errors (printf "autoscaling.scaleMetric %q needs deploymentMode Knative: Standard mode scales with the HPA on cpu or memory only" $v.autoscaling.scaleMetric) }}
{{- end }}
{{- if and (eq $v.deploymentMode "Standard") (eq (int $v.autoscaling.minReplicas) 0) }}
{{- $errors = append $errors "autoscaling.minReplicas 0 (scale to zero) needs deploymentMode Knative: Standard mode keeps at least one replica; set minReplicas >= 1" }}
{{- end }}
{{- if gt (int $v.autoscaling.minReplicas) (int $v.autoscaling.maxReplicas) }}
{{- $errors = append $errors (printf "autoscaling.minReplicas %d is greater than autoscaling.maxReplicas %d" (int $v.autoscaling.minReplicas) (int $v.autoscaling.maxReplicas)) }}
{{- end }}
{{- if $v.canary.name }}
{{- if ne $v.deploymentMode "Standard" }}
{{- $errors = append $errors "canary.name needs deploymentMode Standard: KServe v0.20 runs spec.canary[] in Standard mode only (its webhook refuses a canary otherwise)" }}
{{- end }}
{{- if eq $v.canary.name $v.predictor.name }}
{{- $errors = append $errors (printf "canary.name %q equals predictor.name: the canary needs its own name (KServe refuses a conflict with the stable predictor)" $v.canary.name) }}
{{- end }}
{{- if not $v.canary.storageUri }}
{{- $errors = append $errors "canary.storageUri is required with canary.name: the model the canary serves" }}
{{- else if eq $v.canary.storageUri $v.model.storageUri }}
{{- $errors = append $errors "canary.storageUri equals model.storageUri: a canary must serve a different model than the stable predictor" }}
{{- end }}
{{- end }}
{{- range $role, $name := dict "predictor.name" $v.predictor.name "canary.name" $v.canary.name }}
{{- $service := printf "%s-%s-predictor" (include "model-serving.fullname" $) $name }}
{{- if and $name (gt (len $service) 63) }}
{{- $errors = append $errors (printf "%s %q makes the Service name %s longer than 63 characters: shorten it or fullnameOverride" $role $name $service) }}
{{- end }}
{{- end }}
{{- range $resource, $unit := dict "cpu" "millicores" "memory" "bytes" }}
{{- $request := dig "requests" $resource "" $v.resources }}
{{- $limit := dig "limits" $resource "" $v.resources }}
{{- if and $request $limit }}
{{- if lt (include (printf "model-serving.%s" $unit) $limit | float64) (include (printf "model-serving.%s" $unit) $request | float64) }}
{{- $errors = append $errors (printf "resources.limits.%s %v is below resources.requests.%s %v: Kubernetes refuses such a pod; raise the limit or lower the request" $resource $limit $resource $request) }}
{{- end }}
{{- end }}
{{- end }}
{{- if $v.loadBalancer.enabled }}
{{- if not $v.loadBalancer.certificateArn }}
{{- $errors = append $errors "loadBalancer.certificateArn is required with loadBalancer.enabled: the ALB serves HTTPS only (an ACM certificate of the model's host name)" }}
{{- end }}
{{- if and $v.networkPolicy.enabled (not $v.networkPolicy.loadBalancerCidrs) }}
{{- $errors = append $errors "networkPolicy.loadBalancerCidrs is required with loadBalancer.enabled: without the load balancer's subnets the NetworkPolicy drops its traffic" }}
{{- end }}
{{- end }}
{{- if and $v.gpu.enabled (or (not $v.gpu.resource) (not $v.gpu.nodeSelector) (not $v.gpu.tolerations)) }}
{{- $errors = append $errors "gpu.enabled needs gpu.resource, gpu.nodeSelector and gpu.tolerations: how the cluster's GPU nodes are found and tolerated (the platform's values carry them: ConfigMap model-serving-platform-values)" }}
{{- end }}
{{- if and $v.gpu.enabled (or (not $v.gpu.runtime) (not $v.gpu.modelFormat)) }}
{{- $errors = append $errors "gpu.enabled needs gpu.runtime and gpu.modelFormat: the runtime that predicts on the GPU and the format it serves (the platform's values carry them: ConfigMap model-serving-platform-values)" }}
{{- else if and $v.gpu.enabled (ne $v.model.format $v.gpu.modelFormat) }}
{{- $errors = append $errors (printf "gpu.enabled with model.format %s: only %s models predict on the GPU (%s); serve one (train with the pipeline's estimator %s) or set gpu.enabled false" $v.model.format $v.gpu.modelFormat $v.gpu.runtime $v.gpu.modelFormat) }}
{{- end }}
{{- if and $v.gpu.enabled (eq (int $v.autoscaling.minReplicas) 0) }}
{{- $errors = append $errors "gpu.enabled with autoscaling.minReplicas 0: a GPU model cold-starts in minutes (node scale-up, driver, model load); keep minReplicas >= 1" }}
{{- end }}
{{- if and $v.monitoring.enabled (not $v.monitoring.release) }}
{{- $errors = append $errors "monitoring.release is required with monitoring.enabled: kube-prometheus-stack only picks up monitors and rules labelled release=<its release name>" }}
{{- end }}
{{- if and $v.networkPolicy.enabled (not $v.networkPolicy.objectStore.cidrs) (not $v.networkPolicy.objectStore.namespace) }}
{{- $errors = append $errors "networkPolicy.objectStore needs cidrs (S3) or namespace (MinIO): without either the storage initializer cannot download the model" }}
{{- end }}
{{- if and (not $v.serviceAccount.create) (not $v.serviceAccount.name) }}
{{- $errors = append $errors "serviceAccount.name is required when serviceAccount.create is false: the predictor never runs as the namespace's default service account" }}
{{- end }}
{{- if eq $v.serviceAccount.name "default" }}
{{- $errors = append $errors "serviceAccount.name must not be default: give the model its own service account" }}
{{- end }}
{{- with $v.transformer }}
{{- if .enabled }}
{{- if not .featureServerUrl }}
{{- $errors = append $errors "transformer.featureServerUrl is required with transformer.enabled: the Feast feature server's http://host:port (the platform's values give it)" }}
{{- end }}
{{- if not .code.configMap }}
{{- $errors = append $errors "transformer.code.configMap is required with transformer.enabled: the ConfigMap holding the transformer's zip application (python -m pipelines.features.bundle; the platform creates it)" }}
{{- end }}
{{- if and $v.networkPolicy.enabled (not .featureServer.namespace) }}
{{- $errors = append $errors "transformer.featureServer.namespace is required with transformer.enabled and networkPolicy.enabled: without it the NetworkPolicy drops the feature lookups" }}
{{- end }}
{{- if gt (int .minReplicas) (int .maxReplicas) }}
{{- $errors = append $errors (printf "transformer.minReplicas %d is greater than transformer.maxReplicas %d" (int .minReplicas) (int .maxReplicas)) }}
{{- end }}
{{- if hasSuffix ":latest" .image }}
{{- $errors = append $errors (printf "transformer.image %q uses the latest tag: pin a version (or a digest)" .image) }}
{{- end }}
{{- end }}
{{- end }}
{{- if hasSuffix ":latest" $v.helmTest.image }}
{{- $errors = append $errors (printf "helmTest.image %q uses the latest tag: pin a version (or a digest)" $v.helmTest.image) }}
{{- end }}
{{- if $errors }}
{{- fail (printf "\n\nVALUES VALIDATION:\n  - %s" (join "\n  - " $errors)) }}
{{- end }}
{{- end }}
