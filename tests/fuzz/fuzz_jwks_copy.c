/* Fuzz target: the sealed fleet copy of a JWKS as read back from Redis
 * (envelope, fetch time, MAC), and seal-then-open of any document. */
#include <stdlib.h>
#include <string.h>

#include "auth_jwks.h"
#include "config.h"
#include "fuzz.h"

#define FUZZ_URI "file:///fuzz/jwks.json"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct gw_config cfg;
    static const char key[] = "fuzz-fleet-key-0123456789abcdef-0123";
    const char *doc;
    char why[160], *copy = NULL;
    size_t doclen, len;
    int64_t t;

    if (cfg.fleet_key_len == 0) {
        cfg_defaults(&cfg);
        memcpy(cfg.auth_issuer, "https://issuer.example/", sizeof "https://issuer.example/");
        memcpy(cfg.fleet_key, key, sizeof key - 1);
        cfg.fleet_key_len = sizeof key - 1;
    }
    jwks_copy_open(&cfg, FUZZ_URI, (const char *)data, size, &t, &doc, &doclen, why, sizeof why);
    /* Whatever the document, what the fleet seals it must open unchanged. */
    if (jwks_copy_seal(&cfg, FUZZ_URI, (int64_t)size * 1000, (const char *)data, size, &copy,
                       &len) == 0) {
        if (jwks_copy_open(&cfg, FUZZ_URI, copy, len, &t, &doc, &doclen, why, sizeof why) != 0 ||
            t != (int64_t)size * 1000 || doclen != size || memcmp(doc, data, size) != 0)
            abort();
        free(copy);
    }
    return 0;
}
