/* Fuzz target: JWKS documents (JSON, key types, base64url key material,
 * OpenSSL key construction). */
#include "auth_jwks.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct jwks_set set = { 0 };
    char err[256];

    if (jwks_parse((const char *)data, size, &set, err, sizeof(err)) == 0)
        jwks_find(&set, "k1");
    jwks_set_free(&set);
    return 0;
}
