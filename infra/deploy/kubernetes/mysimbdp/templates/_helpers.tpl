{{/* Names: every object is <release>-<part>, e.g. mysimbdp-nats. */}}
{{- define "mysimbdp.name" -}}
{{- printf "%s-%s" .root.Release.Name .part | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "mysimbdp.labels" -}}
app.kubernetes.io/name: {{ .part }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/part-of: mysimbdp
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version }}
{{- end -}}

{{- define "mysimbdp.selector" -}}
app.kubernetes.io/name: {{ .part }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- end -}}

{{/*
mysimbdp.secretValue: the value given, else the one already stored in
the Secret (so an upgrade keeps it), else a new random one.
Arguments: root, secret (name), key, given.
*/}}
{{- define "mysimbdp.secretValue" -}}
{{- if .given -}}
{{- .given -}}
{{- else -}}
{{- $old := lookup "v1" "Secret" .root.Release.Namespace .secret -}}
{{- if and $old $old.data (hasKey $old.data .key) -}}
{{- index $old.data .key | b64dec -}}
{{- else -}}
{{- randAlphaNum 32 -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The NATS URL (no credentials) the platform's parts use. */}}
{{- define "mysimbdp.natsURL" -}}
{{- if .Values.nats.enabled -}}
{{- printf "%s://%s.%s:%v" (ternary "tls" "nats" .Values.tls.enabled) (include "mysimbdp.name" (dict "root" . "part" "nats")) .Release.Namespace .Values.nats.clientPort -}}
{{- else -}}
{{- required "nats.external.url is required when nats.enabled is false" .Values.nats.external.url -}}
{{- end -}}
{{- end -}}

{{/*
mysimbdp.jsReplicas: how many NATS servers keep each of the platform's
streams and KV buckets (MYSIMBDP_JS_REPLICAS): nats.jetstream.replicas if
given, else every server of the chart's NATS up to 3, else 1.
*/}}
{{- define "mysimbdp.jsReplicas" -}}
{{- if .Values.nats.jetstream.replicas -}}
{{- .Values.nats.jetstream.replicas -}}
{{- else if .Values.nats.enabled -}}
{{- min (int .Values.nats.replicas) 3 -}}
{{- else -}}
1
{{- end -}}
{{- end -}}

{{/*
mysimbdp.natsPassword: the platform NATS user's password, chosen once per
render (the Secret and MinIO's settings must carry the same one, also when
it is a new random one).
*/}}
{{- define "mysimbdp.natsPassword" -}}
{{- if not (hasKey .Values "_natsPassword") -}}
{{- $p := include "mysimbdp.secretValue" (dict "root" . "secret" (include "mysimbdp.name" (dict "root" . "part" "nats-auth")) "key" "nats-password" "given" .Values.nats.auth.platformPassword) -}}
{{- $_ := set .Values "_natsPassword" $p -}}
{{- end -}}
{{- get .Values "_natsPassword" -}}
{{- end -}}

{{/*
mysimbdp.mongoSecret: the Secret with the platform's MongoDB URI (key
MYSIMBDP_MONGO_URI): mongodb.existingSecret, else the chart's own when
mongodb.uri is given, else empty.
*/}}
{{- define "mysimbdp.mongoSecret" -}}
{{- if .Values.mongodb.existingSecret -}}
{{- .Values.mongodb.existingSecret -}}
{{- else if .Values.mongodb.uri -}}
{{- include "mysimbdp.name" (dict "root" . "part" "mongodb") -}}
{{- end -}}
{{- end -}}

{{/*
mysimbdp.console: "true" when the connector serves the dashboard:
console.enabled, and a MongoDB to read (the dashboard's stats windows and
files are there).
*/}}
{{- define "mysimbdp.console" -}}
{{- if and .Values.console.enabled (include "mysimbdp.mongoSecret" .) -}}
true
{{- end -}}
{{- end -}}
