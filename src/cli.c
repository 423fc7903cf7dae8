/* The mcp-gateway command: serve (pre-fork supervisor), fcgi (one responder on
 * fd 0, or CGI), migrate, validate, token, jwks, health, config, version. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <curl/curl.h>

#include "build-config.h"
#include "app.h"
#include "audit_spool.h"
#include "auth.h"
#include "cli_api.h"
#include "config.h"
#include "gates.h"
#include "js.h"
#include "health.h"
#include "log.h"
#include "manual.h"
#include "mcp/catalog.h"
#include "orch.h"
#include "registry.h"
#include "responder.h"
#include "router.h"
#include "store_pg.h"
#include "supervisor.h"
#include "util.h"
#include "validate.h"

/* Every command, for --help and mcp-gateway(1): one table, so they agree. */
static const struct man_command commands[] = {
    { "serve", "[--plane api|mcp|both] [--socket PATH | --listen 127.0.0.1:PORT] [--workers N] "
               "[--max-workers N] [--pid-file FILE]",
      "run the pre-fork FastCGI supervisor: opens the socket (fastcgi.socket_mode, "
      "fastcgi.socket_group), runs the responders as fastcgi.user when started as root, "
      "replaces any that die, grows the pool up to --max-workers (fastcgi.max_workers) while "
      "responders are busy and retires idle extras, runs the monitor that writes the audit of "
      "tool calls, reloads on SIGHUP, drains on SIGTERM" },
    { "fcgi", "", "run one responder on fd 0 (spawn-fcgi, mod_fcgid) or as CGI" },
    { "migrate", "[--dir DIR]", "apply database migrations (alias: setup)" },
    { "validate", "", "check configuration and connectivity; exit 1 on any problem" },
    { "token", "[--sub --tenant --roles --scopes --ttl --aud --client]", "mint a development token" },
    { "jwks", "", "print the development issuer's public JWKS" },
    { "health", "", "check every component now; exit 1 when unhealthy" },
    { "config", "[--example]",
      "print the effective configuration (passwords masked), or an example file with "
      "every key and its help" },
    { "rekey", "--new-key FILE", "re-seal every stored upstream credential under the key in FILE, "
                                 "in one transaction" },
    { "man", "mcp-gateway|gateway.conf", "print the man page mcp-gateway(1) or gateway.conf(5) "
                                         "in roff" },
    { "servers", "list|get|register|remove|refresh ...",
      "list, show, register, remove or refresh upstream servers through the management API "
      "(MCPGW_API_URL, MCPGW_TOKEN, MCPGW_CA_FILE); servers --help for the options" },
    { "catalog", "refresh [--json]",
      "discover every upstream server in the caller's scope again, in parallel, through the "
      "management API; lists what was refreshed and what is unavailable, and why" },
    { "events", "raise TYPE [--data JSON] [--tenant ID | --platform] [--json] | show ID [--json]",
      "raise an event for the agents the event routing table names, or show an event's delivery "
      "status per agent, through the management API; events --help for the options" },
    { "import", "FILE [--header NAME=VALUE-FILE]... [--tenant ID | --shared] [--json]",
      "register the servers of an official MCP registry server.json that have a "
      "streamable-http remote, reporting each one imported or refused and why" },
    { "resources", "[--json]",
      "print the resource pools (the seed's and one per upstream) and their fleet-wide use "
      "through the management API" },
    { "report", "[--json]",
      "print the system report's overall health and recommendations through the management API; "
      "exit 1 when unhealthy or a recommendation is critical" },
    { "gate", "pre_deployment|post_deployment|security_validation [--json]",
      "run a quality gate against the running stack (the stores, and both planes through "
      "server.api_url and server.mcp_url) and store the run; prints each check's result; "
      "exit 0 when the gate passed, 1 when it failed" },
    { "tasks", "reap | delegate TYPE [CONTEXT-JSON]",
      "reap: reclaim the load leases of delegated tasks whose responder ended mid-delegation (the "
      "fleet leader does this periodically): the load is given back and each task marked failed; "
      "prints how many. delegate: run a task as the platform, as a deployment pipeline would: "
      "prints the agent's answer, exit 1 with the reason when it was refused or failed" },
    { "version", "", "print the version" },
    { "help", "", "print the list of commands" },
};

static void print_usage(FILE *out)
{
    fputs("usage: mcp-gateway [--config FILE] COMMAND [options]\n\ncommands:\n", out);
    for (size_t i = 0; i < GW_ARRAY_LEN(commands); i++) {
        fprintf(out, "  %-9s %s\n", commands[i].name, commands[i].help);
        if (commands[i].args[0] != '\0')
            fprintf(out, "            %s\n", commands[i].args);
    }
    fputs("\nThe configuration file comes from --config or MCPGW_CONFIG; every key can be\n"
          "overridden by MCPGW_<SECTION>_<KEY> in the environment.\n", out);
}

static int wants_help(int argc, char **argv)
{
    for (int j = 1; j < argc; j++)
        if (strcmp(argv[j], "--help") == 0 || strcmp(argv[j], "-h") == 0)
            return 1;
    return 0;
}

/* `mcp-gateway COMMAND --help`, from the same table as the command list and
 * mcp-gateway(1): answered before the configuration is read, so that help
 * works on a machine that is not set up yet. 0, or -1 for a command that is
 * not in the table (it answers --help itself). */
static int print_command_help(const char *cmd)
{
    if (strcmp(cmd, "setup") == 0)
        cmd = "migrate";
    for (size_t i = 0; i < GW_ARRAY_LEN(commands); i++) {
        if (strcmp(commands[i].name, cmd) != 0)
            continue;
        printf("usage: mcp-gateway %s%s%s\n\n%s.\n", cmd, commands[i].args[0] ? " " : "",
               commands[i].args, commands[i].help);
        return 0;
    }
    return -1;
}

/* What `serve` keeps for reloads: the file, and the flags that override it. */
struct serve_state {
    const char *config_path;
    const char *plane_flag;
    const char *socket_flag;
    const char *listen_flag;
    int workers_flag;
    int max_workers_flag;
    int file_workers;
    int file_max_workers;    /* fastcgi.max_workers likewise */        /* fastcgi.workers as the file said at the last load */
    struct gw_config cfg;
    enum gw_plane plane;
    struct sup_identity id;  /* who the responders run as */
};

static void print_errors(const struct cfg_errors *e)
{
    for (int i = 0; i < e->nwarn; i++)
        fprintf(stderr, "warning: %s\n", e->warn[i]);
    for (int i = 0; i < e->n; i++)
        fprintf(stderr, "error: %s\n", e->msg[i]);
}

static int load_config(const char *path, struct gw_config *cfg)
{
    struct cfg_errors errs = { 0 };
    int rc = cfg_load(cfg, cfg_default_path(path), &errs);

    print_errors(&errs);
    return rc == 0 ? 0 : -1;
}

static void setup_logging(const struct gw_config *cfg, const char *component)
{
    enum log_level lvl = LOG_LVL_INFO;

    log_level_parse(cfg->log_level, &lvl);
    log_init(component, lvl);
    /* Opened afresh each time (a reload after logrotate writes to the new
     * file); a log_file removed from the configuration means stderr again. */
    if (cfg->log_file[0] == '\0') {
        log_close_file();
    } else if (log_open_file(cfg->log_file) != 0) {
        log_close_file();
        log_warn("log_file", "cannot open log file %s: %s; logging to stderr", cfg->log_file,
                 strerror(errno));
    }
}

static void handle(void *arg, struct http_io *io)
{
    gw_handle(arg, io);
}

/* One responder: connections are opened lazily, after fork. */
static int run_responder(const struct gw_config *cfg, enum gw_plane plane, int fd,
                         volatile sig_atomic_t *stop)
{
    struct gw_app app;
    int rc;

    app_init(&app, cfg, plane);
    responder_signals(stop);
    responder_read_timeout(cfg->fcgi_read_timeout_ms);
    rc = responder_loop(fd, handle, &app, stop);
    app_free(&app);
    return rc == 0 ? 0 : 1;
}

static int serve_child(void *arg, int fd, volatile sig_atomic_t *stop)
{
    struct serve_state *s = arg;
    char err[256];

    /* Before any request is read: a responder never handles one as root. */
    if (sup_identity_apply(&s->id, err, sizeof(err)) != 0) {
        log_error("privileges", "%s", err);
        return 1;
    }
    return run_responder(&s->cfg, s->plane, fd, stop);
}

/* The monitor process: the same privilege drop as a responder, then the
 * drain of the tool-call audit spool. */
static int serve_monitor(void *arg, volatile sig_atomic_t *stop)
{
    struct serve_state *s = arg;
    char err[256];

    if (sup_identity_apply(&s->id, err, sizeof(err)) != 0) {
        log_error("privileges", "%s", err);
        return 1;
    }
    return audit_spool_monitor(&s->cfg, stop);
}

/* Command-line flags win over the file, at start and after every reload. */
static int serve_apply_flags(struct serve_state *s, struct gw_config *cfg)
{
    if (s->socket_flag != NULL) {
        gw_strlcpy(cfg->fcgi_socket, s->socket_flag, sizeof(cfg->fcgi_socket));
        cfg->fcgi_listen[0] = '\0';
    } else if (s->listen_flag != NULL) {
        gw_strlcpy(cfg->fcgi_listen, s->listen_flag, sizeof(cfg->fcgi_listen));
        cfg->fcgi_socket[0] = '\0';
    }
    if (s->plane_flag != NULL)
        gw_strlcpy(cfg->plane, s->plane_flag, sizeof(cfg->plane));
    if (s->workers_flag > 0)
        cfg->workers = s->workers_flag;
    if (s->max_workers_flag > 0)
        cfg->max_workers = s->max_workers_flag;
    if (gw_plane_parse(cfg->plane, &s->plane) != 0) {
        fprintf(stderr, "error: --plane: '%s' is not one of api, mcp, both\n", cfg->plane);
        return -1;
    }
    return 0;
}

/* Settings that only a restart can change: the listener is opened once. */
static const char *const restart_only_keys[] = { "fastcgi.socket", "fastcgi.listen",
                                                 "fastcgi.backlog" };

/* Settings the web server reads too: serve applies them, the web server
 * needs its own configuration changed and reloaded. */
static const char *const web_server_keys[] = { "server.tls_cert", "server.tls_key",
                                               "server.api_port", "server.mcp_port" };

struct reload_changes {
    char names[1024];
    int n;
};

static void note_change(const char *key, void *arg)
{
    struct reload_changes *ch = arg;
    size_t len = strlen(ch->names);

    for (size_t i = 0; i < GW_ARRAY_LEN(restart_only_keys); i++)
        if (strcmp(key, restart_only_keys[i]) == 0)
            log_warn("reload_needs_restart",
                     "%s changed, but applies only when serve restarts; the running value stays", key);
    for (size_t i = 0; i < GW_ARRAY_LEN(web_server_keys); i++)
        if (strcmp(key, web_server_keys[i]) == 0)
            log_warn("reload_web_server",
                     "%s changed: the web server uses it too; change and reload its configuration", key);
    snprintf(ch->names + len, sizeof(ch->names) - len, "%s%s", ch->n ? ", " : "", key);
    ch->n++;
}

/* Every line validate_reload printed becomes a log line of its level. */
static void log_check_lines(char *text)
{
    char *save = NULL;

    for (char *line = strtok_r(text, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
        if (gw_has_prefix(line, "error: "))
            log_error("reload_check", "%s", line + 7);
        else
            log_warn("reload_check", "%s", gw_has_prefix(line, "warning: ") ? line + 9 : line);
    }
}

static void pool_from_config(const struct gw_config *cfg, struct sup_pool *p)
{
    p->workers = cfg->workers;
    p->max_workers = cfg->max_workers;
    p->min_spare = cfg->min_spare;
    p->max_spare = cfg->max_spare;
    p->idle_timeout = cfg->idle_timeout;
    p->drain_timeout = cfg->drain_timeout;
}

static int serve_reload(void *arg, struct sup_pool *pool)
{
    struct serve_state *s = arg;
    struct gw_config fresh;
    struct cfg_errors errs = { 0 };
    struct sup_identity id;
    char err[256];
    struct reload_changes ch = { "", 0 };
    char *report = NULL;
    size_t report_len = 0;
    FILE *out;
    int errors, file_workers, file_wins, file_max_workers, file_max_wins;
    enum gw_plane old_plane;

    log_info("reload", "SIGHUP: checking %s",
             cfg_default_path(s->config_path) ? cfg_default_path(s->config_path) : "the environment");
    if (cfg_load(&fresh, cfg_default_path(s->config_path), &errs) != 0) {
        for (int i = 0; i < errs.n; i++)
            log_error("reload_config_error", "%s", errs.msg[i]);
        return -1;
    }
    for (int i = 0; i < errs.nwarn; i++)
        log_warn("config_warning", "%s", errs.warn[i]);
    file_workers = fresh.workers;
    file_max_workers = fresh.max_workers;
    /* serve_apply_flags sets the plane that respawned responders use: a
     * refused reload puts the running one back. */
    old_plane = s->plane;
    if (serve_apply_flags(s, &fresh) != 0)
        goto refused;
    /* An operator who edits fastcgi.workers and sends SIGHUP means it, even
     * when serve was started with --workers. */
    file_wins = s->workers_flag > 0 && file_workers != s->file_workers;
    if (file_wins)
        fresh.workers = file_workers;
    file_max_wins = s->max_workers_flag > 0 && file_max_workers != s->file_max_workers;
    if (file_max_wins)
        fresh.max_workers = file_max_workers;
    out = open_memstream(&report, &report_len);
    if (out == NULL) {
        log_error("reload_check", "cannot check the new configuration: %s", strerror(errno));
        goto refused;
    }
    errors = validate_reload(&s->cfg, &fresh, out);
    fclose(out);
    log_check_lines(report);
    free(report);
    if (errors > 0)
        goto refused;
    if (sup_identity_resolve(fresh.fcgi_user, fresh.fcgi_group, fresh.fcgi_allow_root, &id,
                             err, sizeof(err)) != 0) {
        log_error("reload_config_error", "%s", err);
        goto refused;
    }
    cfg_diff(&s->cfg, &fresh, note_change, &ch);
    if (ch.n > 0)
        log_info("reload_changes", "changed: %s", ch.names);
    else
        log_info("reload_changes", "no setting changed; responders are replaced anyway");
    gw_strlcpy(fresh.fcgi_socket, s->cfg.fcgi_socket, sizeof(fresh.fcgi_socket));
    gw_strlcpy(fresh.fcgi_listen, s->cfg.fcgi_listen, sizeof(fresh.fcgi_listen));
    fresh.backlog = s->cfg.backlog;
    if (file_wins) {
        log_info("reload_workers", "fastcgi.workers changed to %d in the configuration; "
                 "it replaces --workers %d from now on", file_workers, s->workers_flag);
        s->workers_flag = 0;
    }
    s->file_workers = file_workers;
    if (file_max_wins) {
        log_info("reload_workers", "fastcgi.max_workers changed to %d in the configuration; "
                 "it replaces --max-workers %d from now on", file_max_workers, s->max_workers_flag);
        s->max_workers_flag = 0;
    }
    s->file_max_workers = file_max_workers;
    s->id = id;
    s->cfg = fresh;
    pool_from_config(&fresh, pool);
    /* Responders forked from now on inherit the new level and log file. */
    setup_logging(&s->cfg, "supervisor");
    return 0;
refused:
    s->plane = old_plane;
    return -1;
}

static int write_pid_file(const char *path)
{
    FILE *f = fopen(path, "w");

    if (f == NULL)
        return -1;
    fprintf(f, "%d\n", (int)getpid());
    return fclose(f);
}

static int cmd_serve(const char *config_path, int argc, char **argv)
{
    static const struct option opts[] = {
        { "plane", required_argument, NULL, 'p' },
        { "socket", required_argument, NULL, 's' },
        { "listen", required_argument, NULL, 'l' },
        { "workers", required_argument, NULL, 'w' },
        { "max-workers", required_argument, NULL, 'W' },
        { "pid-file", required_argument, NULL, 'P' },
        { NULL, 0, NULL, 0 },
    };
    static struct serve_state s;
    struct sup_opts so;
    const char *pid_file = NULL;
    char err[512];
    int ch, fd, rc;

    memset(&s, 0, sizeof(s));
    s.config_path = config_path;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (ch) {
        case 'p': s.plane_flag = optarg; break;
        case 's': s.socket_flag = optarg; break;
        case 'l': s.listen_flag = optarg; break;
        case 'w':
            s.workers_flag = atoi(optarg);
            if (s.workers_flag < 1 || s.workers_flag > 256) {
                fprintf(stderr, "error: --workers: '%s' is not a number from 1 to 256\n", optarg);
                return 2;
            }
            break;
        case 'W':
            s.max_workers_flag = atoi(optarg);
            if (s.max_workers_flag < 1 || s.max_workers_flag > 512) {
                fprintf(stderr, "error: --max-workers: '%s' is not a number from 1 to 512\n", optarg);
                return 2;
            }
            break;
        case 'P': pid_file = optarg; break;
        default: print_usage(stderr); return 2;
        }
    }
    if (load_config(config_path, &s.cfg) != 0)
        return 1;
    s.file_workers = s.cfg.workers;
    s.file_max_workers = s.cfg.max_workers;
    if (serve_apply_flags(&s, &s.cfg) != 0)
        return 1;
    if (s.cfg.max_workers != 0 && s.cfg.max_workers < s.cfg.workers) {
        fprintf(stderr, "error: --max-workers %d is below --workers %d (fastcgi.max_workers, "
                "fastcgi.workers)\n", s.cfg.max_workers, s.cfg.workers);
        return 2;
    }
    /* The listener is opened once; a reload cannot move it. */
    setup_logging(&s.cfg, "supervisor");
    if (sup_identity_resolve(s.cfg.fcgi_user, s.cfg.fcgi_group, s.cfg.fcgi_allow_root, &s.id, err,
                             sizeof(err)) != 0) {
        fprintf(stderr, "error: %s\n", err);
        return 1;
    }
    fd = sup_open_listener(s.cfg.fcgi_socket, s.cfg.fcgi_listen, s.cfg.backlog, err, sizeof(err));
    if (fd < 0) {
        fprintf(stderr, "error: %s\n", err);
        return 1;
    }
    if (s.cfg.fcgi_socket[0] != '\0' &&
        sup_socket_access(s.cfg.fcgi_socket, s.cfg.fcgi_socket_mode, s.cfg.fcgi_socket_group, err,
                          sizeof(err)) != 0) {
        fprintf(stderr, "error: fastcgi.socket: %s\n", err);
        sup_close_listener(fd);
        return 1;
    }
    if (pid_file != NULL && write_pid_file(pid_file) != 0) {
        fprintf(stderr, "error: cannot write pid file %s: %s\n", pid_file, strerror(errno));
        return 1;
    }
    log_info("serve", "listening on %s, plane %s, %d responders as %s",
             s.cfg.fcgi_socket[0] ? s.cfg.fcgi_socket : s.cfg.fcgi_listen,
             gw_plane_name(s.plane), s.cfg.workers, s.id.change ? s.id.user : "the current user");
    memset(&so, 0, sizeof(so));
    so.listen_fd = fd;
    pool_from_config(&s.cfg, &so.pool);
    so.child_main = serve_child;
    so.reload = serve_reload;
    so.monitor_main = serve_monitor;
    so.arg = &s;
    rc = sup_run(&so);
    sup_close_listener(fd);
    if (pid_file != NULL)
        unlink(pid_file);
    return rc == 0 ? 0 : 1;
}

/* Run as CGI but unable to serve: a precise answer instead of an empty one. */
static void cgi_fail(const char *detail)
{
    if (getenv("GATEWAY_INTERFACE") != NULL && !responder_fd0_is_socket())
        printf("Status: 500 Internal Server Error\r\nContent-Type: application/problem+json\r\n\r\n"
               "{\"type\":\"about:blank\",\"title\":\"Internal Server Error\",\"status\":500,"
               "\"detail\":\"%s\"}", detail);
}

/* Under spawn-fcgi or mod_fcgid (fd 0 is the listening socket), or as CGI. */
static int cmd_fcgi(const char *config_path)
{
    static volatile sig_atomic_t stop;
    struct gw_config cfg;
    enum gw_plane plane = PLANE_BOTH;

    if (load_config(config_path, &cfg) != 0) {
        cgi_fail("gateway configuration is invalid");
        return 1;
    }
    gw_plane_parse(cfg.plane, &plane);
    setup_logging(&cfg, "responder");
    /* Whoever starts us (spawn-fcgi, a web server) chooses the user: never root. */
    if (geteuid() == 0 && !cfg.fcgi_allow_root) {
        log_error("privileges", "refusing to run a responder as root: start it as an "
                                "unprivileged user (spawn-fcgi -u mcpgw -g mcpgw), or set "
                                "fastcgi.allow_root = 1");
        cgi_fail("gateway refuses to run as root");
        return 1;
    }
    if (responder_fd0_is_socket())
        return run_responder(&cfg, plane, 0, &stop);
    if (getenv("GATEWAY_INTERFACE") != NULL) {
        struct gw_app app;
        int rc;

        app_init(&app, &cfg, plane);
        rc = responder_cgi(handle, &app);
        app_free(&app);
        return rc;
    }
    fprintf(stderr, "error: fcgi: fd 0 is not a FastCGI socket and GATEWAY_INTERFACE is not set;\n"
                    "run under spawn-fcgi, mod_fcgid or as a CGI program, or use `serve`\n");
    return 2;
}

static const char *default_migrations_dir(char *buf, size_t n)
{
    char exe[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

    if (len > 0) {
        char *slash;

        exe[len] = '\0';
        slash = strrchr(exe, '/');
        if (slash != NULL) {
            *slash = '\0';
            if (gw_snprintf(buf, n, "%s/migrations", exe) == 0 && access(buf, R_OK) == 0)
                return buf;
        }
    }
    gw_strlcpy(buf, PKGDATADIR "/migrations", n);
    return buf;
}

static int cmd_migrate(const char *config_path, int argc, char **argv)
{
    static const struct option opts[] = { { "dir", required_argument, NULL, 'd' }, { NULL, 0, NULL, 0 } };
    struct gw_config cfg;
    char dirbuf[PATH_MAX], err[1024];
    const char *dir = NULL;
    int ch, n;

    optind = 1;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (ch != 'd') {
            print_usage(stderr);
            return 2;
        }
        dir = optarg;
    }
    if (load_config(config_path, &cfg) != 0)
        return 1;
    setup_logging(&cfg, "migrate");
    if (dir == NULL)
        dir = default_migrations_dir(dirbuf, sizeof(dirbuf));
    n = pg_migrate(cfg.pg_dsn, dir, err, sizeof(err));
    if (n < 0) {
        char masked[sizeof(err)];

        gw_mask_secrets(gw_trim(err), masked, sizeof(masked));
        fprintf(stderr, "error: migrate: %s\n", masked);
        return 1;
    }
    printf("%d migration%s applied from %s\n", n, n == 1 ? "" : "s", dir);
    return 0;
}

/* All or nothing: one transaction re-seals every credential; the operator
 * then points security.secret_key_file at the new file and reloads. */
static int cmd_rekey(const char *config_path, int argc, char **argv)
{
    static const struct option opts[] = { { "new-key", required_argument, NULL, 'k' },
                                          { NULL, 0, NULL, 0 } };
    struct gw_config cfg;
    const char *new_key = NULL;
    char err[1024];
    int ch, n;

    optind = 1;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (ch != 'k') {
            fprintf(stderr, "usage: mcp-gateway rekey --new-key FILE\n");
            return 2;
        }
        new_key = optarg;
    }
    if (new_key == NULL) {
        fprintf(stderr, "error: rekey: --new-key FILE is required\n");
        return 2;
    }
    if (load_config(config_path, &cfg) != 0)
        return 1;
    setup_logging(&cfg, "rekey");
    if (reg_rekey(&cfg, new_key, &n, err, sizeof(err)) != 0) {
        fprintf(stderr, "error: rekey: %s\n", err);
        return 1;
    }
    printf("%d credential%s re-sealed under %s; set security.secret_key_file to it and reload\n",
           n, n == 1 ? "" : "s", new_key);
    {
        /* The MCP plane's catalog in Redis carries the sealed credentials:
         * it must hold the new ones. */
        struct gw_app app;

        app_init(&app, &cfg, PLANE_NONE);
        if (cat_rebuild(&app, err, sizeof(err)) != 0)
            fprintf(stderr, "warning: rekey: the MCP catalog in Redis was not rebuilt (%s); "
                            "it is rebuilt from the registry when next found stale\n", err);
        app_free(&app);
    }
    return 0;
}

static int cmd_validate(const char *config_path)
{
    struct gw_config cfg;
    int errors;

    if (load_config(config_path, &cfg) != 0)
        return 1;
    errors = validate_config(&cfg, stderr);
    if (errors > 0) {
        fprintf(stderr, "%d problem%s found\n", errors, errors == 1 ? "" : "s");
        return 1;
    }
    printf("configuration %s is valid; PostgreSQL and Redis reachable\n",
           cfg.path[0] ? cfg.path : "(defaults and environment)");
    return 0;
}

static int cmd_health(const char *config_path)
{
    static const struct health_scope all_upstreams = { .tenant = NULL };

    struct gw_config cfg;
    struct json_object *o;
    int unhealthy = 0;

    if (load_config(config_path, &cfg) != 0)
        return 1;
    o = health_components(&cfg, &all_upstreams, &unhealthy);
    puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(o);
    return unhealthy ? 1 : 0;
}

static int cmd_gate(const char *config_path, int argc, char **argv)
{
    struct gw_config cfg;
    struct gw_app app;
    struct json_object *run = NULL, *results, *v;
    const char *name = NULL, *status;
    char err[256];
    int json = 0;

    for (int j = 1; j < argc; j++) {
        if (strcmp(argv[j], "--json") == 0)
            json = 1;
        else if (name == NULL && argv[j][0] != '-')
            name = argv[j];
        else
            name = "";
    }
    if (name != NULL && name[0] != '\0' && gates_find(name) == NULL)
        fprintf(stderr, "error: unknown gate '%s' (the gates are pre_deployment, post_deployment "
                        "and security_validation)\n", name);
    if (name == NULL || gates_find(name) == NULL) {
        fprintf(stderr, "usage: mcp-gateway gate pre_deployment|post_deployment|security_validation [--json]\n");
        return 2;
    }
    if (load_config(config_path, &cfg) != 0)
        return 1;
    log_init("gate", LOG_LVL_WARN);
    app_init(&app, &cfg, PLANE_NONE);
    if (gates_run(&app, NULL, name, &run, err, sizeof(err)) != 0) {
        fprintf(stderr, "error: %s\n", err);
        app_free(&app);
        return 2;
    }
    status = js_str(run, "status");
    if (json) {
        puts(json_object_to_json_string_ext(run, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
    } else {
        printf("gate %s: %s", name, status);
        if (js_str(run, "failed_check") != NULL)
            printf(" (stopped at the critical check %s)", js_str(run, "failed_check"));
        printf("  run %s%s\n", js_str(run, "id"),
               json_object_get_boolean(json_object_object_get(run, "stored")) ? "" : " (not stored)");
        results = js_get(run, "results", json_type_array);
        for (size_t i = 0; results != NULL && i < json_object_array_length(results); i++) {
            struct json_object *r = json_object_array_get_idx(results, i);

            v = js_get(r, "duration_ms", json_type_int);
            printf("  %-7s %-34s %-8s %5lld ms  %s", js_str(r, "status"), js_str(r, "check"),
                   js_str(r, "severity"), v != NULL ? (long long)json_object_get_int64(v) : 0LL,
                   js_str(r, "detail"));
            if (js_str(r, "delegated_to") != NULL)
                printf("  [agent %s]", js_str(r, "delegated_to"));
            putchar('\n');
        }
        if (js_str(run, "store_error") != NULL)
            printf("  the run was not stored: %s\n", js_str(run, "store_error"));
    }
    {
        int rc = status != NULL && strcmp(status, "passed") == 0 ? 0 : 1;

        json_object_put(run);
        app_free(&app);
        return rc;
    }
}

/* tasks delegate: orch_delegate as the platform itself (no tenant), as the
 * quality gates call it. Frees app. */
static int cli_delegate(struct gw_app *app, const char *type, const char *context)
{
    static const struct gw_identity platform = {
        .user_id = "mcp-gateway tasks", .subject = "mcp-gateway tasks",
        .roles = ROLE_PLATFORM_ADMIN | ROLE_ADMIN | ROLE_OPERATOR | ROLE_AUDITOR | ROLE_USER,
    };
    struct json_object *ctx = json_tokener_parse(context), *result = NULL;
    char err[768];
    int rc;

    if (ctx == NULL || !json_object_is_type(ctx, json_type_object)) {
        fputs("error: CONTEXT-JSON must be a JSON object\n", stderr);
        json_object_put(ctx);
        app_free(app);
        return 2;
    }
    rc = orch_delegate(app, &platform, type, ctx, 0, 0, &result, err, sizeof(err));
    if (rc == 0)
        puts(json_object_to_json_string_ext(result, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
    else
        fprintf(stderr, "error: %s\n", err);
    json_object_put(result);
    json_object_put(ctx);
    app_free(app);
    return rc == 0 ? 0 : 1;
}

/* tasks reap: the lease cleanup the fleet leader runs, on demand. */
static int cmd_tasks(const char *config_path, int argc, char **argv)
{
    struct gw_config cfg;
    struct gw_app app;
    int n;

    bool reap = argc == 2 && strcmp(argv[1], "reap") == 0;
    bool delegate = (argc == 3 || argc == 4) && strcmp(argv[1], "delegate") == 0;

    if (!reap && !delegate) {
        fputs("usage: mcp-gateway tasks reap | delegate TYPE [CONTEXT-JSON]\n", stderr);
        return 2;
    }
    if (load_config(config_path, &cfg) != 0)
        return 1;
    if (app_init(&app, &cfg, PLANE_BOTH) != 0) {
        fputs("error: cannot set up the gateway\n", stderr);
        return 1;
    }
    if (delegate)
        return cli_delegate(&app, argv[2], argc == 4 ? argv[3] : "{}");
    n = orch_tasks_reap_expired(&app);
    app_free(&app);
    if (n < 0) {
        fputs("error: expired leases could not be reaped: Redis or PostgreSQL cannot be reached\n", stderr);
        return 1;
    }
    printf("reaped %d expired task lease%s\n", n, n == 1 ? "" : "s");
    return 0;
}

static void emit_line(const char *line, void *arg)
{
    (void)arg;
    puts(line);
}

static int cmd_config(const char *config_path, int argc, char **argv)
{
    struct gw_config cfg;

    if (argc > 1 && strcmp(argv[1], "--example") == 0) {
        man_example_conf(stdout);
        return 0;
    }
    if (argc > 1) {
        fprintf(stderr, "error: unknown option '%s'\nusage: mcp-gateway config [--example]\n", argv[1]);
        return 2;
    }
    if (load_config(config_path, &cfg) != 0)
        return 1;
    cfg_dump(&cfg, emit_line, NULL);
    return 0;
}

static int cmd_man(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "mcp-gateway") == 0) {
        man_cli_page(stdout, PACKAGE_VERSION, commands, GW_ARRAY_LEN(commands));
        return 0;
    }
    if (argc == 2 && strcmp(argv[1], "gateway.conf") == 0) {
        man_conf_page(stdout, PACKAGE_VERSION);
        return 0;
    }
    fputs("usage: mcp-gateway man mcp-gateway|gateway.conf\n", stderr);
    return 2;
}

static int cmd_dev(const char *config_path, int argc, char **argv,
                   int (*fn)(const struct gw_config *, int, char **))
{
    struct gw_config cfg;

    if (load_config(config_path, &cfg) != 0)
        return 1;
    log_init("cli", LOG_LVL_WARN);
    return fn(&cfg, argc, argv);
}

int main(int argc, char **argv)
{
    const char *config_path = NULL, *cmd;
    int i = 1, rc;

    /* Started by a web server as CGI or FastCGI: no arguments to read (Apache
     * may even pass query words as arguments to a CGI program). */
    if (getenv("GATEWAY_INTERFACE") != NULL || (argc == 1 && responder_fd0_is_socket())) {
        curl_global_init(CURL_GLOBAL_DEFAULT);
        return cmd_fcgi(NULL);
    }
    while (i < argc && argv[i][0] == '-') {
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
            config_path = argv[i + 1];
            i += 2;
        } else if (strncmp(argv[i], "--config=", 9) == 0) {
            config_path = argv[i] + 9;
            i++;
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            print_usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--version") == 0) {
            printf("%s %s\n", PACKAGE_NAME, PACKAGE_VERSION);
            return 0;
        } else {
            fprintf(stderr, "error: unknown option %s\n\n", argv[i]);
            print_usage(stderr);
            return 2;
        }
    }
    if (i >= argc) {
        print_usage(stderr);
        return 2;
    }
    cmd = argv[i];
    argc -= i;
    argv += i;
    /* Allow --config after the command name too. */
    for (int j = 1; j + 1 < argc; j++) {
        if (strcmp(argv[j], "--config") == 0) {
            config_path = argv[j + 1];
            memmove(&argv[j], &argv[j + 2], (size_t)(argc - j - 1) * sizeof(*argv));
            argc -= 2;
            break;
        }
    }
    /* token, servers, catalog and import answer --help themselves, with their options. */
    if (wants_help(argc, argv) && strcmp(cmd, "token") != 0 && strcmp(cmd, "servers") != 0 &&
        strcmp(cmd, "import") != 0 && strcmp(cmd, "catalog") != 0 && strcmp(cmd, "events") != 0 &&
        print_command_help(cmd) == 0) {
        return 0;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (strcmp(cmd, "serve") == 0)
        rc = cmd_serve(config_path, argc, argv);
    else if (strcmp(cmd, "fcgi") == 0)
        rc = cmd_fcgi(config_path);
    else if (strcmp(cmd, "migrate") == 0 || strcmp(cmd, "setup") == 0)
        rc = cmd_migrate(config_path, argc, argv);
    else if (strcmp(cmd, "rekey") == 0)
        rc = cmd_rekey(config_path, argc, argv);
    else if (strcmp(cmd, "validate") == 0)
        rc = cmd_validate(config_path);
    else if (strcmp(cmd, "token") == 0)
        rc = cmd_dev(config_path, argc, argv, auth_cli_token);
    else if (strcmp(cmd, "jwks") == 0)
        rc = cmd_dev(config_path, argc, argv, auth_cli_jwks);
    else if (strcmp(cmd, "health") == 0)
        rc = cmd_health(config_path);
    else if (strcmp(cmd, "config") == 0)
        rc = cmd_config(config_path, argc, argv);
    else if (strcmp(cmd, "man") == 0)
        rc = cmd_man(argc, argv);
    else if (strcmp(cmd, "servers") == 0)
        rc = cli_servers(argc, argv);
    else if (strcmp(cmd, "import") == 0)
        rc = cli_import(argc, argv);
    else if (strcmp(cmd, "catalog") == 0)
        rc = cli_catalog(argc, argv);
    else if (strcmp(cmd, "resources") == 0)
        rc = cli_resources(argc, argv);
    else if (strcmp(cmd, "report") == 0)
        rc = cli_report(argc, argv);
    else if (strcmp(cmd, "gate") == 0)
        rc = cmd_gate(config_path, argc, argv);
    else if (strcmp(cmd, "tasks") == 0)
        rc = cmd_tasks(config_path, argc, argv);
    else if (strcmp(cmd, "events") == 0)
        rc = cli_events(argc, argv);
    else if (strcmp(cmd, "version") == 0) {
        printf("%s %s\n", PACKAGE_NAME, PACKAGE_VERSION);
        rc = 0;
    } else if (strcmp(cmd, "help") == 0) {
        print_usage(stdout);
        rc = 0;
    } else {
        fprintf(stderr, "error: unknown command '%s'\n\n", cmd);
        print_usage(stderr);
        rc = 2;
    }
    curl_global_cleanup();
    return rc;
}
