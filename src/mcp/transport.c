/* Header rules of MCP Streamable HTTP, checked before a body is parsed, so
 * that a wrong client learns its mistake from the status alone. */
#include "mcp/transport.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "util.h"

static const char *const versions[] = { "2025-11-25", "2025-06-18", "2025-03-26" };

bool mt_version_supported(const char *v)
{
    for (size_t i = 0; v != NULL && i < GW_ARRAY_LEN(versions); i++)
        if (strcmp(v, versions[i]) == 0)
            return true;
    return false;
}

const char *mt_negotiate(const char *requested)
{
    for (size_t i = 0; requested != NULL && i < GW_ARRAY_LEN(versions); i++)
        if (strcmp(requested, versions[i]) == 0)
            return versions[i];
    return MCP_VERSION_LATEST;
}

const char *mt_versions_list(void)
{
    return "2025-11-25, 2025-06-18, 2025-03-26";
}

/* One media range "type/sub;q=0.5": does it admit want, with q > 0? */
static bool range_admits(const char *r, size_t len, const char *want)
{
    char range[160], *params, *type;
    const char *slash = strchr(want, '/');

    if (len >= sizeof(range) || slash == NULL)
        return false;
    memcpy(range, r, len);
    range[len] = '\0';
    params = strchr(range, ';');
    if (params != NULL)
        *params++ = '\0';
    type = gw_trim(range);
    /* q=0 means "not acceptable". */
    while (params != NULL) {
        char *next = strchr(params, ';'), *p;

        if (next != NULL)
            *next++ = '\0';
        p = gw_trim(params);
        if ((p[0] == 'q' || p[0] == 'Q') && p[1] == '=' && strtod(p + 2, NULL) <= 0.0)
            return false;
        params = next;
    }
    if (strcmp(type, "*/*") == 0 || strcasecmp(type, want) == 0)
        return true;
    /* A subtype wildcard ("application/" then "*") admits "application/json". */
    return strlen(type) == (size_t)(slash - want) + 2 &&
           strncasecmp(type, want, (size_t)(slash - want) + 1) == 0 && type[strlen(type) - 1] == '*';
}

bool mt_accepts(const char *accept, const char *type)
{
    const char *p = accept;

    if (accept == NULL)
        return false;
    while (*p != '\0') {
        const char *end = strchr(p, ',');
        size_t len = end != NULL ? (size_t)(end - p) : strlen(p);

        while (len > 0 && isspace((unsigned char)*p)) {
            p++;
            len--;
        }
        if (range_admits(p, len, type))
            return true;
        if (end == NULL)
            break;
        p = end + 1;
    }
    return false;
}

bool mt_is_json(const char *ct)
{
    size_t n = strlen("application/json");

    if (ct == NULL || strncasecmp(ct, "application/json", n) != 0)
        return false;
    ct += n;
    while (*ct == ' ' || *ct == '\t')
        ct++;
    return *ct == '\0' || *ct == ';';
}

/* scheme://host[:port] of a URL, lower-cased, into out. */
static void origin_of(const char *url, char *out, size_t n)
{
    const char *p = strstr(url, "://"), *end;
    size_t len;

    out[0] = '\0';
    if (p == NULL)
        return;
    end = strchr(p + 3, '/');
    len = end != NULL ? (size_t)(end - url) : strlen(url);
    if (len >= n)
        return;
    for (size_t i = 0; i < len; i++)
        out[i] = (char)tolower((unsigned char)url[i]);
    out[len] = '\0';
}

bool mt_origin_allowed(const struct gw_config *cfg, const char *origin)
{
    char own[CFG_STR_MAX], item[CFG_STR_MAX];
    const char *cur = NULL;

    if (origin == NULL || origin[0] == '\0')
        return true;
    origin_of(cfg->mcp_url, own, sizeof(own));
    if (own[0] != '\0' && strcasecmp(origin, own) == 0)
        return true;
    while (cfg_list_next(cfg->allowed_origins, &cur, item, sizeof(item)) != NULL)
        if (strcasecmp(item, origin) == 0)
            return true;
    return false;
}

/* The host name of a Host header or URL authority, without port or
 * brackets, lower-cased; "" when it does not fit or is malformed. */
static void host_name(const char *authority, size_t len, char *out, size_t n)
{
    const char *end = authority + len, *colon;
    size_t hl;

    out[0] = '\0';
    if (len > 0 && authority[0] == '[') {
        const char *close = memchr(authority, ']', len);

        if (close == NULL)
            return;
        authority++;
        end = close;
    } else if ((colon = memchr(authority, ':', len)) != NULL) {
        end = colon;
    }
    hl = (size_t)(end - authority);
    if (hl == 0 || hl >= n)
        return;
    for (size_t i = 0; i < hl; i++)
        out[i] = (char)tolower((unsigned char)authority[i]);
    out[hl] = '\0';
}

bool mt_host_allowed(const struct gw_config *cfg, const char *host)
{
    static const char *const loopback[] = { "localhost", "127.0.0.1", "::1" };
    char name[256], own[256], item[CFG_STR_MAX];
    const char *cur = NULL, *p, *end;

    /* HTTP/1.0 clients may send none; a browser always does. */
    if (host == NULL || host[0] == '\0')
        return true;
    host_name(host, strlen(host), name, sizeof(name));
    if (name[0] == '\0')
        return false;
    /* Names an attacker cannot point at us: loopback literals. */
    for (size_t i = 0; i < sizeof(loopback) / sizeof(loopback[0]); i++)
        if (strcmp(name, loopback[i]) == 0)
            return true;
    if ((p = strstr(cfg->mcp_url, "://")) != NULL) {
        p += 3;
        end = p + strcspn(p, "/?#");
        host_name(p, (size_t)(end - p), own, sizeof(own));
        if (own[0] != '\0' && strcmp(name, own) == 0)
            return true;
    }
    while (cfg_list_next(cfg->allowed_hosts, &cur, item, sizeof(item)) != NULL)
        if (strcasecmp(item, name) == 0)
            return true;
    return false;
}
