/* From an Authorization header to a gateway identity: bearer extraction, token
 * verification, and the role map from token roles/scopes to gateway roles. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "app.h"
#include "auth.h"
#include "auth_jwt.h"
#include "config.h"
#include "http.h"
#include "log.h"
#include "util.h"

static const struct {
    unsigned bit;
    const char *name;
} role_names[] = {
    { ROLE_USER, "user" },
    { ROLE_AUDITOR, "auditor" },
    { ROLE_OPERATOR, "operator" },
    { ROLE_ADMIN, "admin" },
    { ROLE_PLATFORM_ADMIN, "platform_admin" },
};

const char *auth_role_name(unsigned role_bit)
{
    for (size_t i = 0; i < GW_ARRAY_LEN(role_names); i++)
        if (role_names[i].bit == role_bit)
            return role_names[i].name;
    return "unknown";
}

unsigned auth_role_parse(const char *name)
{
    for (size_t i = 0; i < GW_ARRAY_LEN(role_names); i++)
        if (strcmp(role_names[i].name, name) == 0)
            return role_names[i].bit;
    return 0;
}

unsigned auth_roles_effective(unsigned roles)
{
    if (roles & ROLE_PLATFORM_ADMIN)
        roles |= ROLE_ADMIN;
    if (roles & ROLE_ADMIN)
        roles |= ROLE_OPERATOR | ROLE_AUDITOR;
    if (roles != 0)
        roles |= ROLE_USER;
    return roles;
}

bool auth_has_role(const struct gw_identity *id, unsigned role)
{
    return id != NULL && (id->roles & role) == role;
}

/* Split "claim=role" in place; NULL when the entry has no '='. */
static char *map_entry_split(char *entry)
{
    char *eq = strchr(entry, '=');
    char *rhs;

    if (eq == NULL)
        return NULL;
    *eq = '\0';
    gw_trim(entry);
    rhs = gw_trim(eq + 1);
    return rhs;
}

int auth_role_map_check(const char *map, char *err, size_t n)
{
    const char *cur = NULL;
    char buf[512], *lhs, *rhs;

    while (cfg_list_next(map, &cur, buf, sizeof buf) != NULL) {
        lhs = buf;
        rhs = map_entry_split(lhs);
        if (rhs == NULL || lhs[0] == '\0') {
            gw_snprintf(err, n, "role map entry \"%s\" is not claim=role", buf);
            return -1;
        }
        if (auth_role_parse(rhs) == 0) {
            gw_snprintf(err, n, "role map entry for \"%s\" names unknown role \"%s\"", lhs, rhs);
            return -1;
        }
    }
    return 0;
}

/* Gateway roles one token role or scope value grants through map. */
static unsigned map_value(const char *map, const char *value, bool names_when_empty)
{
    const char *cur = NULL;
    char buf[512], *rhs;
    unsigned bits = 0;

    /* Without a role map, token roles are taken by their gateway names (the
     * development issuer mints "admin" for admin). Scopes never are: a scope
     * is what the user let a client do, and any client may ask for one
     * called "platform_admin". */
    if (map[0] == '\0')
        return names_when_empty ? auth_role_parse(value) : 0;
    while (cfg_list_next(map, &cur, buf, sizeof buf) != NULL) {
        rhs = map_entry_split(buf);
        if (rhs != NULL && strcmp(buf, value) == 0)
            bits |= auth_role_parse(rhs);
    }
    return bits;
}

unsigned auth_map_roles(const struct gw_config *cfg, const char *token_roles, const char *scopes)
{
    const char *cur = NULL, *p;
    char buf[512];
    unsigned bits = 0;

    while (cfg_list_next(token_roles, &cur, buf, sizeof buf) != NULL)
        bits |= map_value(cfg->auth_role_map, buf, true);
    for (p = scopes; *p != '\0';) {
        size_t len = strcspn(p, " ");

        if (len > 0 && len < sizeof buf) {
            memcpy(buf, p, len);
            buf[len] = '\0';
            bits |= map_value(cfg->auth_scope_map, buf, false);
        }
        p += len;
        p += strspn(p, " ");
    }
    return auth_roles_effective(bits);
}

/* The token of "Bearer <token>" (scheme case-insensitive), or NULL. */
static const char *bearer_token(const char *header, size_t *len)
{
    const char *p;
    size_t n;

    if (header == NULL || strncasecmp(header, "Bearer", 6) != 0 ||
        (header[6] != ' ' && header[6] != '\t'))
        return NULL;
    p = header + 7;
    p += strspn(p, " \t");
    n = strlen(p);
    while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
        n--;
    if (n == 0)
        return NULL;
    *len = n;
    return p;
}

enum auth_status auth_authenticate(struct gw_app *app, const struct http_request *r,
                                   struct gw_identity *id, char *reason, size_t n)
{
    const char *token;
    size_t len = 0;
    enum auth_status st;

    memset(id, 0, sizeof *id);
    /* Only the Authorization header carries a token: one in the query
     * string leaks into logs and caches and is ignored on purpose. */
    token = bearer_token(r->authorization, &len);
    if (token == NULL) {
        gw_snprintf(reason, n, "no bearer token in the Authorization header");
        log_info("auth_missing", "%s", reason);
        return AUTH_MISSING;
    }
    st = authjwt_verify(app, token, len, id, reason, n);
    if (st != AUTH_OK) {
        log_warn("auth_reject", "bearer token rejected (sha256 %.16s): %s", id->token_sha256,
                 reason);
        return st;
    }
    id->roles = auth_map_roles(&app->cfg, id->token_roles, id->scopes);
    gw_strlcpy(reason, "ok", n);
    log_debug("auth_ok", "user %s tenant %s roles 0x%x", id->user_id, id->tenant_id, id->roles);
    return AUTH_OK;
}

/* Bounded labels for the auth failure counter, from the log-safe reasons
 * auth_jwt.c and auth_jwks.c give; the first entry whose text occurs wins. */
static const struct {
    const char *text, *kind;
} failure_kinds[] = {
    { "signing keys unavailable", "keys_unavailable" },
    { "no key with this kid", "unknown_key" },
    { "does not match key", "algorithm" },
    { "alg ", "algorithm" },
    { "no alg", "algorithm" },
    { "signature", "signature" },
    { "expired", "expired" },
    { "not valid for another", "not_yet_valid" },
    { "no subject", "claims" },
    { "tenant", "tenant" },
    { "tid", "tenant" },
    { " iss", "issuer" },
    { " aud ", "audience" },
    { "longer than", "too_large" },
    { "kid", "malformed" },
    { "typ", "malformed" },
    { "crit", "malformed" },
    { "segments", "malformed" },
    { "base64url", "malformed" },
    { "exp", "claims" },
    { "nbf", "claims" },
    { "claim", "claims" },
    { "identity", "claims" },
    { "appid", "claims" },
};

const char *auth_failure_kind(enum auth_status st, const char *reason)
{
    if (st == AUTH_MISSING)
        return "missing";
    if (st == AUTH_UNAVAILABLE)
        return "keys_unavailable";
    for (size_t i = 0; reason != NULL && i < GW_ARRAY_LEN(failure_kinds); i++)
        if (strstr(reason, failure_kinds[i].text) != NULL)
            return failure_kinds[i].kind;
    return "other";
}
