// Package grafana holds mysimbdp.json, the Grafana dashboard of the
// gateway's metrics (the OpenFaaS names: gateway_*, on /metrics), the
// connector's (mysimbdp_connector_*, on /connector/metrics locally, labelled
// function_name as the gateway's) and the per-tenant gauges
// (mysimbdp_tenant_*, mysimbdp_function_backlog, beside the connector's).
// The gauges are taken with max by their labels: on a cluster every
// connector replica reports the same values.
// Its test checks that every metric a panel queries is one the code
// registers, so the two stay in step.
package grafana
