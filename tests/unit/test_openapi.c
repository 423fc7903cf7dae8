/* The OpenAPI document: every management route documented with its role,
 * nothing documented that is not routed, and /docs free of external assets. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>

#include "auth.h"
#include "openapi.h"
#include "router.h"

static void lower(const char *in, char *out, size_t n)
{
    size_t i;

    for (i = 0; in[i] != '\0' && i + 1 < n; i++)
        out[i] = (char)(in[i] >= 'A' && in[i] <= 'Z' ? in[i] + 32 : in[i]);
    out[i] = '\0';
}

Test(openapi, documents_every_management_route_with_its_role)
{
    size_t n;
    const struct route *routes = router_table(&n);
    struct json_object *doc = openapi_build("https://127.0.0.1:8000"), *paths;

    cr_assert_not_null(doc, "the document must build");
    cr_assert(json_object_object_get_ex(doc, "paths", &paths));
    for (size_t i = 0; i < n; i++) {
        struct json_object *item, *op, *role;
        char m[16];

        if (!(routes[i].plane & PLANE_API))
            continue;
        cr_assert_not_null(openapi_doc_for(routes[i].method, routes[i].pattern),
                           "%s %s has no documentation entry", routes[i].method, routes[i].pattern);
        cr_assert(json_object_object_get_ex(paths, routes[i].pattern, &item), "%s missing",
                  routes[i].pattern);
        lower(routes[i].method, m, sizeof(m));
        cr_assert(json_object_object_get_ex(item, m, &op), "%s %s missing", m, routes[i].pattern);
        cr_assert(json_object_object_get_ex(op, "x-required-role", &role));
        cr_assert_str_eq(json_object_get_string(role),
                         routes[i].role ? auth_role_name(routes[i].role) : "public");
    }
    json_object_put(doc);
}

Test(openapi, documents_nothing_that_is_not_routed)
{
    size_t n;
    const struct route *routes = router_table(&n);
    struct json_object *doc = openapi_build("https://127.0.0.1:8000"), *paths;
    size_t documented = 0, routed = 0;

    cr_assert_not_null(doc);
    cr_assert(json_object_object_get_ex(doc, "paths", &paths));
    json_object_object_foreach(paths, path, item)
    {
        (void)path;
        documented += (size_t)json_object_object_length(item);
    }
    for (size_t i = 0; i < n; i++)
        if (routes[i].plane & PLANE_API)
            routed++;
    cr_assert_eq(documented, routed);
    json_object_put(doc);
}

Test(openapi, protected_operations_declare_bearer_and_auth_problems)
{
    struct json_object *doc = openapi_build("https://gw.example:8000"), *v, *op, *resp;

    cr_assert_not_null(doc);
    cr_assert(json_object_object_get_ex(doc, "paths", &v));
    cr_assert(json_object_object_get_ex(v, "/api/v1/me", &v));
    cr_assert(json_object_object_get_ex(v, "get", &op));
    cr_assert(json_object_object_get_ex(op, "security", &v));
    cr_assert_eq(json_object_array_length(v), 1);
    cr_assert(json_object_object_get_ex(op, "responses", &resp));
    cr_assert(json_object_object_get_ex(resp, "401", &v));
    cr_assert(json_object_object_get_ex(resp, "403", &v));
    cr_assert(json_object_object_get_ex(doc, "servers", &v));
    cr_assert_str_eq(json_object_get_string(json_object_object_get(json_object_array_get_idx(v, 0), "url")),
                     "https://gw.example:8000");
    json_object_put(doc);
}

/* Every response has a real description, and an operation that takes a JSON
 * body declares what the pipeline answers about bodies (413, 415). */
Test(openapi, responses_are_named_and_bodies_declare_413_415)
{
    struct json_object *doc = openapi_build("https://127.0.0.1:8000"), *paths;

    cr_assert_not_null(doc);
    cr_assert(json_object_object_get_ex(doc, "paths", &paths));
    json_object_object_foreach(paths, path, item)
    {
        json_object_object_foreach(item, method, op)
        {
            struct json_object *resp, *v;

            cr_assert(json_object_object_get_ex(op, "responses", &resp));
            json_object_object_foreach(resp, code, r)
            {
                cr_assert(json_object_object_get_ex(r, "description", &v));
                cr_assert_str_neq(json_object_get_string(v), "Unknown", "%s %s: %s has no name", method,
                                  path, code);
            }
            if (json_object_object_get_ex(op, "requestBody", &v)) {
                cr_assert(json_object_object_get_ex(resp, "413", &v), "%s %s: no 413", method, path);
                cr_assert(json_object_object_get_ex(resp, "415", &v), "%s %s: no 415", method, path);
            }
        }
    }
    json_object_put(doc);
}

Test(openapi, operation_ids_are_unique)
{
    struct json_object *doc = openapi_build("https://127.0.0.1:8000"), *paths, *seen;

    cr_assert_not_null(doc);
    seen = json_object_new_object();
    cr_assert(json_object_object_get_ex(doc, "paths", &paths));
    json_object_object_foreach(paths, path, item)
    {
        (void)path;
        json_object_object_foreach(item, m, op)
        {
            const char *id = json_object_get_string(json_object_object_get(op, "operationId"));

            (void)m;
            cr_assert_not_null(id);
            cr_assert(!json_object_object_get_ex(seen, id, NULL), "duplicate operationId %s", id);
            json_object_object_add(seen, id, NULL);
        }
    }
    json_object_put(seen);
    json_object_put(doc);
}

Test(openapi, html_has_no_external_assets_and_escapes_text)
{
    struct json_object *doc = openapi_build("https://127.0.0.1:8000");
    char *html;

    cr_assert_not_null(doc);
    html = openapi_html(doc);
    cr_assert_not_null(html);
    cr_assert_not_null(strstr(html, "/api/v1/me"));
    /* Schemas are shown as escaped JSON text, not markup. */
    cr_assert_not_null(strstr(html, "&quot;$ref&quot;"));
    cr_assert_null(strstr(html, "<script"));
    cr_assert_null(strstr(html, " src="));
    cr_assert_null(strstr(html, "<link"));
    cr_assert_null(strstr(html, "http://"));
    cr_assert_null(strstr(html, "https://"));
    free(html);
    json_object_put(doc);
}
