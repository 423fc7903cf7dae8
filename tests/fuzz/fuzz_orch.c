/* Fuzz target: the bodies orchestration parses from clients, POST
 * /api/v1/tasks (and gateway__delegate_task's arguments) and POST
 * /api/v1/coordination/plan. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "js.h"
#include "orch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct json_object *body, *plan = NULL;
    struct orch_request r;
    struct orch_error e = { 0 };
    enum js_parse_error err;

    body = js_parse((const char *)data, size, 64, &err);
    if (body == NULL)
        return 0;
    if (orch_request_parse(body, &r, &e) == 0 && (r.type == NULL || !orch_task_type_valid(r.type)))
        abort();   /* an accepted request always names a valid type */
    if (orch_plan_request(body, &plan, &e) == 0 && plan == NULL)
        abort();
    json_object_put(plan);
    json_object_put(body);
    return 0;
}
