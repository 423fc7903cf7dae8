/* Between the upstream client's files (upstream.c, upstream_policy.c):
 * the parsed URL and the policy check that tells "refused" from "unresolvable". */
#ifndef GW_UPSTREAM_INT_H
#define GW_UPSTREAM_INT_H

#include <stdbool.h>
#include <stddef.h>

struct gw_config;

struct up_url {
    char scheme[8];
    char host[256];
    int port;
};

int up_url_parse(const char *url, struct up_url *out, char *why, size_t n);
int up_url_check_ex(const struct gw_config *cfg, const char *url, bool *unresolvable,
                    char *why, size_t n);

#endif
