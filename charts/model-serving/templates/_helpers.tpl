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
In-cluster URL of the predictor (Standard: its Service; Knative: its route).
*/}}
{{- define "model-serving.predictorHost" -}}
{{- printf "%s-predictor.%s.svc.cluster.local" (include "model-serving.fullname" .) .Release.Namespace }}
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
{{- else if not (regexMatch "^(s3|gs|pvc|https)://.+" $v.model.storageUri) }}
{{- $errors = append $errors (printf "model.storageUri %q is not supported: use an s3://, gs://, pvc:// or https:// URI" $v.model.storageUri) }}
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
{{- if not (kindIs "invalid" $v.canary.trafficPercent) }}
{{- if ne $v.deploymentMode "Knative" }}
{{- $errors = append $errors "canary.trafficPercent needs deploymentMode Knative: KServe ignores canaryTrafficPercent in Standard mode (kserve/kserve#5335), so the canary would silently get all traffic" }}
{{- end }}
{{- if not $v.canary.previousStorageUri }}
{{- $errors = append $errors "canary.previousStorageUri is required with canary.trafficPercent: note the model the canary is compared with, so a rollback knows where to go" }}
{{- else if eq $v.canary.previousStorageUri $v.model.storageUri }}
{{- $errors = append $errors "canary.previousStorageUri equals model.storageUri: a canary must serve a different model than the revision it is compared with" }}
{{- end }}
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
{{- if hasSuffix ":latest" $v.helmTest.image }}
{{- $errors = append $errors (printf "helmTest.image %q uses the latest tag: pin a version (or a digest)" $v.helmTest.image) }}
{{- end }}
{{- if $errors }}
{{- fail (printf "\n\nVALUES VALIDATION:\n  - %s" (join "\n  - " $errors)) }}
{{- end }}
{{- end }}
