/* Fuzz target: an agent's answer to a delegated gate check (any JSON a hostile
 * upstream sends) read as a verdict; the detail must stay bounded and printable. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "gates.h"
#include "js.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    enum js_parse_error e;
    enum gate_check_status st = GATE_CHECK_ERROR;
    struct json_object *o = js_parse((const char *)data, size, 32, &e);
    char detail[64];

    memset(detail, 'x', sizeof(detail));
    if (gates_verdict_parse(o, &st, detail, sizeof(detail)) == 0 &&
        st != GATE_CHECK_PASSED && st != GATE_CHECK_FAILED)
        abort();   /* a verdict is passed or failed, nothing else */
    if (memchr(detail, '\0', sizeof(detail)) == NULL)
        abort();   /* bounded and terminated */
    for (size_t i = 0; detail[i] != '\0'; i++)
        if ((unsigned char)detail[i] < 0x20 || (unsigned char)detail[i] >= 0x7f)
            abort();   /* printable ASCII only reaches logs, reports and jsonb */
    json_object_put(o);
    return 0;
}
