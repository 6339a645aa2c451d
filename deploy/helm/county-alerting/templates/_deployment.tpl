{{/*
One Deployment of the service; the API and the worker differ in ALERTING_COMPONENTS, their replica
settings and scheduling. Call with (dict "ctx" $ "component" "api" "components" "api" "values" .Values.api).
*/}}
{{- define "alerting.deployment" -}}
{{- $ctx := .ctx -}}
{{- $v := .values -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "alerting.fullname" $ctx }}-{{ .component }}
  labels:
    {{- include "alerting.labels" . | nindent 4 }}
spec:
  {{- if not (and $v.autoscaling $v.autoscaling.enabled) }}
  replicas: {{ $v.replicas }}
  {{- end }}
  revisionHistoryLimit: 5
  selector:
    matchLabels:
      {{- include "alerting.selectorLabels" . | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "alerting.labels" . | nindent 8 }}
        {{- with $v.podLabels }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      {{- $annotations := include "alerting.checksums" $ctx | trim }}
      {{- if or $annotations $v.podAnnotations }}
      annotations:
        {{- with $annotations }}
        {{- . | nindent 8 }}
        {{- end }}
        {{- with $v.podAnnotations }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      {{- end }}
    spec:
      {{- include "alerting.podSpecCommon" $ctx | nindent 6 }}
      terminationGracePeriodSeconds: {{ $ctx.Values.terminationGracePeriodSeconds }}
      containers:
        - name: {{ .component }}
          image: {{ include "alerting.image" $ctx }}
          imagePullPolicy: {{ $ctx.Values.image.pullPolicy }}
          command: ["alerting", "run"]
          ports:
            - name: http
              containerPort: {{ $ctx.Values.service.port }}
              protocol: TCP
          env:
            - name: ALERTING_COMPONENTS
              value: {{ .components | quote }}
            {{- include "alerting.serviceEnv" $ctx | nindent 12 }}
          {{- with include "alerting.envFrom" $ctx | trim }}
          {{- . | nindent 10 }}
          {{- end }}
          {{- include "alerting.probes" $ctx | nindent 10 }}
          resources:
            {{- toYaml $v.resources | nindent 12 }}
          securityContext:
            {{- toYaml $ctx.Values.securityContext | nindent 12 }}
          volumeMounts:
            {{- include "alerting.volumeMounts" $ctx | nindent 12 }}
      volumes:
        {{- include "alerting.volumes" $ctx | nindent 8 }}
      {{- with $v.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $v.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $v.affinity }}
      affinity:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $v.topologySpreadConstraints }}
      topologySpreadConstraints:
        {{- toYaml . | nindent 8 }}
      {{- end }}
{{- end -}}

{{/* A PodDisruptionBudget for one component; same arguments as alerting.deployment. */}}
{{- define "alerting.pdb" -}}
{{- $v := .values -}}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "alerting.fullname" .ctx }}-{{ .component }}
  labels:
    {{- include "alerting.labels" . | nindent 4 }}
spec:
  {{- if $v.pdb.maxUnavailable }}
  maxUnavailable: {{ $v.pdb.maxUnavailable }}
  {{- else }}
  minAvailable: {{ $v.pdb.minAvailable }}
  {{- end }}
  selector:
    matchLabels:
      {{- include "alerting.selectorLabels" . | nindent 6 }}
{{- end -}}
