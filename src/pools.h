/* Resource pools: fleet-wide counting reservations with lease expiry, taken
 * and released atomically in Redis (Lua), for the seed's pools and one pool
 * per upstream server (its max_concurrency), and the seed's allocations. */
#ifndef GW_POOLS_H
#define GW_POOLS_H

#include <stdbool.h>
#include <stddef.h>
#include <hiredis/hiredis.h>
#include <json-c/json.h>

struct gw_app;
struct gw_config;
struct cat_snapshot;
struct gw_identity;

enum pools_code {
    POOLS_OK = 0,
    POOLS_BUSY,          /* a pool has too little room left: *busy says which */
    POOLS_UNAVAILABLE,   /* Redis cannot be reached or refused the script */
    POOLS_NOT_FOUND,
    POOLS_INVALID,       /* a request that can never be granted; err says why */
};

/* The seed's pools, from the [resources] configuration. */
enum pool_id { POOL_DATABASE, POOL_REDIS, POOL_OAUTH, POOL_COUNT };

#define POOLS_NAME_MAX 96
#define POOLS_HOLDER_MAX 33

/* Why a reservation was refused. */
struct pools_busy {
    char pool[POOLS_NAME_MAX];
    int capacity, in_use, requested;
    int retry_after_s;   /* until the pool's earliest lease ends, at least 1 */
};

/* One upstream call's slot in its server's pool. */
struct pools_slot {
    char pool[POOLS_NAME_MAX];
    char holder[POOLS_HOLDER_MAX];
    bool held;
};

/* Name and capacity of a seed pool (what allocations take from: for
 * database_connections the shared part, total minus the api and mcp shares). */
const char *pools_name(enum pool_id p);
int pools_capacity(const struct gw_config *cfg, enum pool_id p);

/* Take one slot of the upstream server's pool (capacity max_concurrency) for
 * lease_ms at most: POOLS_OK (slot->held), POOLS_BUSY with *busy, or
 * POOLS_UNAVAILABLE. Always pair with pools_upstream_release. */
enum pools_code pools_upstream_acquire(struct gw_app *app, const char *server_id, int max_concurrency,
                                       int lease_ms, struct pools_slot *slot, struct pools_busy *busy);
/* The same after the command cmd (cmdc arguments, cmd[1] its key) in the
 * same Redis round trip: its reply (or error) in *cmd_rep, NULL when Redis
 * is unavailable. The slot is taken or refused whatever the command does. */
enum pools_code pools_upstream_acquire_after(struct gw_app *app, const char *server_id, int max_concurrency,
                                             int lease_ms, struct pools_slot *slot, struct pools_busy *busy,
                                             int cmdc, const char **cmd, redisReply **cmd_rep);
/* Give the slot back (nothing when it is not held); a responder that dies
 * before this leaves the slot to its lease. */
void pools_upstream_release(struct gw_app *app, struct pools_slot *slot);
/* Give the slot back and run the command cmd (cmdc arguments) in the same
 * Redis round trip: the command's reply (NULL when Redis is unavailable),
 * whether or not the slot was still held (its lease may have ended). A slot
 * not released is left to its lease, as above. */
redisReply *pools_upstream_release_then(struct gw_app *app, struct pools_slot *slot, int cmdc, const char **cmd);
/* Extend a held slot's lease to lease_ms from now, for a call that goes on
 * past what its first lease covered. POOLS_OK; POOLS_BUSY when the lease had
 * already ended and the slot gone (another call may have it now);
 * POOLS_UNAVAILABLE without Redis. */
enum pools_code pools_upstream_renew(struct gw_app *app, const struct pools_slot *slot, int lease_ms);

/* The seed's allocation for an operation type and its estimated load, as
 * units per seed pool; POOLS_INVALID with err for an unknown operation, a
 * malformed load, or a demand beyond a pool's whole capacity. */
enum pools_code pools_compute(const struct gw_config *cfg, const char *operation_type,
                              struct json_object *estimated_load, int units[POOL_COUNT], char *err,
                              size_t n);
/* Compute and reserve, all pools at once or none, for lease_s seconds. *out
 * is the allocation record (id, operation_type, estimated_load, allocation,
 * tenant_id, created_by, created_at, expires_at); caller frees. */
enum pools_code pools_allocate(struct gw_app *app, const char *operation_type,
                               struct json_object *estimated_load, const char *tenant_id,
                               const char *created_by, int lease_s, struct json_object **out,
                               struct pools_busy *busy, char *err, size_t n);
/* The allocation record while its lease lasts. */
enum pools_code pools_allocation_get(struct gw_app *app, const char *id, struct json_object **out);
/* Release every unit of the allocation and forget it. */
enum pools_code pools_allocation_release(struct gw_app *app, const char *id);

/* Pools and their fleet-wide use, expired leases dropped first: the seed's
 * pools and the upstream pools of the servers in snap that who may see
 * (who NULL: all). NULL when Redis cannot be reached. */
struct json_object *pools_describe(struct gw_app *app, const struct cat_snapshot *snap,
                                   const struct gw_identity *who);
/* Drop every expired lease of every pool the fleet has used: the number of
 * reservations dropped, or -1 when Redis cannot be reached. For the leader's
 * periodic job; the pools also drop expired leases whenever they are used. */
int pools_reap_expired(struct gw_app *app);

/* An allocation id: 32 lower-case hex digits. */
bool pools_id_valid(const char *id);

#endif
