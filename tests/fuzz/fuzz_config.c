/* Fuzz target: the INI configuration parser (any bytes as a config file). */
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct gw_config cfg;
    static struct cfg_errors errs;
    char *text = malloc(size + 1);

    if (text == NULL)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    cfg_defaults(&cfg);
    memset(&errs, 0, sizeof(errs));
    cfg_load_string(&cfg, "fuzz.conf", text, &errs);
    free(text);
    return 0;
}
