-- Least-privilege PostgreSQL roles for the gateway: the owner runs
-- `mcp-gateway migrate`, the responders connect as the application role.
--
--   psql -v owner=mcpgw_owner -v app=mcpgw_app -v db=mcpgw -f roles.sql
--
-- Run as a superuser once; set passwords afterwards with \password. The owner
-- owns the schema and its tables; the application role may read and write rows
-- (audit_log only INSERT and SELECT: it is append-only) and nothing else: no
-- DDL, no TRUNCATE, no other database.
SELECT format('CREATE ROLE %I LOGIN', :'owner')
WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'owner') \gexec
SELECT format('CREATE ROLE %I LOGIN', :'app')
WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'app') \gexec
SELECT format('ALTER DATABASE %I OWNER TO %I', :'db', :'owner') \gexec
\connect :db
REVOKE ALL ON SCHEMA public FROM PUBLIC;
ALTER SCHEMA public OWNER TO :"owner";
REVOKE ALL ON DATABASE :"db" FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE :"db" TO :"owner", :"app";
GRANT USAGE ON SCHEMA public TO :"app";
-- Tables created by later migrations get the same rights.
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA public
	GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO :"app";
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA public
	GRANT USAGE, SELECT ON SEQUENCES TO :"app";
-- Tables that exist already (when the owner ran migrations before this file).
SELECT format('ALTER TABLE %I.%I OWNER TO %I', schemaname, tablename, :'owner')
FROM pg_tables WHERE schemaname = 'public' \gexec
SELECT format('GRANT SELECT, INSERT, UPDATE, DELETE ON %I.%I TO %I', schemaname, tablename, :'app')
FROM pg_tables WHERE schemaname = 'public' \gexec
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO :"app";
-- The audit log is append-only for the application (the trigger refuses too).
SELECT format('REVOKE UPDATE, DELETE, TRUNCATE ON public.audit_log FROM %I', :'app')
WHERE to_regclass('public.audit_log') IS NOT NULL \gexec
