/* Identity as the gateway sees it, and the entry points of the resource server:
 * bearer token -> verified claims -> gateway roles and tenant. */
#ifndef GW_AUTH_H
#define GW_AUTH_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

struct gw_app;
struct gw_config;
struct http_request;

/* Gateway roles, as bits. Effective roles include what a role implies:
 * platform_admin -> admin -> operator, auditor; every role -> user. */
enum gw_role {
    ROLE_USER = 1u << 0,
    ROLE_AUDITOR = 1u << 1,
    ROLE_OPERATOR = 1u << 2,
    ROLE_ADMIN = 1u << 3,
    ROLE_PLATFORM_ADMIN = 1u << 4,
};

struct gw_identity {
    char issuer[512];
    char subject[256];
    char tenant_id[128];      /* tid; "" for issuers without tenants */
    char object_id[128];      /* oid (Entra) */
    /* The principal, unique across issuers and claim types: "oid" with iss,
     * tid and oid for Entra, "sub" with iss and sub otherwise, each part
     * length-prefixed (see authjwt_user_id). */
    char user_id[1024];
    char client_id[256];      /* azp / appid */
    char scopes[1024];        /* space-separated scp */
    char token_roles[1024];   /* roles claim, comma-separated, as sent */
    unsigned roles;           /* effective gateway roles (enum gw_role bits) */
    int64_t exp;              /* token expiry, seconds since epoch */
    char token_sha256[65];    /* hex SHA-256 of the token: never the token */
};

enum auth_status {
    AUTH_OK = 0,
    AUTH_MISSING,       /* no bearer token: 401 without error= */
    AUTH_INVALID,       /* bad token: 401 error="invalid_token" */
    AUTH_UNAVAILABLE,   /* keys cannot be had (issuer unreachable): 503 */
};

/* Authenticate the request's Authorization header. reason receives a short
 * log-safe explanation (never the token). */
enum auth_status auth_authenticate(struct gw_app *app, const struct http_request *r,
                                   struct gw_identity *id, char *reason, size_t n);
bool auth_has_role(const struct gw_identity *id, unsigned role);
/* A bounded label ([a-z_]) for a refusal: "missing", "expired", "signature",
 * "unknown_key", ... from the status and the reason auth_authenticate gave. */
const char *auth_failure_kind(enum auth_status st, const char *reason);
const char *auth_role_name(unsigned role_bit);
void auth_state_free(struct gw_app *app);

/* Role names and the role map (auth_access.c). */
unsigned auth_role_parse(const char *name);          /* 0 when unknown */
unsigned auth_roles_effective(unsigned roles);       /* adds implied roles */
/* Gateway roles (effective) for the token's roles ("a,b") through
 * cfg->auth_role_map (empty: gateway names) and scopes ("x y") through
 * cfg->auth_scope_map (empty: no role from any scope). */
unsigned auth_map_roles(const struct gw_config *cfg, const char *token_roles,
                        const char *scopes);
/* Check an auth.role_map or auth.scope_map value: 0, or -1 with the bad
 * entry in err. */
int auth_role_map_check(const char *map, char *err, size_t n);

struct gw_config;
/* CLI: `mcp-gateway token ...` and `mcp-gateway jwks` (development issuer).
 * argv[0] is the subcommand name. Return the process exit status. */
int auth_cli_token(const struct gw_config *cfg, int argc, char **argv);
int auth_cli_jwks(const struct gw_config *cfg, int argc, char **argv);

#endif
