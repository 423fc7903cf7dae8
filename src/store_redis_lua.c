/* Redis Lua scripts by SHA-1: what must be read and written atomically across
 * the fleet (sessions, leases) runs in one script and one round trip. */
#include <stdlib.h>
#include <string.h>
#include <openssl/sha.h>

#include "store_redis.h"
#include "util.h"

#define EVAL_ARGS_MAX 64

redisReply *rds_eval(struct gw_app *app, struct rds_script *s, int nkeys, int argc,
                     const char **argv, const size_t *lens)
{
    const char *av[EVAL_ARGS_MAX + 3];
    size_t al[EVAL_ARGS_MAX + 3];
    char nk[16];
    redisReply *rep;

    if (argc > EVAL_ARGS_MAX || nkeys > argc)
        return NULL;
    if (s->sha[0] == '\0') {
        unsigned char md[SHA_DIGEST_LENGTH];

        SHA1((const unsigned char *)s->src, strlen(s->src), md);
        gw_hex(md, sizeof(md), s->sha);
    }
    snprintf(nk, sizeof(nk), "%d", nkeys);
    av[0] = "EVALSHA";
    av[1] = s->sha;
    av[2] = nk;
    for (int i = 0; i < 3; i++)
        al[i] = strlen(av[i]);
    for (int i = 0; i < argc; i++) {
        av[3 + i] = argv[i];
        al[3 + i] = lens != NULL ? lens[i] : strlen(argv[i]);
    }
    rep = rds_cmdargv(app, argc + 3, av, al);
    if (rep != NULL && rep->type == REDIS_REPLY_ERROR && strncmp(rep->str, "NOSCRIPT", 8) == 0) {
        freeReplyObject(rep);
        av[0] = "EVAL";
        av[1] = s->src;
        al[0] = 4;
        al[1] = strlen(s->src);
        rep = rds_cmdargv(app, argc + 3, av, al);
    }
    return rep;
}

static struct rds_script del_if_script = { .src =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end\n"
    "return 0\n" };

int rds_del_if(struct gw_app *app, const char *key, const char *value)
{
    const char *argv[2] = { key, value };
    redisReply *r = rds_eval(app, &del_if_script, 1, 2, argv, NULL);
    int rc = r != NULL && r->type == REDIS_REPLY_INTEGER ? (int)r->integer : -1;

    if (r != NULL)
        freeReplyObject(r);
    return rc;
}
