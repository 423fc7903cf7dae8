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
#include "auth.h"
#include "cli_api.h"
#include "config.h"
#include "health.h"
#include "log.h"
#include "responder.h"
#include "router.h"
#include "store_pg.h"
#include "supervisor.h"
#include "util.h"
#include "validate.h"

static const char usage[] =
    "usage: mcp-gateway [--config FILE] COMMAND [options]\n"
    "\n"
    "commands:\n"
    "  serve     run the pre-fork FastCGI supervisor\n"
    "            [--plane api|mcp|both] [--socket PATH | --listen 127.0.0.1:PORT]\n"
    "            [--workers N] [--pid-file FILE]\n"
    "  fcgi      run one responder on fd 0 (spawn-fcgi, mod_fcgid) or as CGI\n"
    "  migrate   apply database migrations [--dir DIR] (alias: setup)\n"
    "  validate  check configuration and connectivity; exit 1 on any problem\n"
    "  token     mint a development token [--sub --tenant --roles --scopes --ttl --aud]\n"
    "  jwks      print the development issuer's public JWKS\n"
    "  health    check every component now; exit 1 when unhealthy\n"
    "  config    print the effective configuration\n"
    "  servers   list|get|register|remove|refresh upstream servers through the API\n"
    "  import    register the servers of an MCP registry server.json FILE\n"
    "  version   print the version\n"
    "\n"
    "The configuration file comes from --config or MCPGW_CONFIG; every key can be\n"
    "overridden by MCPGW_<SECTION>_<KEY> in the environment.\n";

/* What `serve` keeps for reloads: the file, and the flags that override it. */
struct serve_state {
    const char *config_path;
    const char *plane_flag;
    const char *socket_flag;
    const char *listen_flag;
    int workers_flag;
    struct gw_config cfg;
    enum gw_plane plane;
};

static void print_errors(const struct cfg_errors *e)
{
    for (int i = 0; i < e->n; i++)
        fprintf(stderr, "error: %s\n", e->msg[i]);
}

static int load_config(const char *path, struct gw_config *cfg)
{
    struct cfg_errors errs = { 0 };

    if (cfg_load(cfg, cfg_default_path(path), &errs) != 0) {
        print_errors(&errs);
        return -1;
    }
    return 0;
}

static void setup_logging(const struct gw_config *cfg, const char *component)
{
    enum log_level lvl = LOG_LVL_INFO;

    log_level_parse(cfg->log_level, &lvl);
    log_init(component, lvl);
    if (cfg->log_file[0] != '\0' && log_open_file(cfg->log_file) != 0)
        fprintf(stderr, "warning: cannot open log file %s: %s; logging to stderr\n",
                cfg->log_file, strerror(errno));
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
    rc = responder_loop(fd, handle, &app, stop);
    app_free(&app);
    return rc == 0 ? 0 : 1;
}

static int serve_child(void *arg, int fd, volatile sig_atomic_t *stop)
{
    struct serve_state *s = arg;

    return run_responder(&s->cfg, s->plane, fd, stop);
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
    if (gw_plane_parse(cfg->plane, &s->plane) != 0) {
        fprintf(stderr, "error: --plane: '%s' is not one of api, mcp, both\n", cfg->plane);
        return -1;
    }
    return 0;
}

static int serve_reload(void *arg, int *workers)
{
    struct serve_state *s = arg;
    struct gw_config fresh;
    struct cfg_errors errs = { 0 };

    if (cfg_load(&fresh, cfg_default_path(s->config_path), &errs) != 0) {
        for (int i = 0; i < errs.n; i++)
            log_error("reload_config_error", "%s", errs.msg[i]);
        return -1;
    }
    if (serve_apply_flags(s, &fresh) != 0)
        return -1;
    s->cfg = fresh;
    *workers = fresh.workers;
    /* Responders forked from now on inherit the new level and log file. */
    setup_logging(&s->cfg, "supervisor");
    return 0;
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
        { "pid-file", required_argument, NULL, 'P' },
        { NULL, 0, NULL, 0 },
    };
    static struct serve_state s;
    struct sup_opts so;
    const char *pid_file = NULL;
    char err[512], socket_path[CFG_STR_MAX];
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
        case 'P': pid_file = optarg; break;
        default: fputs(usage, stderr); return 2;
        }
    }
    if (load_config(config_path, &s.cfg) != 0 || serve_apply_flags(&s, &s.cfg) != 0)
        return 1;
    /* The listener is opened once; a reload cannot move it. */
    gw_strlcpy(socket_path, s.cfg.fcgi_socket, sizeof(socket_path));
    setup_logging(&s.cfg, "supervisor");
    fd = sup_open_listener(s.cfg.fcgi_socket, s.cfg.fcgi_listen, s.cfg.backlog, err, sizeof(err));
    if (fd < 0) {
        fprintf(stderr, "error: %s\n", err);
        return 1;
    }
    if (pid_file != NULL && write_pid_file(pid_file) != 0) {
        fprintf(stderr, "error: cannot write pid file %s: %s\n", pid_file, strerror(errno));
        return 1;
    }
    log_info("serve", "listening on %s, plane %s, %d responders",
             s.cfg.fcgi_socket[0] ? s.cfg.fcgi_socket : s.cfg.fcgi_listen,
             gw_plane_name(s.plane), s.cfg.workers);
    memset(&so, 0, sizeof(so));
    so.listen_fd = fd;
    so.workers = s.cfg.workers;
    so.drain_timeout = s.cfg.drain_timeout;
    so.child_main = serve_child;
    so.reload = serve_reload;
    so.arg = &s;
    rc = sup_run(&so);
    close(fd);
    if (socket_path[0] != '\0')
        unlink(socket_path);
    if (pid_file != NULL)
        unlink(pid_file);
    return rc == 0 ? 0 : 1;
}

/* Under spawn-fcgi or mod_fcgid (fd 0 is the listening socket), or as CGI. */
static int cmd_fcgi(const char *config_path)
{
    static volatile sig_atomic_t stop;
    struct gw_config cfg;
    enum gw_plane plane = PLANE_BOTH;

    if (load_config(config_path, &cfg) != 0) {
        if (getenv("GATEWAY_INTERFACE") != NULL && !responder_fd0_is_socket())
            fputs("Status: 500 Internal Server Error\r\nContent-Type: application/problem+json\r\n\r\n"
                  "{\"type\":\"about:blank\",\"title\":\"Internal Server Error\",\"status\":500,"
                  "\"detail\":\"gateway configuration is invalid\"}", stdout);
        return 1;
    }
    gw_plane_parse(cfg.plane, &plane);
    setup_logging(&cfg, "responder");
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
            fputs(usage, stderr);
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
        fprintf(stderr, "error: migrate: %s\n", gw_trim(err));
        return 1;
    }
    printf("%d migration%s applied from %s\n", n, n == 1 ? "" : "s", dir);
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
    struct gw_config cfg;
    struct json_object *o;
    int unhealthy = 0;

    if (load_config(config_path, &cfg) != 0)
        return 1;
    o = health_components(&cfg, &unhealthy);
    puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(o);
    return unhealthy ? 1 : 0;
}

static void emit_line(const char *line, void *arg)
{
    (void)arg;
    puts(line);
}

static int cmd_config(const char *config_path)
{
    struct gw_config cfg;

    if (load_config(config_path, &cfg) != 0)
        return 1;
    cfg_dump(&cfg, emit_line, NULL);
    return 0;
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
            fputs(usage, stdout);
            return 0;
        } else if (strcmp(argv[i], "--version") == 0) {
            printf("%s %s\n", PACKAGE_NAME, PACKAGE_VERSION);
            return 0;
        } else {
            fprintf(stderr, "error: unknown option %s\n\n%s", argv[i], usage);
            return 2;
        }
    }
    if (i >= argc) {
        fputs(usage, stderr);
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
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (strcmp(cmd, "serve") == 0)
        rc = cmd_serve(config_path, argc, argv);
    else if (strcmp(cmd, "fcgi") == 0)
        rc = cmd_fcgi(config_path);
    else if (strcmp(cmd, "migrate") == 0 || strcmp(cmd, "setup") == 0)
        rc = cmd_migrate(config_path, argc, argv);
    else if (strcmp(cmd, "validate") == 0)
        rc = cmd_validate(config_path);
    else if (strcmp(cmd, "token") == 0)
        rc = cmd_dev(config_path, argc, argv, auth_cli_token);
    else if (strcmp(cmd, "jwks") == 0)
        rc = cmd_dev(config_path, argc, argv, auth_cli_jwks);
    else if (strcmp(cmd, "health") == 0)
        rc = cmd_health(config_path);
    else if (strcmp(cmd, "config") == 0)
        rc = cmd_config(config_path);
    else if (strcmp(cmd, "servers") == 0)
        rc = cli_servers(argc, argv);
    else if (strcmp(cmd, "import") == 0)
        rc = cli_import(argc, argv);
    else if (strcmp(cmd, "version") == 0) {
        printf("%s %s\n", PACKAGE_NAME, PACKAGE_VERSION);
        rc = 0;
    } else if (strcmp(cmd, "help") == 0) {
        fputs(usage, stdout);
        rc = 0;
    } else {
        fprintf(stderr, "error: unknown command '%s'\n\n%s", cmd, usage);
        rc = 2;
    }
    curl_global_cleanup();
    return rc;
}
