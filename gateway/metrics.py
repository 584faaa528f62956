"""Prometheus metrics of the gateway beyond the standard gRPC server ones."""

from prometheus_client import Counter, Gauge, Histogram

from common.metrics import LATENCY_BUCKETS

UPSTREAM_CALLS = Counter(
    "vipro_gateway_upstream_calls_total",
    "Calls forwarded to service instances, by instance, method and status code.",
    ["instance", "grpc_service", "grpc_method", "grpc_code"],
)
UPSTREAM_SECONDS = Histogram(
    "vipro_gateway_upstream_seconds",
    "Latency of forwarded calls per instance, seconds.",
    ["instance"],
    buckets=LATENCY_BUCKETS,
)
UPSTREAM_IN_FLIGHT = Gauge(
    "vipro_gateway_upstream_in_flight", "Calls in flight per instance.", ["instance"]
)
RETRIES = Counter(
    "vipro_gateway_retries_total",
    "Idempotent calls retried on another instance after UNAVAILABLE.",
    ["capability"],
)
EJECTED = Gauge(
    "vipro_gateway_instance_ejected", "1 while an instance is ejected as an outlier.", ["instance"]
)
INSTANCE_EJECTIONS = Counter(
    "vipro_gateway_instance_ejections_total", "Outlier ejections per instance.", ["instance"]
)
TENANT_CALLS = Counter(
    "vipro_tenant_calls_total", "Calls per tenant and status code.", ["tenant", "grpc_code"]
)
RATE_LIMITED = Counter(
    "vipro_rate_limited_total", "Calls refused by a tenant's rate limit.", ["tenant"]
)
JOBS = Gauge("vipro_jobs", "Jobs by state (queue depth is state=queued).", ["state"])
JOBS_FINISHED = Counter(
    "vipro_jobs_finished_total", "Jobs that reached a final state.", ["capability", "state"]
)
ASSET_BYTES = Counter(
    "vipro_asset_bytes_total", "Asset bytes uploaded and downloaded.", ["tenant", "direction"]
)
REGISTERED_INSTANCES = Gauge(
    "vipro_registry_instances", "Registered instances by health.", ["healthy"]
)
