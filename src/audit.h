/* The append-only, hash-chained audit log: canonical row text, SHA-256 chain,
 * appends inside the caller's transaction, denied-request records, verification. */
#ifndef GW_AUDIT_H
#define GW_AUDIT_H

#include <stddef.h>
#include <libpq-fe.h>
#include <json-c/json.h>

struct gw_app;
struct gw_identity;
struct http_request;

/* prev_hash of the first row. */
#define AUDIT_GENESIS_HASH "0000000000000000000000000000000000000000000000000000000000000000"

struct audit_entry {
    const char *action;        /* "server.register", "server.delete", "request.denied", ... */
    const char *outcome;       /* "success" | "denied" | "failure" */
    const char *actor_user, *actor_tenant;  /* may be NULL (anonymous) */
    const char *target_type, *target_id, *tenant_id; /* tenant the row belongs to (NULL = shared/platform) */
    const char *request_id;
    struct json_object *detail; /* borrowed; never secrets */
};

/* A stored row as the hash sees it: every column the chain protects. */
struct audit_row {
    long long id;
    const char *ts;            /* UTC, microseconds: 2026-12-01T00:46:05.123456Z */
    const char *action, *outcome, *actor_user, *actor_tenant, *tenant_id;
    const char *target_type, *target_id, *request_id;
    const char *detail_canonical;
};

/* The detail as canonical JSON (sorted keys, no white space, fixed number
 * forms; see audit.c) into a malloc'd string; NULL detail is "{}". Returns
 * NULL with err for what PostgreSQL's jsonb or the canonical form cannot hold
 * (NaN, infinity, NUL in a string, nesting deeper than 32). */
char *audit_canonical_detail(struct json_object *detail, char *err, size_t n);
/* The canonical row text the hash covers, malloc'd, length in *len. */
char *audit_canonical_row(const struct audit_row *row, size_t *len);
/* hex SHA-256 of prev_hash (64 hex characters) followed by the canonical row. */
void audit_row_hash(const char *prev_hash, const struct audit_row *row, char out[65]);

/* Append inside the caller's open transaction on pg (serialises the chain with a transaction-level
 * advisory lock; the row's hash covers the previous hash and its canonical content). 0 or -1 with err.
 * The transaction must be READ COMMITTED, so that the head read after the lock
 * sees the row its predecessor committed. */
int audit_append(PGconn *pg, const struct audit_entry *e, char *err, size_t n);
/* Append in a short transaction of its own (2 s statement timeout) on the
 * responder's connection, reconnecting once when that connection died: for
 * changes that are not made in PostgreSQL. 0 or -1 with err. */
int audit_append_own(struct gw_app *app, const struct audit_entry *e, char *err, size_t n);
/* The same for count entries chained in order: one lock, one head read and
 * one insert for all of them. */
int audit_append_many(PGconn *pg, const struct audit_entry *es, int count, char *err, size_t n);
/* Convenience for a denied request: own short transaction. */
int audit_denied(struct gw_app *app, const struct http_request *r, const struct gw_identity *who, int status, const char *reason);

struct audit_verdict {
    int ok;                    /* 1: every row links and matches its hash */
    long long rows;            /* rows checked */
    long long last_id;         /* last row checked (0 when empty) */
    char head_hash[65];        /* hash of that row (the genesis hash when empty) */
    long long broken_id;       /* first broken row when !ok */
    char reason[256];
};
/* Walk the whole chain in id order. 0 with the verdict, -1 with err when the
 * walk itself failed (database error). */
int audit_verify(PGconn *pg, struct audit_verdict *v, char *err, size_t n);

#endif
