/* Gateway configuration: an INI file plus MCPGW_<SECTION>_<KEY> environment
 * overrides, described by one table of keys (name, type, default, validator). */
#ifndef GW_CONFIG_H
#define GW_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include "fleet_key.h"

#define CFG_STR_MAX 1024
#define CFG_MAX_ERRORS 32
#define CFG_MAX_WARNINGS 16

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
    int ready_timeout_ms;            /* /health/ready budget for both stores */

    /* [fastcgi] */
    char fcgi_socket[CFG_STR_MAX];
    char fcgi_listen[128];
    int workers;
    int max_workers;                 /* pool grows up to this; 0 = workers */
    int min_spare;                   /* fewer idle responders: fork more */
    int max_spare;                   /* more idle: retire extras */
    int idle_timeout;                /* seconds an extra stays idle before it is retired */
    char plane[8];                   /* api | mcp | both */
    int backlog;
    int drain_timeout;               /* seconds a stopping responder may finish */
    char fcgi_socket_mode[8];        /* octal, e.g. 0660 */
    char fcgi_socket_group[64];      /* group that may connect (the web server's) */
    char fcgi_user[64];              /* responders switch to this user when started as root */
    char fcgi_group[64];
    int fcgi_allow_root;
    int fcgi_read_timeout_ms;        /* params + body deadline from the connection */

    /* [redis] */
    char redis_url[CFG_STR_MAX];
    char redis_prefix[64];
    int redis_timeout_ms;
    char redis_sentinels[CFG_STR_MAX];       /* host:port,... ; "" = connect to url */
    char redis_master_name[128];

    /* [postgres] */
    char pg_dsn[CFG_STR_MAX];
    char pg_replica_dsn[CFG_STR_MAX];
    int pg_connect_timeout;

    /* [auth] */
    char auth_issuer[CFG_STR_MAX];   /* may contain {tid} (Entra multi-tenant) */
    char auth_jwks_uri[CFG_STR_MAX];
    char auth_audiences[CFG_STR_MAX];        /* comma-separated */
    char auth_allowed_tenants[CFG_STR_MAX];  /* comma-separated, "*" = any */
    char auth_role_map[CFG_STR_MAX];         /* token role=gateway role,... */
    char auth_scope_map[CFG_STR_MAX];        /* scope=gateway role,...; "" = none */
    int auth_clock_skew;
    char auth_ca_file[CFG_STR_MAX];  /* CA bundle for https:// JWKS, "" = system */
    int auth_jwks_timeout_ms;
    int auth_jwks_max_age;           /* seconds a fetched JWKS is trusted, all caches */
    char auth_dev_issuer_key[CFG_STR_MAX];   /* RSA private key PEM; "" = off */
    char auth_authorization_servers[CFG_STR_MAX]; /* RFC 9728, comma-separated */
    char auth_scopes_supported[CFG_STR_MAX];      /* RFC 9728, comma-separated */

    /* [session] */
    int session_ttl;
    int stream_seconds;
    int keepalive_seconds;
    int stream_max_len;

    /* [mcp] */
    int mcp_page_size;                       /* items per page of the lists on /mcp */
    int mcp_list_ttl_ms;                     /* ttlMs of 2026-07-28 lists and server/discover */
    /* [audit] */
    char audit_spool_fallback[CFG_STR_MAX]; /* records Redis refused; "" = warn log only */
    int audit_batch;                 /* most records per audit_log transaction */
    int audit_batch_wait_ms;         /* longest a batch waits to fill */
    int audit_claim_idle_ms;         /* a record pending this long on a consumer is taken over */

    /* [leader], [events] */
    int leader_lease_ttl_ms;         /* the fleet leader's Redis lease */
    int leader_health_period_ms;     /* periods of the leader's jobs */
    int leader_catalog_period_ms;
    int leader_events_period_ms;
    int leader_cleanup_period_ms;
    int events_max_attempts;         /* per agent, before failed */
    int events_retry_ms;             /* wait after a failed delivery */

    /* [limits] */
    long body_max;
    int json_depth;
    int header_max;
    int token_max;

    /* [resources] the seed's pools, fleet-wide */
    int res_db_connections;          /* database_connections: the whole pool */
    int res_db_reserved_api;         /* its share kept for the management plane */
    int res_db_reserved_mcp;         /* its share kept for the MCP plane; the rest is shared */
    int res_redis_connections;
    int res_oauth_validations;       /* oauth_tokens: concurrent validations */
    int res_lease_seconds;           /* an allocation's lease */

    /* [upstream] */
    char upstream_allowed_networks[CFG_STR_MAX]; /* CIDR list open to registration */
    int upstream_timeout_ms;                     /* one whole exchange (discovery, probe) */
    int upstream_connect_timeout_ms;
    int upstream_refresh_parallel;               /* discoveries at once in a catalog refresh */
    /* [metrics] */
    char metrics_access[64];                 /* public | loopback | role:NAME */
    char upstream_ca_file[CFG_STR_MAX];          /* CA bundle for https:// upstreams, "" = system */

    /* [security] */
    char allowed_origins[CFG_STR_MAX];       /* comma-separated */
    char allowed_hosts[CFG_STR_MAX];         /* comma-separated host names */
    char fleet_key_file[CFG_STR_MAX];        /* "" = nothing in Redis is MAC'd or trusted */
    /* Loaded by cfg_load from fleet_key_file: never printed or logged. */
    unsigned char fleet_key[FLEET_KEY_MAX];
    size_t fleet_key_len;
    char secret_key_file[CFG_STR_MAX];       /* AES-256-GCM key for upstream credentials */
    /* Multi-round-trip input (MCP 2026-07-28): the key that seals the
     * requestState handed to clients; "" = input-required results are not relayed. */
    char input_state_key_file[CFG_STR_MAX];
    unsigned char input_state_key[FLEET_KEY_MAX]; /* loaded by cfg_load, never logged */
    size_t input_state_key_len;

    /* [gates] quality gates (src/gates.c) */
    char gates_probe_key[CFG_STR_MAX];       /* RSA key of a trusted issuer; "" = auth.dev_issuer_key */
    char gates_probe_tenant[128];            /* tenant of the probe identities */
    char gates_probe_other_tenant[128];      /* the tenant the isolation probe reads from */
    int gates_timeout_ms;                    /* one probe request */
    int gates_db_p95_ms;                     /* database_performance_validation limit */
};

struct cfg_errors {
    int n;
    char msg[CFG_MAX_ERRORS][512];
    int nwarn;                        /* not errors: the configuration loads */
    char warn[CFG_MAX_WARNINGS][256];
};

void cfg_defaults(struct gw_config *c);
/* Defaults, then the file (NULL or "" = none), then the environment.
 * Returns 0, or -1 with every problem in errs (file, line and key named). */
int cfg_load(struct gw_config *c, const char *path, struct cfg_errors *errs);
/* Parse INI text (for tests); name is used in messages. */
int cfg_load_string(struct gw_config *c, const char *name, const char *text,
                    struct cfg_errors *errs);
/* MCPGW_<SECTION>_<KEY> overrides; an MCPGW_ variable that is neither a key
 * nor one of the known non-configuration variables is a warning naming it. */
int cfg_apply_env(struct gw_config *c, struct cfg_errors *errs);
/* The file named by --config, else $MCPGW_CONFIG, else NULL. */
const char *cfg_default_path(const char *cli_path);

/* Comma-separated list membership, white space ignored, exact match. */
bool cfg_list_has(const char *list, const char *item);
/* Iterate a comma-separated list: returns the next item in buf, or NULL. */
const char *cfg_list_next(const char *list, const char **cursor, char *buf, size_t n);

/* One key of the table, for generated documentation (example file, man page). */
struct cfg_keyinfo {
    const char *section;
    const char *name;
    const char *type;        /* "string", "integer" */
    const char *def;         /* default, "" for none */
    const char *help;
    long min, max;           /* integers */
};
/* Call fn for every key, in table order. */
void cfg_describe(void (*fn)(const struct cfg_keyinfo *k, void *arg), void *arg);

/* Write the whole table ("[section]\nkey = value") for `config` output;
 * passwords in URLs and DSNs are masked. */
/* Call changed("section.key") for every key whose value differs. */
void cfg_diff(const struct gw_config *a, const struct gw_config *b,
              void (*changed)(const char *key, void *arg), void *arg);

/* Write the whole table ("[section]\nkey = value") for `config` output. */
void cfg_dump(const struct gw_config *c, void (*emit)(const char *line, void *arg), void *arg);

#endif
