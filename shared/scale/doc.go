// Package scale is the scaler function's logic: for every function with
// OpenFaaS scaling labels it reads the work waiting for it (the backlog of
// its JetStream consumer) and how busy it was, decides how many replicas it
// should have, and sets them through the gateway's
// POST /system/scale-function/{name}, so it works against any
// OpenFaaS-compatible gateway.
//
// The labels: min and max as OpenFaaS names them (OpenFaaS honours them
// too), the others our own, which OpenFaaS Pro's autoscaler does not read:
//
//	com.openfaas.scale.min            fewest replicas while active (default 1)
//	com.openfaas.scale.max            most replicas (default 20)
//	com.mysimbdp.scale.target         backlog (records waiting or in flight) per replica (default 100)
//	com.mysimbdp.scale.zero           "true": scale to zero when idle
//	com.mysimbdp.scale.zero-duration  how long idle before zero (Go duration, default 15m)
//	com.mysimbdp.scale.stabilization  how long a lower count must be wanted before scaling down (default: the scaler's)
//
// The old names com.openfaas.scale.target, .zero and .zero-duration are
// still read (the new name wins when both are set), with a deprecation
// warning in the log.
//
// Desired replicas = ceil(expected backlog / target), where the expected
// backlog is the backlog now plus, when it grew since the last run, that
// growth again (the observed net arrival rate over one run's interval).
//
// Only functions carrying at least one com.openfaas.scale.* or
// com.mysimbdp.scale.* label are managed. A function's backlog is found
// through the JetStream consumer the connector made for it (its metadata
// names the function); a function without one (a batch function fed S3
// events) is held within min and max and scaled to zero when it has not
// been invoked for zero-duration.
//
// Whatever feeds it, a function is idle only while none of its
// invocations is in flight: one file can take longer than zero-duration,
// and finished invocations alone would call its function idle midway.
// The invocations in flight are read from Prometheus metrics (Inflight,
// MetricsInflight); while they cannot be read no function with replicas
// goes to zero.
//
// Decisions scale up at once and down only once every recommendation in
// the stabilisation window is lower (as Kubernetes' HPA does), so replicas
// do not flap. What the scaler remembers between runs (recommendations,
// last activity) lives in NATS KV bucket contract.ScalerBucket, so any
// replica of the scaler, or a restarted one, carries on.
package scale
