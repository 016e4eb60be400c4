{{- define "artimeta.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "artimeta.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "artimeta.selectorLabels" -}}
app.kubernetes.io/name: {{ include "artimeta.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "artimeta.labels" -}}
{{ include "artimeta.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "artimeta.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "artimeta.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "artimeta.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{- define "artimeta.secretName" -}}
{{- default (include "artimeta.fullname" .) .Values.secret.existingSecret -}}
{{- end -}}

{{/* Environment shared by the server and the migration Job. */}}
{{- define "artimeta.envFrom" -}}
- configMapRef:
    name: {{ include "artimeta.fullname" . }}
{{- if or .Values.secret.create .Values.secret.existingSecret }}
- secretRef:
    name: {{ include "artimeta.secretName" . }}
{{- end }}
{{- end -}}

{{- define "artimeta.secretEnv" -}}
{{- range .Values.secretEnv }}
- name: {{ .name }}
  valueFrom:
    secretKeyRef:
      name: {{ .secretKeyRef.name }}
      key: {{ .secretKeyRef.key }}
{{- end }}
{{- end -}}

{{/* Non-empty when readiness asks the HTTP /healthz (the kubelet cannot do mutual TLS). */}}
{{- define "artimeta.httpReadiness" -}}
{{- if and .Values.http.enabled .Values.http.readinessProbe (not (and .Values.tls.enabled .Values.tls.clientCASecretName)) -}}
true
{{- end -}}
{{- end -}}

{{- define "artimeta.testImage" -}}
{{- if .Values.test.image.digest -}}
{{- printf "%s@%s" .Values.test.image.repository .Values.test.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.test.image.repository .Values.test.image.tag -}}
{{- end -}}
{{- end -}}

{{/* The helm test pod's labels: apart from the server's selector (see templates/tests/). */}}
{{- define "artimeta.testSelectorLabels" -}}
app.kubernetes.io/name: {{ include "artimeta.name" . }}-test
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: helm-test
{{- end -}}

{{- define "artimeta.testLabels" -}}
{{ include "artimeta.testSelectorLabels" . }}
app.kubernetes.io/part-of: {{ include "artimeta.name" . }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}
