-- Quality gates (src/gates.c): every run of pre_deployment, post_deployment or
-- security_validation, with one result per check in the order they ran:
-- [{check, severity, status, detail, duration_ms, delegated_to}]. A run is
-- written once, when it ends; its audit row is written in the same transaction.
CREATE TABLE gate_runs (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    gate         text NOT NULL CHECK (gate IN ('pre_deployment', 'post_deployment', 'security_validation')),
    status       text NOT NULL CHECK (status IN ('passed', 'failed', 'error')),
    started_at   timestamptz NOT NULL,
    finished_at  timestamptz NOT NULL,
    triggered_by text NOT NULL,                 -- user id, or "cli" for mcp-gateway gate
    tenant_id    text,                          -- the caller's tenant; NULL = platform (CLI)
    results      jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(results) = 'array')
);
CREATE INDEX gate_runs_gate_started ON gate_runs (gate, started_at DESC);
CREATE INDEX gate_runs_tenant_started ON gate_runs (tenant_id, started_at DESC);
