/* Fuzz target: secret masking of configuration output and error messages (any
 * text, into a large and a tiny buffer: always terminated, never overrun). */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1), big[4096], tiny[9];

    if (text == NULL)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    gw_mask_secrets(text, big, sizeof(big));
    gw_mask_secrets(text, tiny, sizeof(tiny));
    if (strlen(big) >= sizeof(big) || strlen(tiny) >= sizeof(tiny))
        abort();
    free(text);
    return 0;
}
