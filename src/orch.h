/* Orchestration: the specialist agents and the routing matrix (PostgreSQL),
 * delegation of a task to the least-loaded server of its agent with per-task
 * load leases (Redis), and the coordination plans of multi-plane tasks. */
#ifndef GW_ORCH_H
#define GW_ORCH_H

#include <stdbool.h>
#include <stddef.h>
#include <json-c/json.h>

#include "upstream.h"

struct gw_app;
struct gw_identity;
struct cat_server;

/* Who delegates when the request names no requesting agent: the gateway. */
#define ORCH_SELF_AGENT "mcp-orchestrator"
/* A lease outlives the call's own deadline by this much. */
#define ORCH_LEASE_MARGIN_MS 2000
/* Delegation deadline when none is asked for, and the largest one. */
#define ORCH_TIMEOUT_DEFAULT_MS 30000
#define ORCH_TIMEOUT_MAX_MS 600000

enum orch_code {
    ORCH_OK = 0,
    ORCH_BAD_REQUEST,          /* field names the culprit */
    ORCH_UNKNOWN_TASK_TYPE,    /* no routing rule for the type */
    ORCH_UNKNOWN_AGENT,        /* the agent is not in the agents table */
    ORCH_AGENT_INACTIVE,
    ORCH_AGENT_DRAINING,       /* finishes what it has, takes nothing new */
    ORCH_NO_SERVER,            /* no active, visible server offers the task's tool */
    ORCH_NOT_FOUND,            /* task, agent or rule absent (or another tenant's) */
    ORCH_FORBIDDEN,
    ORCH_TASK_FAILED,          /* the agent answered with an error, or could not be reached */
    ORCH_TASK_TIMED_OUT,
    ORCH_BUSY,                 /* the picked server's max_concurrency calls are all in flight */
    ORCH_UNAVAILABLE,          /* PostgreSQL or Redis cannot be reached */
    ORCH_INTERNAL,
};

struct orch_error {
    enum orch_code code;
    char field[64];            /* body field at fault, "" when none */
    char detail[512];          /* for the client: never a secret */
};

/* One word for a code: "unknown_task_type", "agent_inactive", ... */
const char *orch_reason(enum orch_code code);
/* HTTP status of a code on the management plane. */
int orch_http_status(enum orch_code code);

/* Agent names: [a-z0-9][a-z0-9_-]{0,63}; task types: [a-z0-9][a-z0-9_]{0,63}
 * (they name MCP tools). */
bool orch_agent_name_valid(const char *s);
bool orch_task_type_valid(const char *s);

/* ---- agents and routing (orch_agents.c) ------------------------------------- */

/* {agents: [{name, description, status, load, servers: [{server_id, name,
 * status, load}]}]}: servers are those who may see (NULL: every server). */
int orch_agents_list(struct gw_app *app, const struct gw_identity *who, const char *only,
                     struct json_object **out, struct orch_error *e);
/* Create or change an agent ({status, description}), audited in the same
 * transaction; *out is the agent. */
int orch_agent_put(struct gw_app *app, const struct gw_identity *who, const char *request_id,
                   const char *name, struct json_object *body, struct json_object **out,
                   struct orch_error *e);
/* {rules: [{task_type, agent, kind}]} */
int orch_routing_list(struct gw_app *app, struct json_object **out, struct orch_error *e);
/* Set (body {agent, kind?}) or remove a rule, audited in the same transaction. */
int orch_routing_put(struct gw_app *app, const struct gw_identity *who, const char *request_id,
                     const char *task_type, struct json_object *body, struct json_object **out,
                     struct orch_error *e);
int orch_routing_delete(struct gw_app *app, const struct gw_identity *who, const char *request_id,
                        const char *task_type, struct orch_error *e);

/* ---- delegation (orch_tasks.c) ---------------------------------------------- */

struct orch_request {
    const char *type;
    const char *agent;           /* NULL: the routing matrix decides */
    const char *requesting_agent; /* NULL: ORCH_SELF_AGENT */
    struct json_object *context; /* object, borrowed; NULL = {} */
    int timeout_ms;              /* 0: ORCH_TIMEOUT_DEFAULT_MS */
    int wait_ms;                 /* how long the HTTP caller waits before 202; -1: to the end */
    const char *request_id;      /* for the audit; may be NULL */
    int own_tool_only;           /* 1: only servers offering the type's own tool, no
                                  * handle_task (a quality check wants a verdict) */
    /* About once a second while the agent works; non-zero: stop waiting
     * here (the call goes on and its task is recorded when it ends). */
    int (*tick)(void *arg, const char *task_id);
    void *tick_arg;
};

/* Check a POST /api/v1/tasks body ({type, context?, agent?, requesting_agent?,
 * timeout_ms?}) into r (pointing into body). 0, or -1 with e. */
int orch_request_parse(struct json_object *body, struct orch_request *r, struct orch_error *e);

/* Route, pick the least-loaded active server of the agent that who may use,
 * lease it, record the task (audited), call its tool named after the type (or
 * handle_task) with the delegation context, release the lease and record the
 * outcome. *task_out (may be NULL) is the task as GET shows it, also when the
 * task ran and failed. 0 when the task completed; else the code with e. */
int orch_delegate_request(struct gw_app *app, const struct gw_identity *who,
                          const struct orch_request *r, struct json_object **task_out,
                          struct orch_error *e);
/* The same, synchronous, for the quality gates: *result_out (owned) is the
 * tool result's structuredContent when it has one, else the whole tool
 * result. 0, or an enum orch_code with err ("reason: detail"). */
int orch_delegate(struct gw_app *app, const struct gw_identity *who, const char *task_type,
                  struct json_object *context, int timeout_ms, int own_tool_only,
                  struct json_object **result_out, char *err, size_t errlen);
/* A task who may see: own tasks; the whole tenant's from operator up; all for
 * platform_admin. */
int orch_task_get(struct gw_app *app, const struct gw_identity *who, const char *id,
                  struct json_object **out, struct orch_error *e);
/* Live load: in-flight delegations per server id and per agent, expired
 * leases dropped first. -1 when Redis cannot be reached (loads then -1). */
int orch_load_servers(struct gw_app *app, const char *const *server_ids, size_t n, long long *loads);
long long orch_load_agent(struct gw_app *app, const char *agent);
/* Leases that expired (their responder died mid-delegation): drop them from
 * every count and mark their tasks failed. The number reclaimed, or -1. */
int orch_tasks_reap_expired(struct gw_app *app);

/* One tools/call of an agent's tool on srv, in the upstream's own era
 * (a session, or stateless for 2026-07-28), with args (borrowed) within
 * timeout_ms; a session it opened is ended after. tick (may be NULL) runs
 * about once a second with tick_arg. UP_OK with *answer (owned) the JSON-RPC
 * answer, else why. Delegations and event deliveries both call this. */
enum up_status orch_call_tool(struct gw_app *app, const struct cat_server *srv, const char *tool,
                              struct json_object *args, int timeout_ms, int (*tick)(void *), void *tick_arg,
                              struct json_object **answer, char *why, size_t n);
/* 0 when answer is a tool result that is no error; else -1 with what the
 * agent said in out. */
int orch_answer_failed(struct json_object *answer, char *out, size_t n);

/* ---- coordination plans (orch_plan.c) --------------------------------------- */

/* The plan of a multi-plane task type: {task_type, session_id, api_tasks,
 * mcp_tasks, dependencies, order, phases, rollback_plan}. context may be
 * NULL; its session_id (a string) is carried. 0, or -1 with e. */
int orch_plan(const char *task_type, struct json_object *context, struct json_object **out,
              struct orch_error *e);
/* POST /api/v1/coordination/plan: body {task_type, context?} checked, then orch_plan. */
int orch_plan_request(struct json_object *body, struct json_object **out, struct orch_error *e);
/* The phases of a plan in execution order ("auth", "validation", ...), as a
 * new JSON array; NULL for an unknown type. */
struct json_object *orch_plan_phases(const char *task_type);
/* Registration runs this plan. */
#define ORCH_PLAN_REGISTRATION "server_registration_with_auth"

#endif
