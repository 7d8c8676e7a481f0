// Package kubernetes holds mysimbdp's Helm chart (mysimbdp/), the values
// for the OpenFaaS and MinIO charts beside it, and the Dockerfiles of the
// connector and the CLI. It has no code: its tests render the chart with
// bin/helm (built by scripts/setup), decode every object strictly into the
// Kubernetes API types, and check that the chart and the code agree on
// every name they share (environment variables, ports, secrets, subjects,
// NATS users, timeouts). No cluster is needed.
package kubernetes
