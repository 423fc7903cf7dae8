/* Test driver for the upstream client: runs up_discover or up_probe once (or
 * --repeat times in one process, one handle) and prints key=value lines. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "app.h"
#include "config.h"
#include "log.h"
#include "upstream.h"
#include "util.h"

static void print_names(const char *label, struct json_object *arr, const char *key)
{
    printf("%s=", label);
    for (size_t i = 0; i < json_object_array_length(arr); i++) {
        struct json_object *v;

        json_object_object_get_ex(json_object_array_get_idx(arr, i), key, &v);
        printf("%s%s", i ? "," : "", json_object_get_string(v));
    }
    printf("\n");
}

int main(int argc, char **argv)
{
    struct gw_config cfg;
    struct cfg_errors errs = { 0 };
    struct gw_app app;
    struct up_auth auth = { .type = "none" };
    struct up_target t = { 0 };
    const char *config = NULL, *op;
    char why[1024];
    int repeat = 1, rc = 0;

    if (argc < 3) {
        fprintf(stderr, "usage: up_driver discover|probe URL [--config F] [--auth TYPE] [--token T]\n"
                        "  [--header-name N --header-value V] [--token-url U --client-id I\n"
                        "  --client-secret S --scope S] [--timeout-ms N] [--cache-id ID] [--repeat N]\n");
        return 2;
    }
    op = argv[1];
    t.url = argv[2];
    t.auth = &auth;
    for (int i = 3; i + 1 < argc; i += 2) {
        const char *k = argv[i], *v = argv[i + 1];

        if (strcmp(k, "--config") == 0) config = v;
        else if (strcmp(k, "--auth") == 0) auth.type = v;
        else if (strcmp(k, "--token") == 0) auth.token = v;
        else if (strcmp(k, "--header-name") == 0) auth.header_name = v;
        else if (strcmp(k, "--header-value") == 0) auth.header_value = v;
        else if (strcmp(k, "--token-url") == 0) auth.token_url = v;
        else if (strcmp(k, "--client-id") == 0) auth.client_id = v;
        else if (strcmp(k, "--client-secret") == 0) auth.client_secret = v;
        else if (strcmp(k, "--scope") == 0) auth.scope = v;
        else if (strcmp(k, "--timeout-ms") == 0) t.timeout_ms = atoi(v);
        else if (strcmp(k, "--cache-id") == 0) t.cache_id = v;
        else if (strcmp(k, "--repeat") == 0) repeat = atoi(v);
        else {
            fprintf(stderr, "unknown option %s\n", k);
            return 2;
        }
    }
    if (cfg_load(&cfg, config, &errs) != 0) {
        for (int i = 0; i < errs.n; i++)
            fprintf(stderr, "%s\n", errs.msg[i]);
        return 2;
    }
    log_init("up_driver", LOG_LVL_INFO);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    app_init(&app, &cfg, PLANE_BOTH);
    for (int r = 0; r < repeat; r++) {
        int64_t start = gw_monotonic_ms();
        enum up_status st;

        if (strcmp(op, "probe") == 0) {
            long latency;

            st = up_probe(&app, &t, &latency, why, sizeof(why));
            printf("status=%s\nwhy=%s\nlatency_ms=%ld\n", up_status_name(st), why, latency);
        } else {
            struct up_catalog cat;
            struct json_object *name;

            st = up_discover(&app, &t, &cat, why, sizeof(why));
            printf("status=%s\nwhy=%s\n", up_status_name(st), why);
            if (st == UP_OK) {
                json_object_object_get_ex(cat.server_info, "name", &name);
                printf("protocol_version=%s\nserver_name=%s\n", cat.protocol_version,
                       json_object_get_string(name));
                print_names("tools", cat.tools, "name");
                print_names("prompts", cat.prompts, "name");
                print_names("resources", cat.resources, "uri");
                printf("tool_1_schema=%s\n", cat.tools && json_object_array_length(cat.tools)
                       ? json_object_to_json_string_ext(json_object_array_get_idx(cat.tools, 0),
                                                        JSON_C_TO_STRING_PLAIN) : "");
            }
            up_catalog_free(&cat);
        }
        printf("elapsed_ms=%ld\n", (long)(gw_monotonic_ms() - start));
        fflush(stdout);
        rc = st == UP_OK ? rc : 1;
    }
    app_free(&app);
    curl_global_cleanup();
    return rc;
}
