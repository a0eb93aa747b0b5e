{{/* The release's full name, at most 63 characters. */}}
{{- define "disttgl.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "disttgl.labels" -}}
app.kubernetes.io/name: disttgl-operator
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "disttgl.selector" -}}
app.kubernetes.io/name: disttgl-operator
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "disttgl.serviceAccount" -}}
{{- default (include "disttgl.fullname" .) .Values.serviceAccount.name -}}
{{- end -}}
