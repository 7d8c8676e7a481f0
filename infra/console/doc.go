// Package console is the operator's web dashboard, served by the gateway
// at /ui/ behind the gateway's credentials: every tenant with its state,
// quota decision and pause flag and its rates over the last hour; every
// function with its backlog, replicas and the scaler's last
// recommendations; the recent files with their reports and quarantined
// rows; the dead letters. Pause, resume, replay and purge are buttons that
// run the same code as the CLI (infra/connector/control,
// infra/deadletter).
//
// Pages are rendered on the server (html/template) from embedded
// templates; the charts are small inline SVG sparklines drawn here, so
// the page needs nothing outside the platform. Each page reads its
// sources at once, each bounded by its own time limit, and shows what a
// source could not say rather than waiting for it.
//
// One file per handler, faasd style (MakeXHandler(deps)): overview.go,
// file.go, letter.go, pause.go, replay.go, purge.go, static.go.
// source.go reads the platform; csrf.go guards the POST actions (same
// origin and a token); metrics.go exports per-tenant backlog and rate
// gauges for Prometheus from the same reads.
package console
