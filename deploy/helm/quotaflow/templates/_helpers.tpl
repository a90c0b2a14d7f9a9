{{/* Names: "<release>-quotaflow", or the release name when it already contains the chart's. */}}
{{- define "quotaflow.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "quotaflow.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "quotaflow.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: {{ include "quotaflow.name" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}

{{/* Selector labels of one component: include "quotaflow.selectorLabels" (list . "gateway") */}}
{{- define "quotaflow.selectorLabels" -}}
{{- $root := index . 0 -}}
app.kubernetes.io/name: {{ include "quotaflow.name" $root }}
app.kubernetes.io/instance: {{ $root.Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end }}

{{- define "quotaflow.secretName" -}}
{{- default (include "quotaflow.fullname" .) .Values.existingSecret }}
{{- end }}

{{- define "quotaflow.redisName" -}}
{{- printf "%s-redis" (include "quotaflow.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "quotaflow.postgresName" -}}
{{- printf "%s-postgres" (include "quotaflow.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "quotaflow.postgresSecretName" -}}
{{- default (include "quotaflow.postgresName" .) .Values.postgres.existingSecret }}
{{- end }}

{{- define "quotaflow.databaseSecretName" -}}
{{- printf "%s-database" (include "quotaflow.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "quotaflow.hasDatabase" -}}
{{- if and .Values.postgres.enabled .Values.externalDatabaseUrl }}
{{- fail "set postgres.enabled or externalDatabaseUrl, not both" }}
{{- end }}
{{- if or .Values.postgres.enabled .Values.externalDatabaseUrl }}true{{ end }}
{{- end }}

{{/*
The gateway's config.yaml: .Values.config, plus Redis's address when redis.enabled and
database_url when there is a database. Secrets stay os.environ/NAME references.
*/}}
{{- define "quotaflow.config" -}}
{{- $config := deepCopy .Values.config }}
{{- if .Values.redis.enabled }}
{{- $router := index $config "router_settings" | default dict }}
{{- $_ := set $router "redis_host" (include "quotaflow.redisName" .) }}
{{- $_ := set $router "redis_port" (int .Values.redis.port) }}
{{- $_ := set $router "redis_password" "os.environ/REDIS_PASSWORD" }}
{{- $_ := set $config "router_settings" $router }}
{{- end }}
{{- if include "quotaflow.hasDatabase" . }}
{{- $general := index $config "general_settings" | default dict }}
{{- $_ := set $general "database_url" "os.environ/DATABASE_URL" }}
{{- $_ := set $config "general_settings" $general }}
{{- end }}
{{- toYaml $config }}
{{- end }}

{{/*
Fails unless every os.environ/NAME of the config is provided: by `secrets` (non-empty), by
extraEnv, or as DATABASE_URL by the chart. With existingSecret the chart cannot look inside.
*/}}
{{- define "quotaflow.checkEnvironment" -}}
{{- if not .Values.existingSecret }}
{{- $provided := dict }}
{{- range $name, $value := .Values.secrets }}
{{- $_ := set $provided $name (required (printf "secrets.%s is empty" $name) $value) }}
{{- end }}
{{- range .Values.extraEnv }}
{{- $_ := set $provided .name true }}
{{- end }}
{{- if include "quotaflow.hasDatabase" . }}
{{- $_ := set $provided "DATABASE_URL" true }}
{{- end }}
{{- range regexFindAll "os\\.environ/[A-Za-z_][A-Za-z0-9_]*" (include "quotaflow.config" .) -1 }}
{{- $name := trimPrefix "os.environ/" . }}
{{- if not (hasKey $provided $name) }}
{{- fail (printf "config names os.environ/%s: set secrets.%s (or use existingSecret)" $name $name) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
