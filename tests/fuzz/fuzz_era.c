/* Fuzz target: the era rules of one MCP POST. The first line is three
 * headers separated by '|' (MCP-Protocol-Version, Mcp-Method, Mcp-Name), the
 * rest the body; the whole input is also an Mcp-Name value to decode. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "mcp/era.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1), *nl, *f[3] = { NULL, NULL, NULL }, out[256];
    struct mce_headers h;
    struct mce_verdict v;
    struct jr_msg m;
    char why[160];

    if (s == NULL)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    (void)mce_header_value(s, out, sizeof(out));
    nl = strchr(s, '\n');
    if (nl != NULL) {
        char *p = s;

        *nl = '\0';
        for (int i = 0; i < 3 && p != NULL; i++) {
            char *bar = strchr(p, '|');

            if (bar != NULL)
                *bar++ = '\0';
            f[i] = *p != '\0' ? p : NULL;
            p = bar;
        }
        h.version = f[0];
        h.method = f[1];
        h.name = f[2];
        if (jr_parse(nl + 1, strlen(nl + 1), 16, &m, why, sizeof(why)) == 0) {
            mce_classify(&h, &m, &v);
            jr_msg_free(&m);
        }
    }
    free(s);
    return 0;
}
