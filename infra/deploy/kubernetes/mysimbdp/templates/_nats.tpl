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
}

authorization {
  users: [
    # The platform's own parts: every right.
    {user: mysimbdp, password: $MYSIMBDP_NATS_PASSWORD}
    {{- range $tenant, $hash := $v.tenants }}
    {{- if not (regexMatch "^[a-z0-9][a-z0-9-]*$" $tenant) }}{{ fail (printf "nats.tenants: %q is not a tenant name" $tenant) }}{{ end }}
    # Tenant {{ $tenant }}: its own records in, its own replies and reports out.
    {
      user: "tenant-{{ $tenant }}"
      password: {{ $hash | quote }}
      permissions: {
        publish: { allow: ["ingest.{{ $tenant }}.>"] }
        subscribe: { allow: ["_INBOX_{{ $tenant }}.>", "mysimbdp.reports.{{ $tenant }}", "mysimbdp.reports.{{ $tenant }}.>"] }
      }
    }
    {{- end }}
  ]
}
{{- end -}}
