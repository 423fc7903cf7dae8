/* Fuzz target: one MCP POST body through the JSON-RPC parser and classifier,
 * and the same bytes as Accept and Content-Type headers. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "mcp/jsonrpc.h"
#include "mcp/transport.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct jr_msg m;
    char why[160], *s;

    if (jr_parse((const char *)data, size, 16, &m, why, sizeof(why)) == 0) {
        struct json_object *r = m.kind == JR_REQUEST ? jr_result(m.id, NULL) : NULL;

        json_object_put(r);
        jr_msg_free(&m);
    }
    s = malloc(size + 1);
    if (s == NULL)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    (void)mt_accepts(s, "application/json");
    (void)mt_accepts(s, "text/event-stream");
    (void)mt_is_json(s);
    (void)mt_version_supported(s);
    free(s);
    return 0;
}
