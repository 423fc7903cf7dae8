-- Registry, second step: what registration, listing, maintenance, health and
-- credential sealing need on servers, and the full catalog (tools, prompts, resources).

-- Sealed credentials: nonce(12) | ciphertext | tag(16) under the key named by
-- auth_key_id (the SHA-256 prefix of the key), bound to the server id.
ALTER TABLE servers
    ADD COLUMN maintenance         boolean NOT NULL DEFAULT false,
    ADD COLUMN auth_key_id         text,
    ADD COLUMN protocol_version    text NOT NULL DEFAULT '',
    ADD COLUMN server_info         jsonb NOT NULL DEFAULT '{}',
    ADD COLUMN capabilities        jsonb NOT NULL DEFAULT '{}',
    ADD COLUMN last_health_status  text,
    ADD COLUMN last_health_at      timestamptz,
    ADD COLUMN last_latency_ms     integer,
    ADD COLUMN last_refreshed_at   timestamptz,
    ADD CONSTRAINT servers_status_check CHECK (status IN ('active', 'unhealthy', 'unreachable')),
    ADD CONSTRAINT servers_auth_type_check
        CHECK (auth_type IN ('none', 'bearer', 'header', 'oauth_client_credentials')),
    ADD CONSTRAINT servers_sealed_check
        CHECK ((auth_type = 'none') = (auth_secret IS NULL) AND
               (auth_secret IS NULL) = (auth_key_id IS NULL));

-- Cursor order of the list (name, id) and its filters.
CREATE INDEX servers_name_id ON servers (name, id);
CREATE INDEX servers_tenant ON servers (tenant_id);
CREATE INDEX servers_tags ON servers USING gin (tags);
CREATE INDEX servers_agent_roles ON servers USING gin (agent_roles);

-- A server is reached as /servers/{name}/mcp by every tenant that sees it, so a
-- name is unique across what any one tenant sees: a shared name clashes with
-- every tenant's names, a tenant's name with the shared ones. The advisory
-- lock on the name serialises concurrent registrations of it.
CREATE FUNCTION servers_visible_name_unique() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('mcpgw.server-name:' || NEW.name));
    IF EXISTS (SELECT 1 FROM servers s
               WHERE s.name = NEW.name AND s.id <> NEW.id
                 AND (s.tenant_id IS NULL OR NEW.tenant_id IS NULL OR s.tenant_id = NEW.tenant_id)) THEN
        RAISE EXCEPTION 'server name % is already visible in this scope', NEW.name
            USING ERRCODE = 'unique_violation', CONSTRAINT = 'servers_visible_name';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER servers_visible_name BEFORE INSERT OR UPDATE OF name, tenant_id ON servers
    FOR EACH ROW EXECUTE FUNCTION servers_visible_name_unique();

ALTER TABLE server_tools
    ADD COLUMN title          text,
    ADD COLUMN output_schema  jsonb,
    ADD COLUMN annotations    jsonb,
    ADD COLUMN first_seen     timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN last_seen      timestamptz NOT NULL DEFAULT now();
CREATE INDEX server_tools_name ON server_tools (name);

CREATE TABLE server_prompts (
    server_id    uuid NOT NULL REFERENCES servers(id) ON DELETE CASCADE,
    name         text NOT NULL,
    title        text,
    description  text NOT NULL DEFAULT '',
    arguments    jsonb NOT NULL DEFAULT '[]',
    schema_hash  text NOT NULL,
    first_seen   timestamptz NOT NULL DEFAULT now(),
    last_seen    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (server_id, name)
);

CREATE TABLE server_resources (
    server_id    uuid NOT NULL REFERENCES servers(id) ON DELETE CASCADE,
    uri          text NOT NULL,
    name         text NOT NULL DEFAULT '',
    title        text,
    description  text NOT NULL DEFAULT '',
    mime_type    text,
    schema_hash  text NOT NULL,
    first_seen   timestamptz NOT NULL DEFAULT now(),
    last_seen    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (server_id, uri)
);
