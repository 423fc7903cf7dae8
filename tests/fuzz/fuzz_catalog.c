/* Fuzz target: a catalog entry as read back from Redis (the JSON after the
 * MAC line: only MAC'd text reaches the parser, but it must never trust its
 * shape), and the /mcp list cursors clients send back. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "mcp/catalog.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cat_server s;
    char why[160], in[4096], after[4096], again[8192], back[4096];

    if (cat_entry_parse((const char *)data, size, &s, why, sizeof why) == 0) {
        /* A parsed entry holds what the lists rely on. */
        if (s.tools == NULL || s.prompts == NULL || s.resources == NULL ||
            s.resource_templates == NULL || s.required_roles == NULL || s.tags == NULL ||
            s.description == NULL || s.name[0] == '\0')
            abort();
        cat_server_clear(&s);
    }
    if (size < sizeof(in)) {
        memcpy(in, data, size);
        in[size] = '\0';
        /* What decodes must survive a round trip. */
        if (cat_cursor_decode(in, 't', after, sizeof(after)) == 0 &&
            (cat_cursor_encode('t', after, again, sizeof(again)) != 0 ||
             cat_cursor_decode(again, 't', back, sizeof(back)) != 0 || strcmp(after, back) != 0))
            abort();
    }
    return 0;
}
