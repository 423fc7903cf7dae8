/* Gateway configuration: an INI file plus MCPGW_<SECTION>_<KEY> environment
 * overrides, described by one table of keys (name, type, default, validator). */
#ifndef GW_CONFIG_H
#define GW_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#define CFG_STR_MAX 1024
#define CFG_MAX_ERRORS 32

struct gw_config {
    char path[CFG_STR_MAX];          /* file it was read from, "" for none */

    /* [server] */
    char api_url[CFG_STR_MAX];       /* public base URL of the management plane */
    char mcp_url[CFG_STR_MAX];       /* public base URL of the MCP plane */
    int api_port;
    int mcp_port;
    char tls_cert[CFG_STR_MAX];
    char tls_key[CFG_STR_MAX];
    char ca_file[CFG_STR_MAX];       /* CA that signs our own planes' certificate */
    char log_level[16];
    char log_file[CFG_STR_MAX];

    /* [fastcgi] */
    char fcgi_socket[CFG_STR_MAX];
    char fcgi_listen[128];
    int workers;
    char plane[8];                   /* api | mcp | both */
    int backlog;
    int drain_timeout;               /* seconds a stopping responder may finish */

    /* [redis] */
    char redis_url[CFG_STR_MAX];
    char redis_prefix[64];
    int redis_timeout_ms;

    /* [postgres] */
    char pg_dsn[CFG_STR_MAX];
    char pg_replica_dsn[CFG_STR_MAX];
    int pg_connect_timeout;

    /* [auth] */
    char auth_issuer[CFG_STR_MAX];   /* may contain {tid} (Entra multi-tenant) */
    char auth_jwks_uri[CFG_STR_MAX];
    char auth_audiences[CFG_STR_MAX];        /* comma-separated */
    char auth_allowed_tenants[CFG_STR_MAX];  /* comma-separated, "*" = any */
    char auth_role_map[CFG_STR_MAX];         /* claim=role,... */
    int auth_clock_skew;
    char auth_ca_file[CFG_STR_MAX];  /* CA bundle for https:// JWKS, "" = system */
    int auth_jwks_timeout_ms;
    char auth_dev_issuer_key[CFG_STR_MAX];   /* RSA private key PEM; "" = off */
    char auth_authorization_servers[CFG_STR_MAX]; /* RFC 9728, comma-separated */
    char auth_scopes_supported[CFG_STR_MAX];      /* RFC 9728, comma-separated */

    /* [session] */
    int session_ttl;

    /* [limits] */
    long body_max;
    int json_depth;
    int header_max;
    int token_max;

    /* [upstream] */
    char upstream_allowed_networks[CFG_STR_MAX]; /* CIDR list open to registration */
    int upstream_timeout_ms;                     /* one whole exchange (discovery, probe) */
    int upstream_connect_timeout_ms;
    char upstream_ca_file[CFG_STR_MAX];          /* CA bundle for https:// upstreams, "" = system */

    /* [security] */
    char allowed_origins[CFG_STR_MAX];       /* comma-separated */
    char secret_key_file[CFG_STR_MAX];       /* AES-256-GCM key for upstream credentials */
};

struct cfg_errors {
    int n;
    char msg[CFG_MAX_ERRORS][512];
};

void cfg_defaults(struct gw_config *c);
/* Defaults, then the file (NULL or "" = none), then the environment.
 * Returns 0, or -1 with every problem in errs (file, line and key named). */
int cfg_load(struct gw_config *c, const char *path, struct cfg_errors *errs);
/* Parse INI text (for tests); name is used in messages. */
int cfg_load_string(struct gw_config *c, const char *name, const char *text,
                    struct cfg_errors *errs);
int cfg_apply_env(struct gw_config *c, struct cfg_errors *errs);
/* The file named by --config, else $MCPGW_CONFIG, else NULL. */
const char *cfg_default_path(const char *cli_path);

/* Comma-separated list membership, white space ignored, exact match. */
bool cfg_list_has(const char *list, const char *item);
/* Iterate a comma-separated list: returns the next item in buf, or NULL. */
const char *cfg_list_next(const char *list, const char **cursor, char *buf, size_t n);

/* Write the whole table ("[section]\nkey = value") for `config` output. */
void cfg_dump(const struct gw_config *c, void (*emit)(const char *line, void *arg), void *arg);

#endif
