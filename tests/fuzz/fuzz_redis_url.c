/* Fuzz target: the redis.url parser (any text, every buffer as small as the
 * connection code gives it: always terminated, never overrun). */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "store_redis.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *url = malloc(size + 1), host[256], path[512], user[128], password[256];
    int port, db;

    if (url == NULL)
        return 0;
    memcpy(url, data, size);
    url[size] = '\0';
    if (rds_parse_url(url, host, sizeof(host), &port, path, sizeof(path), user, sizeof(user),
                      password, sizeof(password), &db) == 0 &&
        (strlen(host) >= sizeof(host) || strlen(path) >= sizeof(path) || strlen(user) >= sizeof(user) ||
         strlen(password) >= sizeof(password) || (path[0] == '\0' && host[0] == '\0')))
        abort();
    free(url);
    return 0;
}
