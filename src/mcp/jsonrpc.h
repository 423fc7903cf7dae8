/* JSON-RPC 2.0 as MCP uses it: one message per HTTP body (no batches), ids
 * that are strings or integers, params that are objects. */
#ifndef GW_MCP_JSONRPC_H
#define GW_MCP_JSONRPC_H

#include <stdbool.h>
#include <stddef.h>
#include <json-c/json.h>

#define JR_PARSE_ERROR -32700
#define JR_INVALID_REQUEST -32600
#define JR_METHOD_NOT_FOUND -32601
#define JR_INVALID_PARAMS -32602
#define JR_INTERNAL_ERROR -32603

enum jr_kind { JR_REQUEST = 1, JR_NOTIFICATION, JR_RESPONSE };

struct jr_msg {
    enum jr_kind kind;
    struct json_object *root;    /* owned */
    struct json_object *id;      /* borrowed from root; NULL for a notification */
    const char *method;          /* requests and notifications */
    struct json_object *params;  /* object, or NULL when absent */
};

/* Parse and classify one message. 0, or JR_PARSE_ERROR / JR_INVALID_REQUEST
 * with the reason in why (m is then empty). */
int jr_parse(const char *body, size_t len, int depth, struct jr_msg *m, char *why, size_t n);
void jr_msg_free(struct jr_msg *m);

/* The same JSON-RPC id: both integers of one value, or the same string. */
bool jr_id_equal(struct json_object *a, struct json_object *b);

/* {"jsonrpc":"2.0","id":id,"result":result}; takes result, copies id. */
struct json_object *jr_result(struct json_object *id, struct json_object *result);
/* {"jsonrpc":"2.0","id":id|null,"error":{code,message[,data]}}; takes data. */
struct json_object *jr_error(struct json_object *id, int code, const char *message,
                             struct json_object *data);

#endif
