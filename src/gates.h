/* Quality gates: pre_deployment, post_deployment and security_validation, each
 * a table of checks that probe the running system; runs stored in gate_runs. */
#ifndef GW_GATES_H
#define GW_GATES_H

#include <stddef.h>
#include <json-c/json.h>

#include "auth_dev.h"

struct gw_app;
struct gw_identity;

enum gate_severity { GATE_SEV_CRITICAL, GATE_SEV_MAJOR, GATE_SEV_MINOR };
enum gate_check_status { GATE_CHECK_PASSED, GATE_CHECK_FAILED, GATE_CHECK_ERROR, GATE_CHECK_SKIPPED };

/* What one gate run probes with: the public URLs of both planes (through the
 * web server), the stores through the app, and the key of the probe tokens. */
struct gate_ctx {
    struct gw_app *app;
    const struct gw_identity *who;   /* who asked; NULL for the CLI */
    char run_id[37];
    struct authdev_key key;          /* probe token key, loaded on first use */
    int key_state;                   /* 0 not tried, 1 loaded, -1 unavailable */
    char key_err[256];
};

/* A check: 0 passed, 1 failed, -1 could not be carried out (an error); detail
 * says what was seen either way. */
struct gate_check {
    const char *name;
    enum gate_severity severity;
    int (*run)(struct gate_ctx *g, char *detail, size_t n);
    const char *what;                /* one line for documentation and GET /api/v1/gates */
};

struct gate_def {
    const char *name;
    const struct gate_check *checks;
    size_t n;
};

/* The three gates (gates_checks.c), in a table. */
const struct gate_def *gates_table(size_t *n);
const struct gate_def *gates_find(const char *name);
const char *gates_severity_name(enum gate_severity s);
const char *gates_check_status_name(enum gate_check_status s);

/* Delegation of one check (gates_delegate.c): 0 when no active agent with an
 * active server is routed the check's name (run it built in), 1 with the
 * agent's verdict in *status and detail and its name in agent, -1 when the
 * routed agent failed (err, agent set). */
int gates_delegate(struct gate_ctx *g, const struct gate_check *check, enum gate_check_status *status,
                   char *detail, size_t dn, char *agent, size_t an, char *err, size_t en);
/* An agent's answer as a verdict: {"passed": bool} or {"status": "passed" |
 * "failed"}, with an optional "detail" string (bounded, control characters
 * replaced). 0, or -1 when the answer holds no verdict (detail says why). */
int gates_verdict_parse(struct json_object *answer, enum gate_check_status *status, char *detail,
                        size_t n);

/* Run the checks of def in order on g, appending one result object per check
 * to results ({check, severity, status, detail, duration_ms, delegated_to}).
 * The first critical check that does not pass ends the run: the rest are
 * listed as skipped. Returns the gate's status ("passed", or "failed" when a
 * critical or major check did not pass), with the critical check that ended
 * the run in *failed_check (NULL if none). */
const char *gates_execute(struct gate_ctx *g, const struct gate_def *def, struct json_object *results,
                          const char **failed_check);

/* Run gate `name` now as who (NULL: the CLI, a platform run) and store it
 * with its audit row in one transaction. 0 with the run ({id, gate, status,
 * started_at, finished_at, triggered_by, tenant_id, results, failed_check,
 * stored[, store_error]}), -1 for an unknown gate (err), or, for a caller
 * (not the CLI) whose tenant has a run of this gate under way, the seconds
 * until it ends at the latest (err names it; nothing is run). */
int gates_run(struct gw_app *app, const struct gw_identity *who, const char *name,
              struct json_object **run, char *err, size_t n);
/* Stored runs, newest first; tenant NULL = every tenant. 0, or -1 (err). */
int gates_runs_list(struct gw_app *app, const char *gate, const char *tenant, int limit,
                    struct json_object **runs, char *err, size_t n);
/* One stored run: 0, 1 when there is none (or it is another tenant's), -1 (err). */
int gates_run_get(struct gw_app *app, const char *id, const char *tenant, struct json_object **run,
                  char *err, size_t n);

void gate_ctx_free(struct gate_ctx *g);

#endif
