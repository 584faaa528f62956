"""Headers of mesh-internal calls (gateway -> service, service -> gateway).

The gateway authenticates tenants by API key and tells services who the caller is in
`x-vipro-tenant`. Services call back (assets, job progress, registry) with the mesh's internal
token in `x-vipro-internal-token` and the tenant they act for. Service ports must therefore not
be reachable from outside the mesh (see README, "Security").
"""

TENANT_HEADER = "x-vipro-tenant"
INTERNAL_TOKEN_HEADER = "x-vipro-internal-token"
JOB_HEADER = "x-vipro-job-id"
API_KEY_HEADER = "x-api-key"
VERSION_HEADER = "vipro-version"
STAGE_HEADER = "vipro-stage"
