/* What the orchestration files share and nobody else needs: errors, the
 * database connection, statements and audited writes. */
#ifndef GW_ORCH_INT_H
#define GW_ORCH_INT_H

#include <libpq-fe.h>
#include <json-c/json.h>

#include "orch.h"

/* Fill e; always -1, so that `return orch_fail(...)` reads as the refusal. */
int orch_fail(struct orch_error *e, enum orch_code code, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* The responder's PostgreSQL connection, or NULL with e (unavailable). */
PGconn *orch_db(struct gw_app *app, struct orch_error *e);
PGresult *orch_sql(PGconn *c, const char *sql, int n, const char *const *p);
/* A statement that failed: logged with the server's message, e says what
 * could not be done (no SQL in it). Returns -1. */
int orch_db_fail(struct orch_error *e, PGresult *r, const char *what);
int orch_begin(PGconn *c, struct orch_error *e);
int orch_commit(PGconn *c, struct orch_error *e);
void orch_rollback(PGconn *c);
/* An audit row for who's change, in the open transaction on c. */
int orch_audit(PGconn *c, const struct gw_identity *who, const char *request_id, const char *action,
               const char *target_type, const char *target_id, struct json_object *detail,
               struct orch_error *e);
/* body is an object with no member but keys: 0, or -1 with e naming the stranger. */
int orch_only_keys(struct json_object *body, const char *const *keys, size_t n, struct orch_error *e);
/* The tenant a row of who's belongs to: NULL when who has none. */
const char *orch_tenant_of(const struct gw_identity *who);

#endif
