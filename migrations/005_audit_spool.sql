-- Tool calls reach audit_log through a spool drained by the monitor process
-- (src/audit_spool.c). Every spooled record carries a random spool id; this
-- table holds the id of every record already in audit_log, inserted in the
-- same transaction as the row, so that a record read twice (a monitor that
-- died between COMMIT and acknowledging it, one record in the stream and in
-- the fallback file) is written once. audit_log itself is unchanged: its
-- append-only triggers and its chain are as before.
CREATE TABLE audit_spool_applied (
    spool_id   text PRIMARY KEY CHECK (spool_id ~ '^[0-9a-f]{16,64}$'),
    applied_at timestamptz NOT NULL DEFAULT now()
);

-- Append-only like the log it guards: a removed id would let its record be
-- written a second time.
CREATE TRIGGER audit_spool_applied_no_update BEFORE UPDATE OR DELETE ON audit_spool_applied
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_spool_applied_no_truncate BEFORE TRUNCATE ON audit_spool_applied
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();

-- Tool-call rows by request id (the audit routes filter by action already).
CREATE INDEX audit_log_request_id ON audit_log (request_id);
