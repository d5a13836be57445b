{{/*
Names and labels.
*/}}
{{- define "auth-server.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "auth-server.fullname" -}}
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

{{- define "auth-server.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "auth-server.selectorLabels" -}}
app.kubernetes.io/name: {{ include "auth-server.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "auth-server.labels" -}}
helm.sh/chart: {{ include "auth-server.chart" . }}
{{ include "auth-server.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "auth-server.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "auth-server.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "auth-server.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{- define "auth-server.clientsConfigMapName" -}}
{{- if .Values.bootstrap.clients.existingConfigMap }}
{{- .Values.bootstrap.clients.existingConfigMap }}
{{- else }}
{{- printf "%s-clients" (include "auth-server.fullname" .) }}
{{- end }}
{{- end }}

{{- define "auth-server.serviceAccountsConfigMapName" -}}
{{- printf "%s-service-accounts" (include "auth-server.fullname" .) }}
{{- end }}

{{/*
Where the seed files are mounted in the server container.
*/}}
{{- define "auth-server.clientsSeedDir" -}}/etc/auth-server/seed/clients{{- end }}
{{- define "auth-server.serviceAccountsSeedDir" -}}/etc/auth-server/seed/service-accounts{{- end }}
{{- define "auth-server.sqliteDir" -}}/var/lib/auth-server{{- end }}

{{/*
The database in use: "postgres" (database.url, which the schema allows
only for PostgreSQL), "external" (a URL in an existing Secret, whose scheme
the chart cannot see) or "sqlite" (neither: the built-in SQLite).
*/}}
{{- define "auth-server.databaseKind" -}}
{{- if .Values.database.existingSecret }}external
{{- else if .Values.database.url }}postgres
{{- else }}sqlite
{{- end }}
{{- end }}

{{/*
True when the chart provides SQLite's directory (no database configured).
*/}}
{{- define "auth-server.builtinSqlite" -}}
{{- if and (not .Values.database.url) (not .Values.database.existingSecret) }}true{{ end }}
{{- end }}

{{/*
The managed platform clients: every key of bootstrap.clients other than
public, confidential and existingConfigMap, as a JSON object
name -> {envVarName, secretName, create}.
*/}}
{{- define "auth-server.managedClients" -}}
{{- $out := dict }}
{{- range $name, $c := .Values.bootstrap.clients }}
{{- if not (has $name (list "public" "confidential" "existingConfigMap")) }}
{{- if not (kindIs "map" $c) }}
{{- fail (printf "bootstrap.clients.%s: a managed client secret must be a map with envVarName (and optionally existingSecret, secretName)" $name) }}
{{- end }}
{{- if not $c.envVarName }}
{{- fail (printf "bootstrap.clients.%s.envVarName is required: the variable the client secret is injected into" $name) }}
{{- end }}
{{- $secretName := default (printf "%s-client-secret" $name) $c.secretName }}
{{- if $c.existingSecret }}
{{- $secretName = $c.existingSecret }}
{{- end }}
{{- $_ := set $out $name (dict "envVarName" $c.envVarName "secretName" $secretName "create" (not $c.existingSecret)) }}
{{- end }}
{{- end }}
{{- toJson $out }}
{{- end }}

{{/*
Renders an APP_* value as an environment variable string. Numbers from
values files arrive as floats; print them as integers.
*/}}
{{- define "auth-server.envValue" -}}
{{- if or (kindIs "float64" .) (kindIs "int64" .) (kindIs "int" .) }}
{{- int64 . | toString }}
{{- else }}
{{- toString . }}
{{- end }}
{{- end }}

{{/*
Environment shared by the server, the migration init container and the
migration Job: database, settings, keys encryption, log filter.
*/}}
{{- define "auth-server.commonEnv" -}}
- name: APP_BIND
  value: "0.0.0.0:{{ .Values.service.port }}"
- name: APP_DATABASE_URL
{{- if .Values.database.existingSecret }}
  valueFrom:
    secretKeyRef:
      name: {{ .Values.database.existingSecret }}
      key: {{ .Values.database.existingSecretKey }}
{{- else if .Values.database.url }}
  valueFrom:
    secretKeyRef:
      name: {{ include "auth-server.fullname" . }}-database
      key: url
{{- else }}
  value: "sqlite://{{ include "auth-server.sqliteDir" . }}/auth-server.db"
{{- end }}
{{- range $k, $v := .Values.config }}
- name: {{ $k }}
  value: {{ include "auth-server.envValue" $v | quote }}
{{- end }}
- name: APP_FORWARDED_TRUSTED_PROXIES
  value: {{ join "," .Values.forwarding.trustedProxies | quote }}
- name: APP_FORWARDED_HEADERS
  value: {{ .Values.forwarding.forwardedHeaders | quote }}
{{- if .Values.keysEncryption.existingSecret }}
- name: APP_KEYS_ENCRYPTION_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ .Values.keysEncryption.existingSecret }}
      key: {{ .Values.keysEncryption.key }}
{{- end }}
- name: RUST_LOG
  value: {{ .Values.logLevel | quote }}
{{- end }}

{{/*
Checks that cannot be expressed in values.schema.json; each fails the
install with a message naming the value at fault.
*/}}
{{- define "auth-server.validate" -}}
{{- if and .Values.admin.enabled (eq (int .Values.admin.port) (int .Values.service.port)) }}
{{- fail "admin.port: must differ from service.port (the admin API needs a port of its own)" }}
{{- end }}
{{- if and .Values.database.url .Values.database.existingSecret }}
{{- fail "database.url and database.existingSecret are mutually exclusive: set one" }}
{{- end }}
{{- if and (gt (int .Values.replicas) 1) (eq (include "auth-server.databaseKind" .) "sqlite") }}
{{- fail (printf "replicas: %d replicas need PostgreSQL (database.url or database.existingSecret); with SQLite each pod would have its own database" (int .Values.replicas)) }}
{{- end }}
{{- if and (eq .Values.migration.mode "job") (eq (include "auth-server.databaseKind" .) "sqlite") }}
{{- fail "migration.mode: job needs PostgreSQL; SQLite lives inside the pod, so a Job cannot migrate it" }}
{{- end }}
{{- if and .Values.istio.authorizationPolicy.enabled (not .Values.istio.authorizationPolicy.principals) (not .Values.istio.authorizationPolicy.extraRules) }}
{{- fail "istio.authorizationPolicy.principals: an ALLOW policy without principals or extraRules would deny every request" }}
{{- end }}
{{- if lt (int .Values.terminationGracePeriodSeconds) (add (int .Values.shutdown.drainSeconds) 30) }}
{{- fail (printf "terminationGracePeriodSeconds: %d is shorter than shutdown.drainSeconds (%d) + 30 s for in-flight requests; the pod would be killed mid-request" (int .Values.terminationGracePeriodSeconds) (int .Values.shutdown.drainSeconds)) }}
{{- end }}
{{- /* Every variable name the server container gets, to find duplicates. */}}
{{- $names := list "APP_BIND" "APP_ADMIN_BIND" "APP_DATABASE_URL" "APP_SEED_CLIENTS_FILE" "APP_SEED_SERVICE_ACCOUNTS_FILE" "APP_SHUTDOWN_DRAIN" "RUST_LOG" }}
{{- if .Values.keysEncryption.existingSecret }}
{{- $names = append $names "APP_KEYS_ENCRYPTION_SECRET" }}
{{- end }}
{{- range $k, $_ := .Values.config }}
{{- $names = append $names $k }}
{{- end }}
{{- $managed := include "auth-server.managedClients" . | fromJson }}
{{- range $name, $m := $managed }}
{{- if has $m.envVarName $names }}
{{- fail (printf "bootstrap.clients.%s.envVarName: %s is already set by the chart or another managed client" $name $m.envVarName) }}
{{- end }}
{{- $names = append $names $m.envVarName }}
{{- end }}
{{- range .Values.extraEnvVars }}
{{- if has .name $names }}
{{- fail (printf "extraEnvVars: %s is already set by the chart, config or a managed client secret" .name) }}
{{- end }}
{{- $names = append $names .name }}
{{- end }}
{{- if not .Values.bootstrap.clients.existingConfigMap }}
{{- range .Values.bootstrap.clients.confidential }}
{{- if not (has .client_secret_env_var_name $names) }}
{{- fail (printf "bootstrap.clients.confidential: client %s reads its secret from %s, which the chart does not inject; add a managed client secret (bootstrap.clients.<name>.envVarName) or an extraEnvVars entry for it" .client_id .client_secret_env_var_name) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
