/* Configuration: one table of keys (section, name, type, default, validator)
 * drives defaults, the INI parser, environment overrides and `config` output. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth.h"
#include "upstream.h"
#include "util.h"

enum cfg_type { T_STR, T_INT, T_LONG };

typedef int (*cfg_validator)(const char *value, char *why, size_t n);

struct cfg_key {
    const char *section;
    const char *name;
    enum cfg_type type;
    size_t offset;
    size_t size;           /* T_STR: buffer size */
    const char *def;
    long min, max;         /* T_INT, T_LONG */
    cfg_validator valid;   /* optional, on the string value */
    const char *help;
};

static int v_url(const char *v, char *why, size_t n);
static int v_redis_url(const char *v, char *why, size_t n);
static int v_plane(const char *v, char *why, size_t n);
static int v_log_level(const char *v, char *why, size_t n);
static int v_listen(const char *v, char *why, size_t n);
static int v_jwks_uri(const char *v, char *why, size_t n);
static int v_prefix(const char *v, char *why, size_t n);
static int v_role_map(const char *v, char *why, size_t n);
static int v_networks(const char *v, char *why, size_t n);
static int v_metrics_access(const char *v, char *why, size_t n);
static int v_mode(const char *v, char *why, size_t n);

#define S(sec, key, field, def, valid, help) \
    { sec, key, T_STR, offsetof(struct gw_config, field), \
      sizeof(((struct gw_config *)0)->field), def, 0, 0, valid, help }
#define I(sec, key, field, def, lo, hi, help) \
    { sec, key, T_INT, offsetof(struct gw_config, field), sizeof(int), def, lo, hi, NULL, help }
#define L(sec, key, field, def, lo, hi, help) \
    { sec, key, T_LONG, offsetof(struct gw_config, field), sizeof(long), def, lo, hi, NULL, help }

static const struct cfg_key keys[] = {
    S("server", "api_url", api_url, "https://127.0.0.1:8000", v_url, "public base URL of the management plane"),
    S("server", "mcp_url", mcp_url, "https://127.0.0.1:8001", v_url, "public base URL of the MCP plane"),
    I("server", "api_port", api_port, "8000", 1, 65535, "public TLS port of the management plane"),
    I("server", "mcp_port", mcp_port, "8001", 1, 65535, "public TLS port of the MCP plane"),
    S("server", "tls_cert", tls_cert, "", NULL, "TLS certificate (PEM) served by the web server"),
    S("server", "tls_key", tls_key, "", NULL, "TLS private key (PEM) served by the web server"),
    S("server", "ca_file", ca_file, "", NULL, "CA bundle that verifies our own planes' certificate"),
    S("server", "log_level", log_level, "info", v_log_level, "debug | info | warn | error"),
    S("server", "log_file", log_file, "", NULL, "append logs here instead of stderr"),
    I("server", "ready_timeout_ms", ready_timeout_ms, "50", 5, 10000,
      "time /health/ready may spend on Redis and PostgreSQL together"),

    S("fastcgi", "socket", fcgi_socket, "", NULL, "unix socket path for `serve`"),
    S("fastcgi", "listen", fcgi_listen, "", v_listen, "127.0.0.1:PORT for `serve` (instead of socket)"),
    I("fastcgi", "workers", workers, "4", 1, 256, "responders forked by `serve`; the pool never shrinks below this"),
    I("fastcgi", "max_workers", max_workers, "0", 0, 512,
      "most responders `serve` may run: it forks more while fewer than min_spare are idle (a tool call or GET stream holds one throughout); 0 = workers, a fixed pool"),
    I("fastcgi", "min_spare", min_spare, "2", 1, 512, "idle responders below which the pool grows"),
    I("fastcgi", "max_spare", max_spare, "4", 2, 512, "idle responders above which extras (beyond workers) are retired"),
    I("fastcgi", "idle_timeout", idle_timeout, "10", 1, 3600, "seconds the pool must have more than max_spare idle before extras are retired (up to 32 a second)"),
    S("fastcgi", "plane", plane, "both", v_plane, "api | mcp | both"),
    I("fastcgi", "backlog", backlog, "1024", 1, 65535, "listen backlog: connections waiting for a responder while the pool grows (capped by net.core.somaxconn)"),
    I("fastcgi", "drain_timeout", drain_timeout, "30", 1, 3600, "seconds a stopping responder may finish"),
    S("fastcgi", "socket_mode", fcgi_socket_mode, "0660", v_mode, "octal mode of the unix socket; 0660 lets only its owner and socket_group connect"),
    S("fastcgi", "socket_group", fcgi_socket_group, "", NULL, "group of the unix socket: the web server's (www-data); empty keeps the creator's"),
    S("fastcgi", "user", fcgi_user, "", NULL, "unprivileged user the responders of `serve` run as when started as root"),
    S("fastcgi", "group", fcgi_group, "", NULL, "group of the responders; empty = the user's primary group"),
    I("fastcgi", "allow_root", fcgi_allow_root, "0", 0, 1, "1 lets `serve` run responders as root (never in production)"),
    I("fastcgi", "read_timeout_ms", fcgi_read_timeout_ms, "10000", 100, 600000,
      "parameters and body of a request must arrive within this; else 408"),

    S("redis", "url", redis_url, "redis://127.0.0.1:6379/0", v_redis_url, "redis://[[user]:password@]host:port[/db] or unix://[[user]:password@]/path[?db=N]"),
    S("redis", "prefix", redis_prefix, "mreg:", v_prefix, "key prefix"),
    I("redis", "timeout_ms", redis_timeout_ms, "1000", 10, 60000, "connect and command timeout"),
    S("redis", "sentinels", redis_sentinels, "", NULL, "Sentinel host:port list; when set, the primary is asked of them and url gives only password and db"),
    S("redis", "master_name", redis_master_name, "mymaster", NULL, "name of the primary the sentinels monitor"),

    S("postgres", "dsn", pg_dsn, "host=127.0.0.1 port=5432 dbname=mcpgw user=postgres", NULL, "libpq connection string"),
    S("postgres", "replica_dsn", pg_replica_dsn, "", NULL, "optional read replica"),
    I("postgres", "connect_timeout", pg_connect_timeout, "5", 1, 120, "seconds"),

    S("auth", "issuer", auth_issuer, "", NULL, "expected iss; {tid} is substituted (Entra multi-tenant)"),
    S("auth", "jwks_uri", auth_jwks_uri, "", v_jwks_uri, "https://, http:// on loopback, or file://"),
    S("auth", "audiences", auth_audiences, "", NULL, "accepted aud values, comma-separated"),
    S("auth", "allowed_tenants", auth_allowed_tenants, "", NULL, "tid values, comma-separated; * for any"),
    S("auth", "role_map", auth_role_map, "", v_role_map, "token role = gateway role, comma-separated"),
    S("auth", "scope_map", auth_scope_map, "", v_role_map, "token scope = gateway role, comma-separated; empty = scopes grant no role"),
    I("auth", "clock_skew", auth_clock_skew, "60", 0, 600, "seconds allowed on exp and nbf"),
    S("auth", "ca_file", auth_ca_file, "", NULL, "CA bundle for an https:// JWKS; empty = system"),
    I("auth", "jwks_timeout_ms", auth_jwks_timeout_ms, "5000", 100, 60000, "JWKS fetch timeout"),
    I("auth", "jwks_max_age", auth_jwks_max_age, "86400", 1, 604800, "seconds a fetched JWKS is trusted (responder and Redis copy together)"),
    S("auth", "dev_issuer_key", auth_dev_issuer_key, "", NULL, "development issuer RSA key; empty = off"),
    S("auth", "authorization_servers", auth_authorization_servers, "", NULL, "RFC 9728 authorization_servers"),
    S("auth", "scopes_supported", auth_scopes_supported, "", NULL, "RFC 9728 scopes_supported"),

    I("session", "ttl", session_ttl, "3600", 60, 86400 * 7, "sliding session lifetime, seconds"),
    I("session", "stream_seconds", stream_seconds, "60", 1, 3600,
      "longest a GET /mcp stream is held before it ends with a retry hint"),
    I("session", "keepalive_seconds", keepalive_seconds, "15", 1, 300,
      "idle time after which a stream gets a comment, to find clients that left"),
    I("session", "stream_max_len", stream_max_len, "1000", 10, 100000,
      "messages kept per session for Last-Event-ID resumption"),

    I("mcp", "page_size", mcp_page_size, "100", 1, 1000,
      "items per page of tools/list, prompts/list, resources/list and resources/templates/list on /mcp"),
    I("mcp", "list_ttl_ms", mcp_list_ttl_ms, "60000", 0, 86400000,
      "ttlMs of server/discover and list results to 2026-07-28 clients: the catalog changes only when a "
      "server is registered, changed, refreshed or removed, so lists stay fresh this long (0 = always stale)"),
    S("audit", "spool_fallback", audit_spool_fallback, "", NULL,
      "file a tool-call audit record is appended to when Redis refuses it (the monitor drains it); empty = warn log line only"),
    I("audit", "batch", audit_batch, "500", 1, 10000, "most spooled tool-call records written to audit_log in one transaction"),
    I("audit", "batch_wait_ms", audit_batch_wait_ms, "200", 1, 10000, "longest the monitor waits for a batch to fill"),
    I("audit", "claim_idle_ms", audit_claim_idle_ms, "30000", 100, 3600000,
      "a spooled record read by a monitor that has not confirmed it for this long is taken over by another"),

    /* the fleet leader (monitor) and event delivery */
    I("leader", "lease_ttl_ms", leader_lease_ttl_ms, "15000", 1000, 600000,
      "lifetime of the fleet leader's Redis lease; renewed every third of it, taken over by another monitor when it lapses"),
    I("leader", "health_period_ms", leader_health_period_ms, "30000", 500, 86400000,
      "period of the leader's upstream health probes (each job runs at most once per period fleet-wide)"),
    I("leader", "catalog_period_ms", leader_catalog_period_ms, "300000", 500, 86400000,
      "period of the leader's catalog refresh with schema-change detection"),
    I("leader", "events_period_ms", leader_events_period_ms, "1000", 100, 3600000,
      "period of the leader's event delivery from the event stream"),
    I("leader", "cleanup_period_ms", leader_cleanup_period_ms, "10000", 500, 86400000,
      "period of the leader's cleanup of expired task and resource leases and old job runs"),
    I("events", "max_attempts", events_max_attempts, "5", 1, 100,
      "delivery attempts per agent before an event's delivery is marked failed"),
    I("events", "retry_ms", events_retry_ms, "2000", 0, 3600000,
      "wait after a failed delivery before the agent is tried again"),

    L("limits", "body_max", body_max, "1048576", 1024, 64L * 1024 * 1024, "largest request body, bytes"),
    I("limits", "json_depth", json_depth, "64", 2, 1000, "deepest JSON nesting accepted"),
    I("limits", "header_max", header_max, "8192", 256, 65536, "longest header value accepted"),
    I("limits", "token_max", token_max, "16384", 256, 65536, "longest bearer token accepted"),

    I("resources", "db_connections", res_db_connections, "20", 1, 100000,
      "database_connections pool: the whole pool (api share + mcp share + shared part)"),
    I("resources", "db_reserved_api", res_db_reserved_api, "8", 0, 100000,
      "database_connections kept for the management plane; not allocatable"),
    I("resources", "db_reserved_mcp", res_db_reserved_mcp, "8", 0, 100000,
      "database_connections kept for the MCP plane; not allocatable"),
    I("resources", "redis_connections", res_redis_connections, "10", 1, 100000, "redis_connections pool"),
    I("resources", "oauth_validations", res_oauth_validations, "50", 1, 100000,
      "oauth_tokens pool: concurrent token validations"),
    I("resources", "lease_seconds", res_lease_seconds, "300", 1, 86400,
      "an allocation is released after this long unless deleted before"),

    S("upstream", "allowed_networks", upstream_allowed_networks, "", v_networks,
      "CIDR list (IPv4, IPv6) upstreams may use beyond public https://: http:// and private, loopback, link-local"),
    I("upstream", "timeout_ms", upstream_timeout_ms, "30000", 100, 600000, "deadline of one upstream exchange (discovery, probe, a forwarded call)"),
    I("upstream", "connect_timeout_ms", upstream_connect_timeout_ms, "5000", 100, 60000, "TCP and TLS connect deadline"),
    I("upstream", "refresh_parallel", upstream_refresh_parallel, "8", 1, 64,
      "upstreams discovered at once by a catalog refresh"),
    S("metrics", "access", metrics_access, "public", v_metrics_access,
      "who may read /metrics: public | loopback (REMOTE_ADDR) | role:NAME (bearer token)"),
    S("upstream", "ca_file", upstream_ca_file, "", NULL, "CA bundle for https:// upstreams and token endpoints; empty = system"),

    S("security", "allowed_origins", allowed_origins, "", NULL, "Origin values accepted, comma-separated"),
    S("security", "allowed_hosts", allowed_hosts, "", NULL,
      "host names accepted in the Host header of MCP requests besides server.mcp_url's and loopback, comma-separated"),
    S("security", "fleet_key_file", fleet_key_file, "", NULL, "secret that MACs the JWKS copy and the MCP catalog in Redis; empty = neither is trusted there"),
    S("security", "secret_key_file", secret_key_file, "", NULL,
      "key file (64 hex digits) sealing upstream credentials"),
    S("security", "input_state_key_file", input_state_key_file, "", NULL,
      "secret (32-128 bytes) that MACs the requestState of input-required results (MCP 2026-07-28) and the relay records of upstream requests in Redis; empty = such results are refused, relay records unsealed"),

    /* quality gates */
    S("gates", "probe_key", gates_probe_key, "", NULL,
      "RSA private key (PEM) whose tokens the gateway trusts (its public key in auth.jwks_uri, iss = auth.issuer): the gates sign their probe tokens with it; empty = auth.dev_issuer_key; neither = the token probes report an error"),
    S("gates", "probe_tenant", gates_probe_tenant, "gate-probe", NULL,
      "tenant (tid) of the gates' probe identities; must be in auth.allowed_tenants"),
    S("gates", "probe_other_tenant", gates_probe_other_tenant, "gate-probe-other", NULL,
      "second probe tenant, from which tenant_isolation_test tries a cross-tenant read"),
    I("gates", "timeout_ms", gates_timeout_ms, "10000", 100, 120000, "deadline of one probe request of a gate check"),
    I("gates", "db_p95_ms", gates_db_p95_ms, "50", 1, 60000,
      "database_performance_validation fails when the 95th percentile of its registry queries exceeds this"),
};

/* MCPGW_ variables that are not configuration keys: read by scripts, the CLI
 * and (as a CGI variable) by the router. */
static const char *const env_not_keys[] = {
    "MCPGW_CONFIG", "MCPGW_API_URL", "MCPGW_MCP_URL", "MCPGW_CA_FILE",
    "MCPGW_ADMIN_TOKEN", "MCPGW_TOKEN", "MCPGW_PLANE",
};

static void add_err(struct cfg_errors *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void add_err(struct cfg_errors *e, const char *fmt, ...)
{
    char raw[sizeof(e->msg[0])];
    va_list ap;

    if (e == NULL || e->n >= CFG_MAX_ERRORS)
        return;
    va_start(ap, fmt);
    vsnprintf(raw, sizeof(raw), fmt, ap);
    va_end(ap);
    /* A rejected value is quoted in the message: it may be a URL with a password. */
    gw_mask_secrets(raw, e->msg[e->n], sizeof(e->msg[0]));
    e->n++;
}

static const struct cfg_key *find_key(const char *section, const char *name)
{
    for (size_t i = 0; i < GW_ARRAY_LEN(keys); i++)
        if (strcmp(keys[i].section, section) == 0 && strcmp(keys[i].name, name) == 0)
            return &keys[i];
    return NULL;
}

static bool section_known(const char *section)
{
    for (size_t i = 0; i < GW_ARRAY_LEN(keys); i++)
        if (strcmp(keys[i].section, section) == 0)
            return true;
    return false;
}

/* Store value into the field; why receives the reason on failure. */
static int set_value(struct gw_config *c, const struct cfg_key *k, const char *value,
                     char *why, size_t n)
{
    char *field = (char *)c + k->offset;
    char *end;
    long v;

    if (k->valid != NULL && value[0] != '\0' && k->valid(value, why, n) != 0)
        return -1;
    switch (k->type) {
    case T_STR:
        if (strlen(value) >= k->size) {
            snprintf(why, n, "value longer than %zu characters", k->size - 1);
            return -1;
        }
        gw_strlcpy(field, value, k->size);
        return 0;
    case T_INT:
    case T_LONG:
        errno = 0;
        v = strtol(value, &end, 10);
        if (value[0] == '\0' || *end != '\0' || errno != 0) {
            snprintf(why, n, "'%s' is not a whole number", value);
            return -1;
        }
        if (v < k->min || v > k->max) {
            snprintf(why, n, "%ld is out of range %ld..%ld", v, k->min, k->max);
            return -1;
        }
        if (k->type == T_INT)
            *(int *)field = (int)v;
        else
            *(long *)field = v;
        return 0;
    }
    return -1;
}

void cfg_defaults(struct gw_config *c)
{
    char why[256];

    memset(c, 0, sizeof(*c));
    for (size_t i = 0; i < GW_ARRAY_LEN(keys); i++)
        if (set_value(c, &keys[i], keys[i].def, why, sizeof(why)) != 0)
            abort(); /* a bad default is a programming error */
}

static char *unquote(char *v)
{
    size_t n = strlen(v);

    if (n >= 2 && ((v[0] == '"' && v[n - 1] == '"') || (v[0] == '\'' && v[n - 1] == '\''))) {
        v[n - 1] = '\0';
        return v + 1;
    }
    return v;
}

int cfg_load_string(struct gw_config *c, const char *name, const char *text,
                    struct cfg_errors *errs)
{
    char section[64] = "";
    const char *p = text;
    int lineno = 0, bad = 0;

    while (*p != '\0') {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        char line[4096], *s, *eq, *key, *val;
        const struct cfg_key *k;
        char why[256];

        lineno++;
        if (len >= sizeof(line)) {
            add_err(errs, "%s:%d: line longer than %zu characters", name, lineno, sizeof(line) - 1);
            bad = 1;
            goto next;
        }
        memcpy(line, p, len);
        line[len] = '\0';
        s = gw_trim(line);
        if (*s == '\0' || *s == '#' || *s == ';')
            goto next;
        if (*s == '[') {
            char *close = strchr(s, ']');

            if (close == NULL || close[1] != '\0') {
                add_err(errs, "%s:%d: malformed section header '%s'", name, lineno, s);
                bad = 1;
                section[0] = '\0';
                goto next;
            }
            *close = '\0';
            if (gw_strlcpy(section, gw_trim(s + 1), sizeof(section)) != 0)
                section[0] = '\0';
            if (!section_known(section)) {
                add_err(errs, "%s:%d: unknown section [%s]", name, lineno, section);
                bad = 1;
            }
            goto next;
        }
        eq = strchr(s, '=');
        if (eq == NULL) {
            add_err(errs, "%s:%d: expected 'key = value', got '%s'", name, lineno, s);
            bad = 1;
            goto next;
        }
        *eq = '\0';
        key = gw_trim(s);
        val = unquote(gw_trim(eq + 1));
        if (section[0] == '\0') {
            add_err(errs, "%s:%d: key '%s' is outside any [section]", name, lineno, key);
            bad = 1;
            goto next;
        }
        k = find_key(section, key);
        if (k == NULL) {
            add_err(errs, "%s:%d: unknown key '%s' in [%s]", name, lineno, key, section);
            bad = 1;
            goto next;
        }
        if (set_value(c, k, val, why, sizeof(why)) != 0) {
            add_err(errs, "%s:%d: %s.%s: %s", name, lineno, section, key, why);
            bad = 1;
        }
next:
        p = nl ? nl + 1 : p + len;
    }
    return bad ? -1 : 0;
}

/* "MCPGW_SECTION_KEY" for a key, upper case. */
static void env_name(const struct cfg_key *k, char *var, size_t n)
{
    snprintf(var, n, "MCPGW_%s_%s", k->section, k->name);
    for (size_t j = 0; var[j] != '\0'; j++)
        var[j] = (char)toupper((unsigned char)var[j]);
}

static bool env_known(const char *name, size_t len)
{
    char var[128];

    for (size_t i = 0; i < GW_ARRAY_LEN(env_not_keys); i++)
        if (strlen(env_not_keys[i]) == len && strncmp(env_not_keys[i], name, len) == 0)
            return true;
    for (size_t i = 0; i < GW_ARRAY_LEN(keys); i++) {
        env_name(&keys[i], var, sizeof(var));
        if (strlen(var) == len && strncmp(var, name, len) == 0)
            return true;
    }
    return false;
}

/* A mistyped override would otherwise be ignored without a word. */
static void warn_unknown_env(struct cfg_errors *errs)
{
    for (char **e = environ; e != NULL && *e != NULL; e++) {
        const char *eq = strchr(*e, '=');
        size_t len = eq ? (size_t)(eq - *e) : strlen(*e);

        if (strncmp(*e, "MCPGW_", 6) != 0 || env_known(*e, len))
            continue;
        if (errs != NULL && errs->nwarn < CFG_MAX_WARNINGS)
            snprintf(errs->warn[errs->nwarn++], sizeof(errs->warn[0]),
                     "environment %.*s is not a configuration key (MCPGW_<SECTION>_<KEY>); ignored",
                     (int)(len > 128 ? 128 : len), *e);
    }
}

int cfg_apply_env(struct gw_config *c, struct cfg_errors *errs)
{
    int bad = 0;

    for (size_t i = 0; i < GW_ARRAY_LEN(keys); i++) {
        char var[128], why[256];
        const char *v;

        env_name(&keys[i], var, sizeof(var));
        v = getenv(var);
        if (v == NULL)
            continue;
        if (set_value(c, &keys[i], v, why, sizeof(why)) != 0) {
            add_err(errs, "environment %s (%s.%s): %s", var, keys[i].section, keys[i].name, why);
            bad = 1;
        }
    }
    warn_unknown_env(errs);
    return bad ? -1 : 0;
}


/* Key files are read now, before any responder forks: a bad key is a
 * configuration error at start and on reload, never a surprise at the first
 * request. */
static int load_key_file(struct gw_config *c, struct cfg_errors *errs, const char *name, const char *path,
                         unsigned char *key, size_t *keylen)
{
    char why[CFG_STR_MAX + 128];

    if (fleet_key_load(path, key, keylen, why, sizeof why) == 0)
        return 0;
    add_err(errs, "%s: %s: %s", c->path[0] ? c->path : "configuration", name, why);
    return -1;
}

static int read_file(const char *path, char **out, char *why, size_t n)
{
    FILE *f = fopen(path, "r");
    char *buf = NULL;
    long len;
    int rc = -1;

    if (f == NULL) {
        snprintf(why, n, "%s", strerror(errno));
        return -1;
    }
    if (fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
        snprintf(why, n, "cannot determine size");
        goto out;
    }
    if (len > 1024 * 1024) {
        snprintf(why, n, "larger than 1 MiB");
        goto out;
    }
    buf = malloc((size_t)len + 1);
    if (buf == NULL || fread(buf, 1, (size_t)len, f) != (size_t)len) {
        snprintf(why, n, "read failed");
        goto out;
    }
    buf[len] = '\0';
    if (memchr(buf, '\0', (size_t)len) != NULL) {
        snprintf(why, n, "contains a NUL byte");
        goto out;
    }
    *out = buf;
    buf = NULL;
    rc = 0;
out:
    free(buf);
    fclose(f);
    return rc;
}

int cfg_load(struct gw_config *c, const char *path, struct cfg_errors *errs)
{
    int bad = 0;

    cfg_defaults(c);
    if (path != NULL && path[0] != '\0') {
        char *text = NULL, why[256];

        if (read_file(path, &text, why, sizeof(why)) != 0) {
            add_err(errs, "%s: cannot read configuration: %s", path, why);
            return -1;
        }
        gw_strlcpy(c->path, path, sizeof(c->path));
        if (cfg_load_string(c, path, text, errs) != 0)
            bad = 1;
        free(text);
    }
    if (cfg_apply_env(c, errs) != 0)
        bad = 1;
    if (c->fcgi_socket[0] != '\0' && c->fcgi_listen[0] != '\0') {
        add_err(errs, "%s: fastcgi.socket and fastcgi.listen are both set; choose one",
                c->path[0] ? c->path : "configuration");
        bad = 1;
    }
    if (c->max_workers != 0 && c->max_workers < c->workers) {
        add_err(errs, "%s: fastcgi.max_workers %d is below fastcgi.workers %d",
                c->path[0] ? c->path : "configuration", c->max_workers, c->workers);
        bad = 1;
    }
    if (c->max_spare <= c->min_spare) {
        add_err(errs, "%s: fastcgi.max_spare %d must be above fastcgi.min_spare %d",
                c->path[0] ? c->path : "configuration", c->max_spare, c->min_spare);
        bad = 1;
    }
    if (c->res_db_reserved_api + c->res_db_reserved_mcp >= c->res_db_connections) {
        add_err(errs, "%s: resources.db_reserved_api %d + resources.db_reserved_mcp %d leave no shared "
                "database connections of resources.db_connections %d",
                c->path[0] ? c->path : "configuration", c->res_db_reserved_api, c->res_db_reserved_mcp,
                c->res_db_connections);
        bad = 1;
    }
    if (c->fleet_key_file[0] != '\0' &&
        load_key_file(c, errs, "security.fleet_key_file", c->fleet_key_file, c->fleet_key,
                      &c->fleet_key_len) != 0)
        bad = 1;
    if (c->input_state_key_file[0] != '\0' &&
        load_key_file(c, errs, "security.input_state_key_file", c->input_state_key_file,
                      c->input_state_key, &c->input_state_key_len) != 0)
        bad = 1;
    return bad ? -1 : 0;
}

const char *cfg_default_path(const char *cli_path)
{
    const char *env;

    if (cli_path != NULL && cli_path[0] != '\0')
        return cli_path;
    env = getenv("MCPGW_CONFIG");
    return (env != NULL && env[0] != '\0') ? env : NULL;
}

const char *cfg_list_next(const char *list, const char **cursor, char *buf, size_t n)
{
    const char *p = *cursor ? *cursor : list;

    while (p != NULL && *p != '\0') {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        char *t;

        *cursor = comma ? comma + 1 : p + len;
        if (len >= n)
            len = n - 1;
        memcpy(buf, p, len);
        buf[len] = '\0';
        t = gw_trim(buf);
        if (t != buf)
            memmove(buf, t, strlen(t) + 1);
        if (buf[0] != '\0')
            return buf;
        p = *cursor;
    }
    return NULL;
}

bool cfg_list_has(const char *list, const char *item)
{
    const char *cur = NULL;
    char buf[512];

    while (cfg_list_next(list, &cur, buf, sizeof(buf)) != NULL)
        if (strcmp(buf, item) == 0)
            return true;
    return false;
}

void cfg_diff(const struct gw_config *a, const struct gw_config *b,
              void (*changed)(const char *key, void *arg), void *arg)
{
    char name[128];

    for (size_t i = 0; i < GW_ARRAY_LEN(keys); i++) {
        const struct cfg_key *k = &keys[i];
        const char *fa = (const char *)a + k->offset, *fb = (const char *)b + k->offset;
        bool same = k->type == T_STR ? strcmp(fa, fb) == 0 : memcmp(fa, fb, k->size) == 0;

        if (!same) {
            snprintf(name, sizeof(name), "%s.%s", k->section, k->name);
            changed(name, arg);
        }
    }
}

void cfg_dump(const struct gw_config *c, void (*emit)(const char *line, void *arg), void *arg)
{
    const char *section = "";
    char line[CFG_STR_MAX + 128], masked[CFG_STR_MAX + 128];

    for (size_t i = 0; i < GW_ARRAY_LEN(keys); i++) {
        const struct cfg_key *k = &keys[i];
        const char *field = (const char *)c + k->offset;

        if (strcmp(section, k->section) != 0) {
            section = k->section;
            snprintf(line, sizeof(line), "[%s]", section);
            emit(line, arg);
        }
        switch (k->type) {
        case T_STR:
            snprintf(line, sizeof(line), "%s = %s", k->name, field);
            break;
        case T_INT:
            snprintf(line, sizeof(line), "%s = %d", k->name, *(const int *)field);
            break;
        case T_LONG:
            snprintf(line, sizeof(line), "%s = %ld", k->name, *(const long *)field);
            break;
        }
        gw_mask_secrets(line, masked, sizeof(masked));
        emit(masked, arg);
    }
}

void cfg_describe(void (*fn)(const struct cfg_keyinfo *k, void *arg), void *arg)
{
    for (size_t i = 0; i < GW_ARRAY_LEN(keys); i++) {
        struct cfg_keyinfo info = {
            keys[i].section, keys[i].name, keys[i].type == T_STR ? "string" : "integer",
            keys[i].def, keys[i].help, keys[i].min, keys[i].max,
        };

        fn(&info, arg);
    }
}

/* --- validators --------------------------------------------------------- */

static int v_url(const char *v, char *why, size_t n)
{
    if (!gw_has_prefix(v, "https://") && !gw_has_prefix(v, "http://")) {
        snprintf(why, n, "'%s' is not an http(s):// URL", v);
        return -1;
    }
    return 0;
}

static int v_redis_url(const char *v, char *why, size_t n)
{
    if (!gw_has_prefix(v, "redis://") && !gw_has_prefix(v, "unix://")) {
        snprintf(why, n, "'%s' is not redis://host:port[/db] or unix://[[user]:password@]/path", v);
        return -1;
    }
    return 0;
}

static int v_plane(const char *v, char *why, size_t n)
{
    if (strcmp(v, "api") != 0 && strcmp(v, "mcp") != 0 && strcmp(v, "both") != 0) {
        snprintf(why, n, "'%s' is not one of api, mcp, both", v);
        return -1;
    }
    return 0;
}

static int v_log_level(const char *v, char *why, size_t n)
{
    if (strcmp(v, "debug") && strcmp(v, "info") && strcmp(v, "warn") && strcmp(v, "error")) {
        snprintf(why, n, "'%s' is not one of debug, info, warn, error", v);
        return -1;
    }
    return 0;
}

static int v_listen(const char *v, char *why, size_t n)
{
    const char *colon = strrchr(v, ':');
    char host[64];
    long port;
    char *end;

    if (colon == NULL || (size_t)(colon - v) >= sizeof(host)) {
        snprintf(why, n, "'%s' is not HOST:PORT", v);
        return -1;
    }
    memcpy(host, v, (size_t)(colon - v));
    host[colon - v] = '\0';
    port = strtol(colon + 1, &end, 10);
    if (*end != '\0' || port < 1 || port > 65535) {
        snprintf(why, n, "'%s' has no valid port", v);
        return -1;
    }
    if (host[0] == '\0') {
        snprintf(why, n, "'%s' names no host; an empty host would listen on every interface", v);
        return -1;
    }
    return 0;
}

static int v_jwks_uri(const char *v, char *why, size_t n)
{
    if (gw_has_prefix(v, "https://") || gw_has_prefix(v, "file://"))
        return 0;
    if (gw_has_prefix(v, "http://")) {
        char host[256];
        const char *h = v + 7, *end = h;
        size_t len;

        if (*h == '[') {
            end = strchr(h, ']');
            if (end == NULL)
                goto bad;
            h++;
        } else {
            while (*end != '\0' && *end != ':' && *end != '/')
                end++;
        }
        len = (size_t)(end - h);
        if (len == 0 || len >= sizeof(host))
            goto bad;
        memcpy(host, h, len);
        host[len] = '\0';
        if (gw_host_is_loopback(host))
            return 0;
        snprintf(why, n, "http:// is allowed only to loopback, not '%s'", host);
        return -1;
    }
bad:
    snprintf(why, n, "'%s' is not https://, http:// on loopback, or file://", v);
    return -1;
}

static int v_prefix(const char *v, char *why, size_t n)
{
    for (const char *p = v; *p != '\0'; p++) {
        if (!isalnum((unsigned char)*p) && *p != ':' && *p != '_' && *p != '-' && *p != '.') {
            snprintf(why, n, "'%s' may hold only letters, digits and : _ - .", v);
            return -1;
        }
    }
    return 0;
}

static int v_mode(const char *v, char *why, size_t n)
{
    char *end;
    long m = strtol(v, &end, 8);

    if (*end != '\0' || m < 0 || m > 0777 || (m & 0007) != 0) {
        snprintf(why, n, "'%s' is not an octal mode without rights for others (such as 0660)", v);
        return -1;
    }
    return 0;
}

static int v_role_map(const char *v, char *why, size_t n)
{
    return auth_role_map_check(v, why, n);
}

static int v_networks(const char *v, char *why, size_t n)
{
    return up_networks_check(v, why, n);
}

static int v_metrics_access(const char *v, char *why, size_t n)
{
    if (strcmp(v, "public") == 0 || strcmp(v, "loopback") == 0 ||
        (strncmp(v, "role:", 5) == 0 && auth_role_parse(v + 5) != 0))
        return 0;
    snprintf(why, n, "'%s' is not public, loopback or role:NAME with a gateway role", v);
    return -1;
}
