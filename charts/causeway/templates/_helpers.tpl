{{/* The labels every object carries; `name` is the component's app.kubernetes.io/name. */}}
{{- define "causeway.labels" -}}
app.kubernetes.io/name: {{ .name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/part-of: causeway
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" }}
{{- end }}

{{/* The selector of a component's pods (immutable: never add to it). */}}
{{- define "causeway.selector" -}}
app.kubernetes.io/name: {{ .name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- end }}

{{/* The image tag: image.tag, else the chart's appVersion. */}}
{{- define "causeway.tag" -}}
{{- .Values.image.tag | default .Chart.AppVersion -}}
{{- end }}

{{- define "causeway.image" -}}
{{- printf "%s:%s" .Values.image.repository (include "causeway.tag" .) -}}
{{- end }}

{{- define "causeway.controllerImage" -}}
{{- printf "%s:%s" .Values.image.controllerRepository (include "causeway.tag" .) -}}
{{- end }}

{{/* imagePullSecrets, when any. */}}
{{- define "causeway.pullSecrets" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/*
Scheduling of a component: nodeSelector, tolerations, priorityClassName, and affinity (the
component's own affinity value, else pod anti-affinity over hostnames as podAntiAffinity says).
*/}}
{{- define "causeway.scheduling" -}}
{{- $c := .component -}}
{{- with $c.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $c.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $c.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- if $c.affinity }}
affinity:
  {{- toYaml $c.affinity | nindent 2 }}
{{- else if eq $c.podAntiAffinity "preferred" }}
affinity:
  podAntiAffinity:
    preferredDuringSchedulingIgnoredDuringExecution:
      - weight: 100
        podAffinityTerm:
          topologyKey: kubernetes.io/hostname
          labelSelector:
            matchLabels:
              {{- include "causeway.selector" . | nindent 14 }}
{{- else if eq $c.podAntiAffinity "required" }}
affinity:
  podAntiAffinity:
    requiredDuringSchedulingIgnoredDuringExecution:
      - topologyKey: kubernetes.io/hostname
        labelSelector:
          matchLabels:
            {{- include "causeway.selector" . | nindent 12 }}
{{- end }}
{{- end }}

{{/*
The name of a cluster-scoped object (ClusterRole, ClusterRoleBinding): `name` plus
clusterScopedSuffix, so that two releases in one cluster do not share them.
*/}}
{{- define "causeway.clusterName" -}}
{{- printf "%s%s" .name .root.Values.clusterScopedSuffix -}}
{{- end }}
