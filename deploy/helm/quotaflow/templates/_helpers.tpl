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

{{/* The gateway's writable volume: general_settings.data_dir (spend spool; SQLite without a database). */}}
{{- define "quotaflow.dataDir" -}}
/var/lib/quotaflow
{{- end }}

{{/*
The gateway's config.yaml: .Values.config, plus Redis's address when redis.enabled and data_dir,
the mounted data volume. The database needs nothing here: the gateway reads $DATABASE_URL when
general_settings.database_url is unset. Secrets stay os.environ/NAME references.
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
{{- $general := index $config "general_settings" | default dict }}
{{- $dataDir := include "quotaflow.dataDir" . }}
{{- if and (hasKey $general "data_dir") (ne (toString (index $general "data_dir")) $dataDir) }}
{{- fail (printf "config.general_settings.data_dir: leave it unset; the chart mounts the pod's data volume at %s" $dataDir) }}
{{- end }}
{{- $_ := set $general "data_dir" $dataDir }}
{{- $_ := set $config "general_settings" $general }}
{{- toYaml $config }}
{{- end }}

{{/*
How long Kubernetes waits after the preStop hook starts before SIGKILL: the preStop sleep, then
--grace-seconds for the calls in flight, then a margin. Computed unless set; never less than the
two plus 5 s.
*/}}
{{- define "quotaflow.terminationGracePeriodSeconds" -}}
{{- $minimum := add (int .Values.preStopSleepSeconds) (int .Values.gracefulShutdownSeconds) 5 }}
{{- $period := int (.Values.terminationGracePeriodSeconds | default (add $minimum 5)) }}
{{- if lt $period (int $minimum) }}
{{- fail (printf "terminationGracePeriodSeconds is %d: it must be at least preStopSleepSeconds + gracefulShutdownSeconds + 5 = %d" $period (int $minimum)) }}
{{- end }}
{{- $period }}
{{- end }}

{{/* Pod annotations: checksums that roll the pods, Prometheus' scrape hints, podAnnotations. */}}
{{- define "quotaflow.podAnnotations" -}}
{{- $annotations := dict }}
{{- /* A changed config or Secret rolls the pods: the gateway reads both only at start. */}}
{{- $_ := set $annotations "checksum/config" (include "quotaflow.config" . | sha256sum) }}
{{- $_ := set $annotations "checksum/secret" (include (print .Template.BasePath "/secret.yaml") . | sha256sum) }}
{{- if .Values.metrics.scrapeAnnotations }}
{{- $_ := set $annotations "prometheus.io/scrape" "true" }}
{{- $_ := set $annotations "prometheus.io/port" "4000" }}
{{- $_ := set $annotations "prometheus.io/path" "/metrics" }}
{{- end }}
{{- toYaml (mergeOverwrite $annotations (.Values.podAnnotations | default dict)) }}
{{- end }}

{{/* The environment of the gateway and of its db-upgrade init container: the same database. */}}
{{- define "quotaflow.environment" -}}
envFrom:
  - secretRef:
      name: {{ include "quotaflow.secretName" . }}
{{- if or .Values.postgres.enabled .Values.externalDatabaseUrl .Values.extraEnv }}
env:
  {{- if .Values.postgres.enabled }}
  - name: POSTGRES_PASSWORD
    valueFrom:
      secretKeyRef:
        name: {{ include "quotaflow.postgresSecretName" . }}
        key: POSTGRES_PASSWORD
  - name: DATABASE_URL  # $(POSTGRES_PASSWORD) is expanded from the variable above
    value: "postgresql://{{ .Values.postgres.username }}:$(POSTGRES_PASSWORD)@{{ include "quotaflow.postgresName" . }}:5432/{{ .Values.postgres.database }}"
  {{- else if .Values.externalDatabaseUrl }}
  - name: DATABASE_URL
    valueFrom:
      secretKeyRef:
        name: {{ include "quotaflow.databaseSecretName" . }}
        key: DATABASE_URL
  {{- end }}
  {{- with .Values.extraEnv }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- end }}
volumeMounts:
  - name: config
    mountPath: /app/config.yaml
    subPath: config.yaml
    readOnly: true
  - name: data  # general_settings.data_dir
    mountPath: {{ include "quotaflow.dataDir" . }}
  - name: tmp
    mountPath: /tmp
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
