/* Fuzz target: bearer token parsing (segments, base64url, header and payload
 * JSON, alg/typ/crit/kid) and the claim checks on whatever payload parsed. */
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>

#include "auth.h"
#include "auth_jwt.h"
#include "config.h"
#include "fuzz.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct gw_config cfg;
    static int ready;
    struct authjwt_token t;
    struct gw_identity id;
    char reason[256];

    if (!ready) {
        cfg_defaults(&cfg);
        gw_strlcpy(cfg.auth_issuer, "https://login.microsoftonline.com/{tid}/v2.0", sizeof(cfg.auth_issuer));
        gw_strlcpy(cfg.auth_audiences, "api://gateway,gateway", sizeof(cfg.auth_audiences));
        gw_strlcpy(cfg.auth_allowed_tenants, "*", sizeof(cfg.auth_allowed_tenants));
        ready = 1;
    }
    if (authjwt_parse((const char *)data, size, 16384, &t, reason, sizeof(reason)) != 0)
        return 0;
    memset(&id, 0, sizeof(id));
    authjwt_check_claims(&cfg, t.payload, 1700000000, &id, reason, sizeof(reason));
    authjwt_token_free(&t);
    return 0;
}
