/* Fuzz target: the registry's opaque list cursor (base64url of name and id),
 * which arrives from clients in the query string. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "registry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char in[1024], name[64], id[512], again[900];

    if (size >= sizeof(in))
        return 0;
    memcpy(in, data, size);
    in[size] = '\0';
    if (reg_cursor_decode(in, name, sizeof(name), id, sizeof(id)) == 0 &&
        reg_cursor_encode(name, id, again, sizeof(again)) == 0 &&
        reg_cursor_decode(again, name, sizeof(name), id, sizeof(id)) != 0)
        abort();   /* what decodes must survive a round trip */
    (void)reg_name_valid(name);
    return 0;
}
