{{/* Names, labels and the pieces every pod of the release shares. */}}

{{- define "alerting.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "alerting.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "alerting.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Selector labels; call with (dict "ctx" $ "component" "api"). */}}
{{- define "alerting.selectorLabels" -}}
app.kubernetes.io/name: {{ include "alerting.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
{{- with .component }}
app.kubernetes.io/component: {{ . }}
{{- end }}
{{- end -}}

{{- define "alerting.labels" -}}
helm.sh/chart: {{ include "alerting.chart" .ctx }}
{{ include "alerting.selectorLabels" . }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
app.kubernetes.io/part-of: county-alerting
{{- end -}}

{{- define "alerting.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{- define "alerting.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "alerting.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "alerting.secretName" -}}
{{- default (printf "%s-secrets" (include "alerting.fullname" .)) .Values.existingSecret -}}
{{- end -}}

{{- define "alerting.configMapName" -}}
{{- default (printf "%s-config" (include "alerting.fullname" .)) .Values.existingConfigMap -}}
{{- end -}}

{{/* ALERTING_PUBLIC_URL: the value, else the first Ingress host, else loopback (port-forward). */}}
{{- define "alerting.publicUrl" -}}
{{- if .Values.publicUrl -}}
{{- .Values.publicUrl -}}
{{- else if and .Values.ingress.enabled .Values.ingress.hosts -}}
{{- $host := (index .Values.ingress.hosts 0).host -}}
{{- $tls := false -}}
{{- range .Values.ingress.tls }}{{ if has $host .hosts }}{{ $tls = true }}{{ end }}{{ end -}}
{{- printf "%s://%s" (ternary "https" "http" $tls) $host -}}
{{- else -}}
{{- printf "http://127.0.0.1:%v" .Values.service.port -}}
{{- end -}}
{{- end -}}

{{- define "alerting.kafkaUsesSasl" -}}
{{- if hasPrefix "SASL_" .Values.externalKafka.securityProtocol }}true{{ end -}}
{{- end -}}

{{- define "alerting.kafkaUsesOauth" -}}
{{- if and (include "alerting.kafkaUsesSasl" .) (eq .Values.externalKafka.saslMechanism "OAUTHBEARER") }}true{{ end -}}
{{- end -}}

{{- define "alerting.secretEnv" -}}
{{- /* call with (dict "ctx" $ "name" "ALERTING_X" "key" "secret key" "optional" bool) */ -}}
- name: {{ .name }}
  valueFrom:
    secretKeyRef:
      name: {{ include "alerting.secretName" .ctx }}
      key: {{ .key }}
      optional: {{ .optional }}
{{- end -}}

{{/* The database settings, shared by the long-running processes and the migrate Job. */}}
{{- define "alerting.databaseEnv" -}}
{{- $pg := .Values.externalPostgresql -}}
- name: ALERTING_DATABASE_URL
  value: {{ printf "postgresql+asyncpg://%s@%s:%v/%s" $pg.username $pg.host $pg.port $pg.database | quote }}
{{ include "alerting.secretEnv" (dict "ctx" . "name" "ALERTING_DATABASE_PASSWORD" "key" .Values.secretKeys.databasePassword "optional" false) }}
- name: ALERTING_DATABASE_SSL_MODE
  value: {{ $pg.sslMode | quote }}
{{- if $pg.tls.existingSecret }}
- name: ALERTING_DATABASE_SSL_ROOT_CERT
  value: /etc/alerting/postgresql-tls/{{ $pg.tls.rootCertKey }}
{{- if $pg.tls.certKey }}
- name: ALERTING_DATABASE_SSL_CERT
  value: /etc/alerting/postgresql-tls/{{ $pg.tls.certKey }}
- name: ALERTING_DATABASE_SSL_KEY
  value: /etc/alerting/postgresql-tls/{{ required "externalPostgresql.tls.keyKey 未设置 / is required with externalPostgresql.tls.certKey" $pg.tls.keyKey }}
{{- end }}
{{- end }}
{{- end -}}

{{/* The settings of the long-running processes (not the migrate Job). */}}
{{- define "alerting.serviceEnv" -}}
{{- $kafka := .Values.externalKafka -}}
{{ include "alerting.databaseEnv" . }}
- name: ALERTING_HTTP_HOST
  value: 0.0.0.0
- name: ALERTING_HTTP_PORT
  value: {{ .Values.service.port | quote }}
- name: ALERTING_PUBLIC_URL
  value: {{ include "alerting.publicUrl" . | quote }}
- name: ALERTING_POLICY
  value: /etc/alerting/policy/policy.toml
- name: ALERTING_MIGRATE_ON_START
  value: "false"
- name: ALERTING_WORKER_PROCESS
  value: "false"
{{ include "alerting.secretEnv" (dict "ctx" . "name" "ALERTING_LINK_SECRET" "key" .Values.secretKeys.linkSecret "optional" true) }}
{{ include "alerting.secretEnv" (dict "ctx" . "name" "ALERTING_KEY_ENCRYPTION_KEY" "key" .Values.secretKeys.keyEncryptionKey "optional" true) }}
- name: ALERTING_KAFKA_BOOTSTRAP_SERVERS
  value: {{ $kafka.bootstrapServers | quote }}
- name: ALERTING_KAFKA_TOPIC
  value: {{ $kafka.topic | quote }}
- name: ALERTING_KAFKA_DLQ_TOPIC
  value: {{ $kafka.dlqTopic | quote }}
- name: ALERTING_KAFKA_GROUP_ID
  value: {{ $kafka.groupId | quote }}
- name: ALERTING_KAFKA_REPLICATION_FACTOR
  value: {{ $kafka.replicationFactor | quote }}
- name: ALERTING_KAFKA_MIN_INSYNC_REPLICAS
  value: {{ $kafka.minInsyncReplicas | quote }}
- name: ALERTING_KAFKA_SECURITY_PROTOCOL
  value: {{ $kafka.securityProtocol | quote }}
{{- if include "alerting.kafkaUsesSasl" . }}
- name: ALERTING_KAFKA_SASL_MECHANISM
  value: {{ $kafka.saslMechanism | quote }}
{{- if include "alerting.kafkaUsesOauth" . }}
- name: ALERTING_KAFKA_OAUTH_TOKEN_FILE
  value: /var/run/secrets/kafka-oauth/token
{{- else }}
- name: ALERTING_KAFKA_SASL_USERNAME
  value: {{ required "externalKafka.saslUsername 未设置 / is required with SASL_* and a mechanism other than OAUTHBEARER" $kafka.saslUsername | quote }}
{{ include "alerting.secretEnv" (dict "ctx" . "name" "ALERTING_KAFKA_SASL_PASSWORD" "key" .Values.secretKeys.kafkaSaslPassword "optional" false) }}
{{- end }}
{{- end }}
{{- if $kafka.tls.existingSecret }}
{{- if not (hasSuffix "SSL" $kafka.securityProtocol) }}
{{- fail (printf "externalKafka.tls.existingSecret 已设置，但 externalKafka.securityProtocol=%s 不使用 TLS / externalKafka.tls.existingSecret needs securityProtocol SSL or SASL_SSL" $kafka.securityProtocol) }}
{{- end }}
- name: ALERTING_KAFKA_SSL_CAFILE
  value: /etc/alerting/kafka-tls/{{ $kafka.tls.caKey }}
{{- if $kafka.tls.certKey }}
- name: ALERTING_KAFKA_SSL_CERTFILE
  value: /etc/alerting/kafka-tls/{{ $kafka.tls.certKey }}
- name: ALERTING_KAFKA_SSL_KEYFILE
  value: /etc/alerting/kafka-tls/{{ required "externalKafka.tls.keyKey 未设置 / is required with externalKafka.tls.certKey" $kafka.tls.keyKey }}
{{- end }}
{{- end }}
{{- range $name, $value := .Values.env }}
- name: {{ $name }}
  value: {{ $value | quote }}
{{- end }}
{{- end -}}

{{- define "alerting.envFrom" -}}
{{- if .Values.channelSecret }}
envFrom:
  - secretRef:
      name: {{ .Values.channelSecret }}
{{- end }}
{{- end -}}

{{- define "alerting.volumeMounts" -}}
- name: policy
  mountPath: /etc/alerting/policy
  readOnly: true
# The only place the service writes: temporary files (XLSX exports are assembled in one).
- name: tmp
  mountPath: /tmp
{{- if .Values.externalPostgresql.tls.existingSecret }}
- name: postgresql-tls
  mountPath: /etc/alerting/postgresql-tls
  readOnly: true
{{- end }}
{{- if .Values.externalKafka.tls.existingSecret }}
- name: kafka-tls
  mountPath: /etc/alerting/kafka-tls
  readOnly: true
{{- end }}
{{- if include "alerting.kafkaUsesOauth" . }}
- name: kafka-oauth
  mountPath: /var/run/secrets/kafka-oauth
  readOnly: true
{{- end }}
{{- end -}}

{{- define "alerting.volumes" -}}
- name: policy
  configMap:
    name: {{ include "alerting.configMapName" . }}
- name: tmp
  emptyDir:
    sizeLimit: 1Gi
{{- if .Values.externalPostgresql.tls.existingSecret }}
- name: postgresql-tls
  secret:
    secretName: {{ .Values.externalPostgresql.tls.existingSecret }}
    defaultMode: 0440
{{- end }}
{{- if .Values.externalKafka.tls.existingSecret }}
- name: kafka-tls
  secret:
    secretName: {{ .Values.externalKafka.tls.existingSecret }}
    defaultMode: 0440
{{- end }}
{{- if include "alerting.kafkaUsesOauth" . }}
- name: kafka-oauth
  projected:
    sources:
      - serviceAccountToken:
          path: token
          audience: {{ .Values.externalKafka.oauth.audience }}
          expirationSeconds: {{ .Values.externalKafka.oauth.expirationSeconds }}
{{- end }}
{{- end -}}

{{/* Pod annotations that roll the pods when the policy, the roster or the chart's Secret change. */}}
{{- define "alerting.checksums" -}}
{{- if not .Values.existingConfigMap }}
checksum/config: {{ include (print $.Template.BasePath "/configmap.yaml") . | sha256sum }}
{{- end }}
{{- if not .Values.existingSecret }}
checksum/secret: {{ include (print $.Template.BasePath "/secret.yaml") . | sha256sum }}
{{- end }}
{{- end -}}

{{- define "alerting.probes" -}}
{{- $p := .Values.probes -}}
startupProbe:
  httpGet: {path: /healthz, port: http}
  periodSeconds: {{ $p.startup.periodSeconds }}
  failureThreshold: {{ $p.startup.failureThreshold }}
  timeoutSeconds: {{ $p.startup.timeoutSeconds }}
livenessProbe:
  httpGet: {path: /healthz, port: http}
  periodSeconds: {{ $p.liveness.periodSeconds }}
  failureThreshold: {{ $p.liveness.failureThreshold }}
  timeoutSeconds: {{ $p.liveness.timeoutSeconds }}
readinessProbe:
  httpGet: {path: /readyz, port: http}
  periodSeconds: {{ $p.readiness.periodSeconds }}
  failureThreshold: {{ $p.readiness.failureThreshold }}
  timeoutSeconds: {{ $p.readiness.timeoutSeconds }}
{{- end -}}

{{- define "alerting.podSpecCommon" -}}
serviceAccountName: {{ include "alerting.serviceAccountName" . }}
automountServiceAccountToken: false
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- with .Values.image.pullSecrets }}
imagePullSecrets:
  {{- range . }}
  - name: {{ . }}
  {{- end }}
{{- end }}
{{- end -}}
