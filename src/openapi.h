/* The management plane described as OpenAPI 3.1, built from the route table
 * plus one documentation entry per route, and rendered as plain HTML for /docs. */
#ifndef GW_OPENAPI_H
#define GW_OPENAPI_H

#include <stddef.h>
#include <json-c/json.h>

struct gw_app;
struct route;

/* What the route table does not say about a route: bodies, answers, problems. */
struct api_doc {
    const char *method;
    const char *pattern;
    int ok_status;               /* 200, 201, 204, ... */
    const char *ok_schema;       /* JSON Schema text of the answer, NULL for none */
    const char *request_schema;  /* JSON Schema text of the body, NULL for none */
    const char *query;           /* "name:type:description;..." query parameters, or NULL */
    const char *headers;         /* "name:description;..." request headers, or NULL */
    const char *problems;        /* problem statuses besides the auth ones: "400,404,409" */
};

/* The documentation entry of a route, or NULL when it has none. */
const struct api_doc *openapi_doc_for(const char *method, const char *pattern);
/* The whole document (caller puts it); api_url is the servers[0] URL. NULL
 * only when an entry's schema text is not JSON, which a unit test rules out. */
struct json_object *openapi_build(const char *api_url);
/* The document as one HTML page without external assets (caller frees). */
char *openapi_html(struct json_object *doc);

#endif
