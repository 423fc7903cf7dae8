/* Fuzz target: query strings through http_query_next, and audit details: any
 * JSON object the canonical form accepts must read back to the same text. */
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "audit.h"
#include "fuzz.h"
#include "http.h"

static void query(const char *s)
{
    struct http_request r;
    const char *cur = NULL;
    char name[64], value[256];
    int n = 0;

    memset(&r, 0, sizeof(r));
    r.query = s;
    while (http_query_next(&r, &cur, name, sizeof(name), value, sizeof(value)) == 1)
        if (++n > 10000)
            abort(); /* the cursor must always advance */
}

/* Canonicalize, parse the result, canonicalize again: the two texts agree,
 * or verify would call a good row broken. */
static void detail(const char *s, size_t size)
{
    struct json_tokener *tok = json_tokener_new_ex(32);
    struct json_object *o, *again;
    char err[256], *once, *twice;
    struct audit_row row = { .id = 1, .ts = "2026-01-01T00:00:00.000000Z", .action = "a",
                             .outcome = "success" };
    char hash[65];

    if (tok == NULL)
        return;
    o = json_tokener_parse_ex(tok, s, (int)size);
    json_tokener_free(tok);
    if (o == NULL)
        return;
    once = audit_canonical_detail(o, err, sizeof(err));
    json_object_put(o);
    if (once == NULL)
        return;
    again = json_tokener_parse(once);
    if (again == NULL)
        abort();
    twice = audit_canonical_detail(again, err, sizeof(err));
    json_object_put(again);
    if (twice == NULL || strcmp(once, twice) != 0)
        abort();
    row.detail_canonical = once;
    audit_row_hash(AUDIT_GENESIS_HASH, &row, hash);
    if (strlen(hash) != 64)
        abort();
    free(once);
    free(twice);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);

    if (s == NULL)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    query(s);
    detail(s, size);
    free(s);
    return 0;
}
