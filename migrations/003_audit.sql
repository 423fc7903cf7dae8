-- The audit log in its final shape: actor and target split out, the canonical
-- text of the detail that the hash covers, indexes for the audit routes' filters.
--
-- 001 created audit_log; this renames its columns rather than recreating it,
-- so that rows already written are kept. Each row's hash is
-- SHA-256(prev_hash || canonical row text), computed by src/audit.c under a
-- transaction-level advisory lock; src/audit.c defines the canonical text.
ALTER TABLE audit_log RENAME COLUMN seq TO id;
ALTER TABLE audit_log RENAME COLUMN at TO ts;
ALTER TABLE audit_log RENAME COLUMN user_id TO actor_user;
ALTER TABLE audit_log RENAME COLUMN target TO target_id;
ALTER TABLE audit_log ADD COLUMN actor_tenant text;
ALTER TABLE audit_log ADD COLUMN target_type text;
-- Appends outside a request (CLI, monitor) have no request id.
ALTER TABLE audit_log ALTER COLUMN request_id DROP NOT NULL;
-- jsonb re-renders numbers and key order, so the hash covers this text (the
-- detail as canonicalized when the row was written); verify checks that
-- detail still equals it.
ALTER TABLE audit_log ADD COLUMN detail_canonical text NOT NULL DEFAULT '{}';
ALTER TABLE audit_log ALTER COLUMN detail_canonical DROP DEFAULT;
ALTER TABLE audit_log ADD CONSTRAINT audit_log_outcome
    CHECK (outcome IN ('success', 'denied', 'failure')) NOT VALID;
ALTER TABLE audit_log ADD CONSTRAINT audit_log_hashes
    CHECK (prev_hash ~ '^[0-9a-f]{64}$' AND hash ~ '^[0-9a-f]{64}$') NOT VALID;

-- One row per prev_hash: two appends that read the same head (a fork of the
-- chain) cannot both commit, whatever happens to the advisory lock.
CREATE UNIQUE INDEX audit_log_prev_hash ON audit_log (prev_hash);

-- Filters of GET /api/v1/audit; every listing walks id descending.
DROP INDEX IF EXISTS audit_log_tenant_at;
CREATE INDEX audit_log_tenant_id ON audit_log (tenant_id, id);
CREATE INDEX audit_log_action_id ON audit_log (action, id);
CREATE INDEX audit_log_actor_id ON audit_log (actor_user, id);
CREATE INDEX audit_log_target_id ON audit_log (target_id, id);
CREATE INDEX audit_log_ts ON audit_log (ts);

-- Append-only covers TRUNCATE too (001's trigger is per row).
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();

-- For verify: whether detail still equals the canonical text the hash covers
-- (false, not an error, when that text was tampered into invalid JSON).
CREATE FUNCTION audit_detail_matches(d jsonb, canonical text) RETURNS boolean
    LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    RETURN d = canonical::jsonb;
EXCEPTION WHEN others THEN
    RETURN false;
END $$;
