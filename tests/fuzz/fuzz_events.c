/* Fuzz target: the body of POST /api/v1/events, as any admin may send it. */
#include <stdlib.h>
#include <string.h>

#include "events.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct event_req r;
    char err[256];

    if (events_parse((const char *)data, size, 64, &r, err, sizeof(err)) == 0) {
        /* What is accepted is a valid type with an object of data. */
        if (!events_type_valid(r.type) || !json_object_is_type(r.data, json_type_object))
            abort();
        event_req_clear(&r);
    } else if (r.data != NULL || err[0] == '\0') {
        abort();
    }
    return 0;
}
