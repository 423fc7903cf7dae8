/* Fuzz target: an allocation request's estimated_load as a client sends it
 * (POST /api/v1/resources/allocations), through the seed's arithmetic. */
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "fuzz.h"
#include "js.h"
#include "pools.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct gw_config cfg;
    static int ready;
    enum js_parse_error e;
    struct json_object *body;
    int units[POOL_COUNT];
    char err[256];

    if (!ready) {
        cfg_defaults(&cfg);
        ready = 1;
    }
    body = js_parse((const char *)data, size, 64, &e);
    if (pools_compute(&cfg, js_str(body, "operation_type"), js_get(body, "estimated_load", json_type_object),
                      units, err, sizeof(err)) == POOLS_OK) {
        /* What is granted fits every pool. */
        for (int p = 0; p < POOL_COUNT; p++)
            if (units[p] < 0 || units[p] > pools_capacity(&cfg, (enum pool_id)p))
                abort();
    } else if (err[0] == '\0') {
        abort();   /* a refusal always says why */
    }
    json_object_put(body);
    return 0;
}
