/* Fuzz target: the sealed requestState of multi-round-trip input, which
 * clients send back in follow-up requests. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "fuzz.h"
#include "mcp/mrtr.h"

static const unsigned char key[] = "fuzz-key-fuzz-key-fuzz-key-fuzz-key";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char in[MRTR_HANDLE_MAX + 16], again[MRTR_HANDLE_MAX];
    static struct gw_identity who;
    static struct mrtr_state s, back;

    if (size >= sizeof(in))
        return 0;
    memcpy(in, data, size);
    in[size] = '\0';
    memset(&who, 0, sizeof(who));
    snprintf(who.user_id, sizeof(who.user_id), "sub|fuzz|user");
    /* Random bytes never carry a valid MAC; what opens must reseal and reopen. */
    if (mrtr_open(key, sizeof(key) - 1, &who, in, 0, NULL, NULL, &s) == MRTR_OK) {
        if (mrtr_seal(key, sizeof(key) - 1, &who, &s, again, sizeof(again)) != 0 ||
            mrtr_open(key, sizeof(key) - 1, &who, again, 0, NULL, NULL, &back) != MRTR_OK)
            abort();
    }
    /* A valid handle built from the input must survive a round trip. */
    memset(&s, 0, sizeof(s));
    memcpy(s.target, in, size < sizeof(s.target) - 1 ? size : sizeof(s.target) - 1);
    s.exp = 10;
    if (mrtr_seal(key, sizeof(key) - 1, &who, &s, again, sizeof(again)) == 0 &&
        (mrtr_open(key, sizeof(key) - 1, &who, again, 0, NULL, s.target, &back) != MRTR_OK ||
         strcmp(back.target, s.target) != 0))
        abort();
    return 0;
}
