/* Validation of a loaded configuration against the real world: PostgreSQL and
 * Redis reachable, migrations applied, certificate and key files usable. */
#include "validate.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/err.h>
#include <libpq-fe.h>
#include <hiredis/hiredis.h>

#include "auth_jwks.h"
#include "config.h"
#include "secrets.h"
#include "store_pg.h"
#include "store_redis.h"
#include "util.h"

/* A store's error may quote its DSN or URL: never print the password. */
static void store_error(FILE *out, const char *key, const char *err)
{
    char masked[600];

    gw_mask_secrets(err, masked, sizeof(masked));
    fprintf(out, "error: %s: %s\n", key, masked);
}

static int check_postgres(const struct gw_config *cfg, FILE *out)
{
    char err[512];
    PGconn *c = pg_connect_dsn(cfg->pg_dsn, cfg->pg_connect_timeout, err, sizeof(err));
    PGresult *r;
    int bad = 0;

    if (c == NULL) {
        store_error(out, "postgres.dsn", err);
        return 1;
    }
    r = PQexec(c, "SELECT count(*) FROM schema_migrations");
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        fprintf(out, "error: postgres: the schema is not migrated; run `mcp-gateway migrate`\n");
        bad = 1;
    }
    PQclear(r);
    PQfinish(c);
    if (cfg->pg_replica_dsn[0] != '\0') {
        c = pg_connect_dsn(cfg->pg_replica_dsn, cfg->pg_connect_timeout, err, sizeof(err));
        if (c == NULL) {
            store_error(out, "postgres.replica_dsn", err);
            bad++;
        } else {
            PQfinish(c);
        }
    }
    return bad;
}

static int check_redis(const struct gw_config *cfg, FILE *out)
{
    char err[512];
    redisContext *c = rds_connect_cfg(cfg, cfg->redis_timeout_ms, err, sizeof(err));
    redisReply *r;
    int bad = 0;

    if (c == NULL) {
        store_error(out, "redis.url", err);
        return 1;
    }
    r = redisCommand(c, "PING");
    if (r == NULL || r->type != REDIS_REPLY_STATUS) {
        store_error(out, "redis.url: PING failed", r && r->str ? r->str : c->errstr);
        bad = 1;
    }
    if (r)
        freeReplyObject(r);
    redisFree(c);
    return bad;
}

static int readable(const char *key, const char *path, FILE *out)
{
    if (access(path, R_OK) != 0) {
        fprintf(out, "error: %s: %s: %s\n", key, path, strerror(errno));
        return 0;
    }
    return 1;
}

static int check_tls(const struct gw_config *cfg, FILE *out)
{
    X509 *cert = NULL;
    EVP_PKEY *key = NULL;
    FILE *f;
    int bad = 0;

    if (cfg->tls_cert[0] != '\0') {
        if (!readable("server.tls_cert", cfg->tls_cert, out)) {
            bad++;
        } else if ((f = fopen(cfg->tls_cert, "r")) != NULL) {
            cert = PEM_read_X509(f, NULL, NULL, NULL);
            fclose(f);
            if (cert == NULL) {
                fprintf(out, "error: server.tls_cert: %s holds no PEM certificate\n", cfg->tls_cert);
                bad++;
            } else if (X509_cmp_current_time(X509_get0_notAfter(cert)) < 0) {
                fprintf(out, "error: server.tls_cert: %s has expired\n", cfg->tls_cert);
                bad++;
            }
        }
    }
    if (cfg->tls_key[0] != '\0') {
        if (!readable("server.tls_key", cfg->tls_key, out)) {
            bad++;
        } else if ((f = fopen(cfg->tls_key, "r")) != NULL) {
            key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
            fclose(f);
            if (key == NULL) {
                fprintf(out, "error: server.tls_key: %s holds no PEM private key\n", cfg->tls_key);
                bad++;
            }
        }
    }
    if (cert != NULL && key != NULL && X509_check_private_key(cert, key) != 1) {
        fprintf(out, "error: server.tls_key: %s does not match server.tls_cert %s\n", cfg->tls_key,
                cfg->tls_cert);
        bad++;
    }
    ERR_clear_error();
    X509_free(cert);
    EVP_PKEY_free(key);
    if (cfg->ca_file[0] != '\0' && !readable("server.ca_file", cfg->ca_file, out))
        bad++;
    if (cfg->auth_ca_file[0] != '\0' && !readable("auth.ca_file", cfg->auth_ca_file, out))
        bad++;
    return bad;
}

static void check_probe_key_for_responders(const struct gw_config *cfg, FILE *out);

static int check_auth(const struct gw_config *cfg, FILE *out)
{
    int bad = 0;

    if (cfg->auth_jwks_uri[0] == '\0' && cfg->auth_issuer[0] == '\0') {
        fprintf(out, "warning: auth: no issuer is configured; every authenticated route will answer 401\n");
        return 0;
    }
    if (cfg->auth_jwks_uri[0] == '\0') {
        fprintf(out, "error: auth.jwks_uri: not set while auth.issuer is\n");
        bad++;
    }
    if (cfg->auth_issuer[0] == '\0') {
        fprintf(out, "error: auth.issuer: not set while auth.jwks_uri is\n");
        bad++;
    }
    if (cfg->auth_audiences[0] == '\0') {
        fprintf(out, "error: auth.audiences: not set; no token could be accepted\n");
        bad++;
    }
    if (gw_has_prefix(cfg->auth_jwks_uri, "file://") &&
        !readable("auth.jwks_uri", cfg->auth_jwks_uri + 7, out)) {
        bad++;
    } else if (cfg->auth_jwks_uri[0] != '\0') {
        char err[512];

        /* Readable is not enough: a token can only be verified with a key. */
        if (jwks_check(cfg, cfg->auth_jwks_uri, err, sizeof(err)) != 0) {
            fprintf(out, "error: auth.jwks_uri: %s\n", err);
            bad++;
        }
    }
    if (cfg->auth_dev_issuer_key[0] != '\0') {
        fprintf(out, "warning: auth.dev_issuer_key: the development token issuer is ON; "
                     "never use it in production\n");
        if (!readable("auth.dev_issuer_key", cfg->auth_dev_issuer_key, out))
            bad++;
    }
    /* The quality gates sign their probe tokens with it. */
    if (cfg->gates_probe_key[0] != '\0' && !readable("gates.probe_key", cfg->gates_probe_key, out))
        bad++;
    else
        check_probe_key_for_responders(cfg, out);
    return bad;
}

/* Whether the responders may read PATH when `serve` runs as root and switches
 * to fastcgi.user (and fastcgi.group): owner, group (primary or supplementary,
 * as the supervisor sets them) or other read bit. 1 when they may, or when
 * nothing is switched; 0 with why filled otherwise. */
static int responders_can_read(const struct gw_config *cfg, const char *path, char *why,
                               size_t n)
{
    struct passwd *pw;
    struct group *gr;
    struct stat st;
    gid_t gid, groups[64];
    int ngroups = (int)GW_ARRAY_LEN(groups);

    if (geteuid() != 0 || cfg->fcgi_user[0] == '\0' || stat(path, &st) != 0)
        return 1;
    pw = getpwnam(cfg->fcgi_user);
    if (pw == NULL || pw->pw_uid == 0)
        return 1;   /* serve itself names a missing user */
    if (st.st_uid == pw->pw_uid)
        return (st.st_mode & S_IRUSR) != 0 ? 1 :
               (snprintf(why, n, "its owner %s has no read permission", cfg->fcgi_user), 0);
    gid = pw->pw_gid;
    if (cfg->fcgi_group[0] != '\0' && (gr = getgrnam(cfg->fcgi_group)) != NULL)
        gid = gr->gr_gid;
    if (getgrouplist(cfg->fcgi_user, gid, groups, &ngroups) < 0)
        ngroups = 0;
    for (int i = 0; i < ngroups; i++)
        if (groups[i] == st.st_gid)
            return (st.st_mode & S_IRGRP) != 0 ? 1 :
                   (snprintf(why, n, "mode %04o gives its group no read permission",
                             (unsigned)(st.st_mode & 07777)), 0);
    if ((st.st_mode & S_IROTH) != 0)
        return 1;
    gr = getgrgid(st.st_gid);
    snprintf(why, n, "it is mode %04o, owned by uid %d and group %s, which fastcgi.user %s "
                     "is not in", (unsigned)(st.st_mode & 07777), (int)st.st_uid,
             gr != NULL ? gr->gr_name : "?", cfg->fcgi_user);
    return 0;
}

/* Gate runs through the API and MCP sign their probe tokens in a responder:
 * a key only root reads leaves them an error on every check that needs a
 * token (mcp-gateway gate, run as root, still signs). A warning: the CLI may
 * be all a deployment uses. */
static void check_probe_key_for_responders(const struct gw_config *cfg, FILE *out)
{
    const char *key = cfg->gates_probe_key[0] != '\0' ? "gates.probe_key" : "auth.dev_issuer_key";
    const char *path = cfg->gates_probe_key[0] != '\0' ? cfg->gates_probe_key : cfg->auth_dev_issuer_key;
    char why[256];

    if (path[0] == '\0' || access(path, R_OK) != 0 || responders_can_read(cfg, path, why, sizeof(why)))
        return;
    fprintf(out, "warning: %s: the responders (fastcgi.user %s) cannot read %s, the gates' probe key: %s; "
                 "gate runs through the API and MCP cannot sign probe tokens (set gates.probe_key to a "
                 "copy of the key, chown root:%s and chmod 0640)\n", key, cfg->fcgi_user, path, why,
            cfg->fcgi_group[0] != '\0' ? cfg->fcgi_group : cfg->fcgi_user);
}

/* Without the key, servers with credentials can be neither registered nor
 * reached: say so now rather than on the first registration. */
static int check_secret_key(const struct gw_config *cfg, FILE *out)
{
    struct sec_key key;
    char why[512];

    if (cfg->secret_key_file[0] == '\0') {
        fprintf(out, "warning: security.secret_key_file is not set: servers with credentials "
                     "cannot be registered\n");
        return 0;
    }
    if (sec_key_load(cfg->secret_key_file, &key, why, sizeof(why)) != 0) {
        fprintf(out, "error: security.secret_key_file: %s\n", why);
        return 1;
    }
    sec_key_wipe(&key);
    /* The responders open it themselves, after serve switched to fastcgi.user. */
    if (!responders_can_read(cfg, cfg->secret_key_file, why, sizeof(why))) {
        fprintf(out, "error: security.secret_key_file: the responders (fastcgi.user %s) cannot "
                     "read %s: %s; chown root:%s and chmod 0640\n", cfg->fcgi_user,
                cfg->secret_key_file, why,
                cfg->fcgi_group[0] != '\0' ? cfg->fcgi_group : cfg->fcgi_user);
        return 1;
    }
    return 0;
}

static int check_fleet_key(const struct gw_config *cfg, FILE *out)
{
    struct stat st;

    /* A bad key file never gets here: loading the configuration refused it. */
    if (cfg->fleet_key_file[0] == '\0') {
        fprintf(out, "warning: security.fleet_key_file: not set; the JWKS is not cached in Redis "
                     "and every responder fetches it from the issuer\n");
        return 0;
    }
    if (stat(cfg->fleet_key_file, &st) == 0 && (st.st_mode & S_IROTH) != 0)
        fprintf(out, "warning: security.fleet_key_file: %s is readable by every local user\n",
                cfg->fleet_key_file);
    return 0;
}

/* A file holding credentials or a private key must not be open to every
 * local user (0640 root:<service group> at most). */
static int private_file(const char *key, const char *path, FILE *out)
{
    struct stat st;

    if (path[0] == '\0' || stat(path, &st) != 0)
        return 0;   /* missing files are reported by the checks that read them */
    if ((st.st_mode & 0007) != 0) {
        fprintf(out, "error: %s: %s is open to every local user (mode %04o); "
                     "chmod 0640 and give it to root and the service's group\n",
                key, path, (unsigned)(st.st_mode & 07777));
        return 1;
    }
    return 0;
}

static int check_ports(const struct gw_config *cfg, FILE *out)
{
    if (cfg->api_port == cfg->mcp_port) {
        fprintf(out, "error: server.api_port and server.mcp_port are both %d\n", cfg->api_port);
        return 1;
    }
    return 0;
}

int validate_config(const struct gw_config *cfg, FILE *out)
{
    int errors = check_ports(cfg, out);

    errors += private_file("configuration", cfg->path, out);
    errors += private_file("server.tls_key", cfg->tls_key, out);
    errors += private_file("auth.dev_issuer_key", cfg->auth_dev_issuer_key, out);
    errors += private_file("gates.probe_key", cfg->gates_probe_key, out);
    if (cfg->fcgi_socket[0] != '\0') {
        char dir[CFG_STR_MAX], *slash;

        gw_strlcpy(dir, cfg->fcgi_socket, sizeof(dir));
        slash = strrchr(dir, '/');
        if (slash != NULL) {
            *slash = '\0';
            if (dir[0] != '\0' && access(dir, W_OK) != 0) {
                fprintf(out, "error: fastcgi.socket: directory %s is not writable: %s\n", dir,
                        strerror(errno));
                errors++;
            }
        }
    }
    errors += check_tls(cfg, out);
    errors += check_auth(cfg, out);
    errors += check_secret_key(cfg, out);
    errors += check_fleet_key(cfg, out);
    errors += check_postgres(cfg, out);
    errors += check_redis(cfg, out);
    return errors;
}

static void clamp(int *v, int max)
{
    if (*v > max)
        *v = max;
}

int validate_reload(const struct gw_config *old, const struct gw_config *fresh, FILE *out)
{
    struct gw_config c = *fresh;
    int errors;

    /* The supervisor neither reaps nor respawns while it checks. */
    clamp(&c.pg_connect_timeout, 2);
    clamp(&c.redis_timeout_ms, 2000);
    clamp(&c.auth_jwks_timeout_ms, 3000);
    errors = check_ports(&c, out) + check_tls(&c, out) + check_auth(&c, out);
    /* A store that stays where it was is in use by the running responders,
     * which reconnect by themselves: only a moved one is worth refusing for. */
    if (strcmp(old->pg_dsn, c.pg_dsn) != 0 || strcmp(old->pg_replica_dsn, c.pg_replica_dsn) != 0)
        errors += check_postgres(&c, out);
    if (strcmp(old->redis_url, c.redis_url) != 0)
        errors += check_redis(&c, out);
    return errors;
}
