/* Configuration: defaults, INI parsing, environment overrides, and errors that
 * name the file, the line and the key. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

static struct gw_config cfg;
static struct cfg_errors errs;

static void reset(void)
{
    memset(&errs, 0, sizeof(errs));
    cfg_defaults(&cfg);
}

TestSuite(config, .init = reset);

Test(config, defaults_are_sane)
{
    cr_assert_eq(cfg.api_port, 8000);
    cr_assert_eq(cfg.mcp_port, 8001);
    cr_assert_str_eq(cfg.redis_prefix, "mreg:");
    cr_assert_eq(cfg.session_ttl, 3600);
    cr_assert_eq(cfg.auth_clock_skew, 60);
    cr_assert_eq(cfg.token_max, 16384);
}

Test(config, parses_sections_keys_comments_and_quotes)
{
    const char *text = "# comment\n[server]\napi_port = 9443\n; other comment\n"
                       "[redis]\nurl = \"redis://127.0.0.1:7000/2\"\nprefix = 'x:'\n"
                       "[limits]\nbody_max = 2048\n";

    cr_assert_eq(cfg_load_string(&cfg, "t.conf", text, &errs), 0, "%s", errs.msg[0]);
    cr_assert_eq(cfg.api_port, 9443);
    cr_assert_str_eq(cfg.redis_url, "redis://127.0.0.1:7000/2");
    cr_assert_str_eq(cfg.redis_prefix, "x:");
    cr_assert_eq(cfg.body_max, 2048);
}

Test(config, bad_port_names_file_line_and_key)
{
    const char *text = "[server]\n\napi_port = 70000\n";

    cr_assert_eq(cfg_load_string(&cfg, "gw.conf", text, &errs), -1);
    cr_assert_eq(errs.n, 1);
    cr_assert(strstr(errs.msg[0], "gw.conf:3") != NULL, "%s", errs.msg[0]);
    cr_assert(strstr(errs.msg[0], "server.api_port") != NULL, "%s", errs.msg[0]);
    cr_assert_eq(cfg.api_port, 8000, "a rejected value must not be applied");
}

Test(config, non_numeric_value_is_rejected)
{
    cr_assert_eq(cfg_load_string(&cfg, "gw.conf", "[fastcgi]\nworkers = four\n", &errs), -1);
    cr_assert(strstr(errs.msg[0], "fastcgi.workers") != NULL, "%s", errs.msg[0]);
    cr_assert(strstr(errs.msg[0], "not a whole number") != NULL, "%s", errs.msg[0]);
}

Test(config, unknown_key_and_section_are_errors)
{
    const char *text = "[server]\ncolour = blue\n[nonsense]\nx = 1\n";

    cr_assert_eq(cfg_load_string(&cfg, "gw.conf", text, &errs), -1);
    cr_assert_geq(errs.n, 2);
    cr_assert(strstr(errs.msg[0], "gw.conf:2") && strstr(errs.msg[0], "unknown key 'colour'"),
              "%s", errs.msg[0]);
    cr_assert(strstr(errs.msg[1], "gw.conf:3") && strstr(errs.msg[1], "unknown section"),
              "%s", errs.msg[1]);
}

Test(config, every_problem_is_reported_not_just_the_first)
{
    const char *text = "[server]\napi_port = 0\nmcp_port = x\n[redis]\nurl = http://nope\n";

    cr_assert_eq(cfg_load_string(&cfg, "gw.conf", text, &errs), -1);
    cr_assert_eq(errs.n, 3);
}

Test(config, key_outside_section_and_malformed_lines)
{
    cr_assert_eq(cfg_load_string(&cfg, "gw.conf", "api_port = 1\n[server\nnot a pair\n", &errs), -1);
    cr_assert_eq(errs.n, 3);
}

Test(config, listen_without_host_is_refused)
{
    cr_assert_eq(cfg_load_string(&cfg, "gw.conf", "[fastcgi]\nlisten = :9000\n", &errs), -1);
    cr_assert(strstr(errs.msg[0], "every interface") != NULL, "%s", errs.msg[0]);
}

Test(config, jwks_http_only_on_loopback)
{
    cr_assert_eq(cfg_load_string(&cfg, "a", "[auth]\njwks_uri = http://127.0.0.1:9/k\n", &errs), 0);
    cr_assert_eq(cfg_load_string(&cfg, "a", "[auth]\njwks_uri = file:///tmp/k.json\n", &errs), 0);
    cr_assert_eq(cfg_load_string(&cfg, "a", "[auth]\njwks_uri = https://login.example/k\n", &errs), 0);
    cr_assert_eq(cfg_load_string(&cfg, "a", "[auth]\njwks_uri = http://idp.example/k\n", &errs), -1);
}

Test(config, environment_overrides_file)
{
    char path[] = "/tmp/mcpgw-cfg-XXXXXX";
    int fd = mkstemp(path);

    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, "[server]\napi_port = 9000\n", 25), 25);
    close(fd);
    setenv("MCPGW_SERVER_API_PORT", "9100", 1);
    setenv("MCPGW_REDIS_PREFIX", "env:", 1);
    cr_assert_eq(cfg_load(&cfg, path, &errs), 0, "%s", errs.msg[0]);
    unsetenv("MCPGW_SERVER_API_PORT");
    unsetenv("MCPGW_REDIS_PREFIX");
    unlink(path);
    cr_assert_eq(cfg.api_port, 9100);
    cr_assert_str_eq(cfg.redis_prefix, "env:");
    cr_assert_str_eq(cfg.path, path);
}

Test(config, bad_environment_value_names_variable)
{
    setenv("MCPGW_SESSION_TTL", "-5", 1);
    cr_assert_eq(cfg_load(&cfg, NULL, &errs), -1);
    unsetenv("MCPGW_SESSION_TTL");
    cr_assert(strstr(errs.msg[0], "MCPGW_SESSION_TTL") != NULL, "%s", errs.msg[0]);
}

Test(config, unknown_mcpgw_variable_is_a_warning_naming_it)
{
    setenv("MCPGW_SERVER_API_PROT", "9100", 1);  /* a typo of MCPGW_SERVER_API_PORT */
    setenv("MCPGW_API_URL", "https://127.0.0.1:8000", 1); /* known, not a key */
    setenv("MCPGW_CONFIG", "", 1);
    cr_assert_eq(cfg_load(&cfg, NULL, &errs), 0, "%s", errs.msg[0]);
    unsetenv("MCPGW_SERVER_API_PROT");
    unsetenv("MCPGW_API_URL");
    unsetenv("MCPGW_CONFIG");
    cr_assert_eq(errs.nwarn, 1, "%d warnings, first: %s", errs.nwarn, errs.warn[0]);
    cr_assert(strstr(errs.warn[0], "MCPGW_SERVER_API_PROT") != NULL, "%s", errs.warn[0]);
    cr_assert_null(strstr(errs.warn[0], "9100"), "the value is not echoed: %s", errs.warn[0]);
    cr_assert_eq(cfg.api_port, 8000);
}

Test(config, known_variables_raise_no_warning)
{
    setenv("MCPGW_SESSION_TTL", "120", 1);
    setenv("MCPGW_ADMIN_TOKEN", "x", 1);
    setenv("MCPGW_CA_FILE", "/x", 1);
    cr_assert_eq(cfg_load(&cfg, NULL, &errs), 0, "%s", errs.msg[0]);
    unsetenv("MCPGW_SESSION_TTL");
    unsetenv("MCPGW_ADMIN_TOKEN");
    unsetenv("MCPGW_CA_FILE");
    cr_assert_eq(errs.nwarn, 0, "%s", errs.warn[0]);
}

static void collect_key(const char *key, void *arg)
{
    char *out = arg;
    size_t len = strlen(out);

    snprintf(out + len, 256 - len, "%s;", key);
}

Test(config, diff_names_changed_keys_only)
{
    struct gw_config a, b;
    char changed[256] = "";

    cfg_defaults(&a);
    cfg_defaults(&b);
    b.workers = a.workers + 1;
    snprintf(b.fcgi_socket, sizeof(b.fcgi_socket), "/tmp/other.sock");
    cfg_diff(&a, &b, collect_key, changed);
    cr_assert_str_eq(changed, "fastcgi.socket;fastcgi.workers;");
}

Test(config, missing_file_is_an_error)
{
    cr_assert_eq(cfg_load(&cfg, "/nonexistent/gateway.conf", &errs), -1);
    cr_assert(strstr(errs.msg[0], "/nonexistent/gateway.conf") != NULL);
}

Test(config, list_helpers)
{
    const char *cur = NULL;
    char buf[64];

    cr_assert(cfg_list_has(" a, b ,c", "b"));
    cr_assert_not(cfg_list_has("a,bb", "b"));
    cr_assert_str_eq(cfg_list_next(" x , ,y", &cur, buf, sizeof(buf)), "x");
    cr_assert_str_eq(cfg_list_next(" x , ,y", &cur, buf, sizeof(buf)), "y");
    cr_assert_null(cfg_list_next(" x , ,y", &cur, buf, sizeof(buf)));
}

Test(config, bad_role_map_names_file_line_and_key)
{
    const char *text = "[auth]\nrole_map = Gateway.Admin=superuser\n";

    cr_assert_eq(cfg_load_string(&cfg, "gw.conf", text, &errs), -1);
    cr_assert(strstr(errs.msg[0], "gw.conf:2: auth.role_map") != NULL, "%s", errs.msg[0]);
    cr_assert(strstr(errs.msg[0], "superuser") != NULL, "%s", errs.msg[0]);
    cr_assert_eq(cfg_load_string(&cfg, "gw.conf", "[auth]\nrole_map = admin\n", &errs), -1,
                 "an entry without '=' is refused");
    cr_assert_eq(cfg_load_string(&cfg, "gw.conf", "[auth]\nrole_map = Gateway.Admin=admin, x=user\n",
                                 &errs), 0, "a good map loads");
}

Test(config, bad_scope_map_names_file_line_and_key)
{
    const char *text = "[auth]\n\nscope_map = Mcp.Use=root\n";

    cr_assert_str_eq(cfg.auth_scope_map, "", "no scope grants a role by default");
    cr_assert_eq(cfg_load_string(&cfg, "gw.conf", text, &errs), -1);
    cr_assert(strstr(errs.msg[0], "gw.conf:3: auth.scope_map") != NULL, "%s", errs.msg[0]);
    cr_assert_eq(cfg_load_string(&cfg, "gw.conf", "[auth]\nscope_map = Mcp.Use=user\n", &errs), 0);
}

/* A configuration file naming the fleet key file key_path (written with
 * key_text unless NULL); returns the configuration's path. */
static const char *conf_with_fleet_key(char *dir, const char *key_text, char *key_path, size_t n)
{
    static char conf[512];
    FILE *f;

    snprintf(dir, 64, "/tmp/gw-config-test-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(key_path, n, "%s/fleet.key", dir);
    if (key_text != NULL) {
        f = fopen(key_path, "w");
        cr_assert_not_null(f);
        fputs(key_text, f);
        fclose(f);
    }
    snprintf(conf, sizeof conf, "%s/gw.conf", dir);
    f = fopen(conf, "w");
    cr_assert_not_null(f);
    fprintf(f, "[security]\nfleet_key_file = %s\n", key_path);
    fclose(f);
    return conf;
}

static void remove_conf_dir(const char *dir, const char *key_path)
{
    char conf[512];

    snprintf(conf, sizeof conf, "%s/gw.conf", dir);
    unlink(conf);
    unlink(key_path);
    rmdir(dir);
}

Test(config, fleet_key_file_is_read_at_load)
{
    char dir[64], key[256];
    const char *conf = conf_with_fleet_key(dir, "0123456789abcdef0123456789abcdef0123456789abcdef\n",
                                           key, sizeof key);

    cr_assert_eq(cfg_load(&cfg, conf, &errs), 0, "%s", errs.msg[0]);
    cr_assert_eq(cfg.fleet_key_len, 48, "the trailing newline is not part of the key");
    cr_assert_eq(memcmp(cfg.fleet_key, "0123456789abcdef", 16), 0);
    remove_conf_dir(dir, key);
}

Test(config, missing_fleet_key_file_is_an_error_naming_it)
{
    char dir[64], key[256];
    const char *conf = conf_with_fleet_key(dir, NULL, key, sizeof key);

    cr_assert_eq(cfg_load(&cfg, conf, &errs), -1);
    cr_assert(strstr(errs.msg[0], "security.fleet_key_file") != NULL, "%s", errs.msg[0]);
    cr_assert(strstr(errs.msg[0], key) != NULL, "%s", errs.msg[0]);
    remove_conf_dir(dir, key);
}

Test(config, short_fleet_key_is_an_error_without_its_content)
{
    char dir[64], key[256];
    const char *conf = conf_with_fleet_key(dir, "tiny-secret-7\n", key, sizeof key);

    cr_assert_eq(cfg_load(&cfg, conf, &errs), -1);
    cr_assert(strstr(errs.msg[0], key) != NULL, "%s", errs.msg[0]);
    cr_assert(strstr(errs.msg[0], "at least 32") != NULL, "%s", errs.msg[0]);
    cr_assert(strstr(errs.msg[0], "tiny-secret") == NULL, "%s", errs.msg[0]);
    remove_conf_dir(dir, key);
}

/* The key that seals input-required state: read at load like the fleet key,
 * and a bad one named by its own key. */
Test(config, input_state_key_file_is_read_at_load_and_named_when_bad)
{
    char dir[64], path[256], conf[512];
    FILE *f;

    snprintf(dir, sizeof dir, "/tmp/gw-config-test-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/input.key", dir);
    snprintf(conf, sizeof conf, "%s/gw.conf", dir);
    f = fopen(conf, "w");
    cr_assert_not_null(f);
    fprintf(f, "[security]\ninput_state_key_file = %s\n", path);
    fclose(f);
    cr_assert_eq(cfg_load(&cfg, conf, &errs), -1, "a missing key file is an error");
    cr_assert(strstr(errs.msg[0], "security.input_state_key_file") != NULL, "%s", errs.msg[0]);
    f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs("abcdefghijabcdefghijabcdefghij0123456789\n", f);
    fclose(f);
    cr_assert_eq(cfg_load(&cfg, conf, &errs), 0, "%s", errs.msg[0]);
    cr_assert_eq(cfg.input_state_key_len, 40);
    cr_assert_eq(memcmp(cfg.input_state_key, "abcdefghij", 10), 0);
    remove_conf_dir(dir, path);
}

static void collect(const char *line, void *arg)
{
    char *buf = arg;

    strncat(buf, line, 16383 - strlen(buf));
    strncat(buf, "\n", 16383 - strlen(buf));
}

Test(config, dump_hides_the_redis_password)
{
    static char out[16384];

    snprintf(cfg.redis_url, sizeof cfg.redis_url, "redis://gw:s3cret-pw@127.0.0.1:6379/0");
    cfg_dump(&cfg, collect, out);
    cr_assert(strstr(out, "url = redis://gw:***@127.0.0.1:6379/0\n") != NULL, "%s", out);
    cr_assert(strstr(out, "s3cret") == NULL);
    out[0] = '\0';
    snprintf(cfg.redis_url, sizeof cfg.redis_url, "redis://:pw@127.0.0.1:6379/0");
    cfg_dump(&cfg, collect, out);
    cr_assert(strstr(out, "url = redis://:***@127.0.0.1:6379/0\n") != NULL, "%s", out);
    out[0] = '\0';
    snprintf(cfg.redis_url, sizeof cfg.redis_url, "unix://:s3cret-u@/run/redis/redis.sock?db=2");
    cfg_dump(&cfg, collect, out);
    cr_assert(strstr(out, "url = unix://:***@/run/redis/redis.sock?db=2\n") != NULL, "%s", out);
    cr_assert(strstr(out, "s3cret") == NULL);
}


Test(config, dump_masks_passwords_in_redis_url_and_dsn)
{
    static char out[16384];
    const char *text = "[redis]\nurl = redis://:s3cret-r@127.0.0.1:6379/0\n"
                       "[postgres]\ndsn = host=db user=gw password=s3cret-p dbname=gw\n"
                       "replica_dsn = postgresql://gw:s3cret-q@replica/gw\n";

    cr_assert_eq(cfg_load_string(&cfg, "t.conf", text, &errs), 0, "%s", errs.msg[0]);
    out[0] = '\0';
    cfg_dump(&cfg, collect, out);
    cr_assert_null(strstr(out, "s3cret"), "%s", out);
    cr_assert_not_null(strstr(out, "url = redis://:***@127.0.0.1:6379/0"), "%s", out);
    cr_assert_not_null(strstr(out, "dsn = host=db user=gw password=*** dbname=gw"), "%s", out);
    cr_assert_not_null(strstr(out, "replica_dsn = postgresql://gw:***@replica/gw"), "%s", out);
    /* The loaded value itself is intact: only output is masked. */
    cr_assert_str_eq(cfg.redis_url, "redis://:s3cret-r@127.0.0.1:6379/0");
}

Test(config, errors_never_quote_a_password)
{
    cr_assert_eq(cfg_load_string(&cfg, "t.conf", "[redis]\nurl = http://:s3cret@h:1\n", &errs), -1);
    cr_assert_null(strstr(errs.msg[0], "s3cret"), "%s", errs.msg[0]);
    cr_assert_not_null(strstr(errs.msg[0], "t.conf:2"), "%s", errs.msg[0]);
}

Test(config, socket_mode_defaults_to_0660_and_refuses_rights_for_others)
{
    cr_assert_str_eq(cfg.fcgi_socket_mode, "0660");
    cr_assert_eq(cfg_load_string(&cfg, "gw.conf", "[fastcgi]\nsocket_mode = 0666\n", &errs), -1);
    cr_assert_not_null(strstr(errs.msg[0], "fastcgi.socket_mode"), "%s", errs.msg[0]);
    memset(&errs, 0, sizeof(errs));
    cr_assert_eq(cfg_load_string(&cfg, "gw.conf", "[fastcgi]\nsocket_mode = 0600\nsocket_group = www-data\n"
                                 "user = mcpgw\n", &errs), 0, "%s", errs.msg[0]);
    cr_assert_str_eq(cfg.fcgi_socket_mode, "0600");
    cr_assert_str_eq(cfg.fcgi_socket_group, "www-data");
    cr_assert_str_eq(cfg.fcgi_user, "mcpgw");
}
