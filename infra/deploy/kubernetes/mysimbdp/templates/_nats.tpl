{{- define "mysimbdp.natsConf" -}}
{{- $v := .Values.nats -}}
server_name: $POD_NAME
listen: 0.0.0.0:{{ $v.clientPort }}
http: 0.0.0.0:{{ $v.monitorPort }}
pid_file: /var/run/nats/nats.pid
max_payload: {{ $v.maxPayload }}
# Clients move to the other servers before this one stops.
lame_duck_duration: 30s
lame_duck_grace_period: 10s

{{- if .Values.tls.enabled }}

# TLS on the client port: clients verify the server; they log in with
# passwords, no client certificate is asked for.
tls {
  cert_file: /etc/nats-tls/tls.crt
  key_file: /etc/nats-tls/tls.key
  ca_file: /etc/nats-tls/ca.crt
  timeout: 5
}
{{- end }}

jetstream {
  store_dir: /data/jetstream
  max_file_store: {{ $v.jetstream.maxFileStore }}
  max_memory_store: {{ $v.jetstream.maxMemoryStore }}
}

cluster {
  name: {{ include "mysimbdp.name" (dict "root" . "part" "nats") }}
  listen: 0.0.0.0:{{ $v.clusterPort }}
  authorization {
    user: route
    password: $ROUTE_PASSWORD
  }
  # Built in the pod's environment from ROUTE_PASSWORD (a variable cannot
  # be written inside a string here).
  routes: [
    {{- range $i := until (int $v.replicas) }}
    $ROUTE_URL_{{ $i }}
    {{- end }}
  ]
  connect_retries: 120
  {{- if .Values.tls.enabled }}
  # TLS on the routes: nats-server makes each side verify the other's
  # certificate against ca_file (a route is both client and server).
  tls {
    cert_file: /etc/nats-tls/tls.crt
    key_file: /etc/nats-tls/tls.key
    ca_file: /etc/nats-tls/ca.crt
    timeout: 5
  }
  {{- end }}
}

# Every tenant in an account of its own (infra/natsauth renders the same
# for the local platform): the platform's streams, KV buckets and reports
# in MYSIMBDP, which exports to each tenant exactly its records and
# reports; a tenant's replies and acks stay in its own account.
accounts {
  MYSIMBDP: {
    jetstream: enabled
    users: [
      # The platform's own parts: every right.
      {user: mysimbdp, password: $MYSIMBDP_NATS_PASSWORD}
    ]
    exports: [
      {{- range $tenant, $h := $v.tenants }}
      {{- if not (regexMatch "^[a-z0-9][a-z0-9-]*$" $tenant) }}{{ fail (printf "nats.tenants: %q is not a tenant name" $tenant) }}{{ end }}
      # tenant {{ $tenant }}
      {service: "ingest.{{ $tenant }}.>", accounts: ["TENANT_{{ $tenant }}"]}
      {{- range $s := list (printf "mysimbdp.reports.%s" $tenant) (printf "mysimbdp.reports.%s.>" $tenant) }}
      {service: {{ $s | quote }}, accounts: ["TENANT_{{ $tenant }}"]}
      {stream: {{ $s | quote }}, accounts: ["TENANT_{{ $tenant }}"]}
      {{- end }}
      {{- end }}
    ]
  }
  {{- range $tenant, $h := $v.tenants }}
  {{- /* A bare string is the clients' hash, as values set it before tenants' functions had a user. */ -}}
  {{- $client := $h }}{{ $functions := "" }}
  {{- if kindIs "map" $h }}{{ $client = required (printf "nats.tenants.%s.client" $tenant) $h.client }}{{ $functions = $h.functions | default "" }}{{ end }}
  # Tenant {{ $tenant }}: its own records in, its own replies and reports out.
  TENANT_{{ $tenant }}: {
    users: [
      {user: "tenant-{{ $tenant }}", password: {{ $client | quote }}, permissions: {publish: {allow: ["ingest.{{ $tenant }}.>"]}, subscribe: {allow: ["_INBOX.>", "_INBOX_{{ $tenant }}.>", "mysimbdp.reports.{{ $tenant }}", "mysimbdp.reports.{{ $tenant }}.>"]}}}
      {{- if $functions }}
      # Its functions: publish its reports, nothing else.
      {user: "fn-{{ $tenant }}", password: {{ $functions | quote }}, permissions: {publish: {allow: ["mysimbdp.reports.{{ $tenant }}", "mysimbdp.reports.{{ $tenant }}.>"]}, subscribe: {allow: ["_INBOX.>"]}}}
      {{- end }}
    ]
    imports: [
      {service: {account: MYSIMBDP, subject: "ingest.{{ $tenant }}.>"}}
      {{- range $s := list (printf "mysimbdp.reports.%s" $tenant) (printf "mysimbdp.reports.%s.>" $tenant) }}
      {service: {account: MYSIMBDP, subject: {{ $s | quote }}}}
      {stream: {account: MYSIMBDP, subject: {{ $s | quote }}}}
      {{- end }}
    ]
  }
  {{- end }}
}
{{- end -}}
