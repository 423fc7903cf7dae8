/* `mcp-gateway validate`: configuration, connectivity and files checked once,
 * each problem reported on its own line. */
#ifndef GW_VALIDATE_H
#define GW_VALIDATE_H

#include <stdio.h>

struct gw_config;

/* Runs every check; prints "error: ..." / "warning: ..." lines to out.
 * Returns the number of errors (warnings do not count). */
int validate_config(const struct gw_config *cfg, FILE *out);
/* What a SIGHUP reload checks before it applies fresh (old is the running
 * configuration): the same files, keys and JWKS, and the stores only where
 * they moved; every check is bounded to a few seconds. Returns the errors. */
int validate_reload(const struct gw_config *old, const struct gw_config *fresh, FILE *out);

#endif
