-- Registry core: tenants' upstream servers, their tool catalog, and the
-- append-only, hash-chained audit log that every mutation writes to.
CREATE TABLE servers (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id       text,                       -- NULL: shared with every tenant
    name            text NOT NULL CHECK (name ~ '^[a-z0-9][a-z0-9-]{0,47}$'),
    url             text NOT NULL,
    transport       text NOT NULL DEFAULT 'streamable-http',
    description     text NOT NULL DEFAULT '',
    tags            text[] NOT NULL DEFAULT '{}',
    agent_roles     text[] NOT NULL DEFAULT '{}',
    required_roles  text[] NOT NULL DEFAULT '{}',
    max_concurrency integer NOT NULL DEFAULT 16 CHECK (max_concurrency > 0),
    timeout_ms      integer NOT NULL DEFAULT 30000 CHECK (timeout_ms > 0),
    auth_type       text NOT NULL DEFAULT 'none',
    auth_secret     bytea,                      -- AES-256-GCM sealed credentials
    status          text NOT NULL DEFAULT 'active',
    version         integer NOT NULL DEFAULT 1, -- optimistic concurrency
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
-- One name per tenant, and shared names unique among shared servers.
CREATE UNIQUE INDEX servers_tenant_name ON servers (COALESCE(tenant_id, ''), name);

CREATE TABLE server_tools (
    server_id     uuid NOT NULL REFERENCES servers(id) ON DELETE CASCADE,
    name          text NOT NULL,
    description   text NOT NULL DEFAULT '',
    input_schema  jsonb NOT NULL DEFAULT '{}',
    schema_hash   text NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (server_id, name)
);

CREATE TABLE audit_log (
    seq         bigserial PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    request_id  text NOT NULL,
    tenant_id   text,
    user_id     text,
    action      text NOT NULL,
    target      text,
    outcome     text NOT NULL,
    detail      jsonb NOT NULL DEFAULT '{}',
    prev_hash   text NOT NULL,
    hash        text NOT NULL
);
CREATE INDEX audit_log_tenant_at ON audit_log (tenant_id, at);

-- Append-only: the audit log refuses updates and deletes.
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only';
END $$;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
