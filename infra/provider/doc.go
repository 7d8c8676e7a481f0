// Package provider is mysimbdp's local OpenFaaS provider: it serves the
// faas-provider REST API (/system/*, /function/*, /healthz, /metrics) and
// the gateway's /async-function/*, and runs every function replica as a
// child process of its own, on its own loopback port, instead of as a
// container.
//
// The pieces, one file each:
//
//   - router.go wires the routes exactly as faas-provider's bootstrap.Serve
//     does, but on a router owned by the Provider, with basic auth on /system.
//   - deploy.go, update.go, delete.go, list.go, status.go, scale.go, info.go,
//     secrets.go, logs.go, namespaces.go, health.go, telemetry.go and
//     metrics.go hold one Make*Handler each.
//   - proxy.go is the invocation path: it balances over ready replicas,
//     streams bodies both ways and scales a function up from zero.
//   - async.go accepts /async-function/ calls, stored through a Publisher
//     (JetStream) for the connector to run, answered 202.
//   - function.go keeps a function's replica pool; replica.go supervises one
//     replica process (start, readiness, restart with backoff, drain, stop).
//   - logbuf.go captures replica output into a bounded per-function ring.
//   - state.go persists deployments and namespaces so a restart re-creates
//     them.
//
// Images are executables laid out by package images; a replica speaks the
// shared/fnrun contract (env port/host, /_/health, /_/ready, SIGTERM drain).
package provider
