/* LD_PRELOAD interposer for the SSRF tests: scripted DNS answers for two
 * names, so that a test can make a host's address change between the policy
 * check and the connection (rebind.test), resolve to a mix (mixed.test), or
 * not resolve at all (nxdomain.test) without asking a real DNS server. */
#include <dlfcn.h>
#include <netdb.h>
#include <stdatomic.h>
#include <stddef.h>
#include <string.h>

typedef int (*gai_fn)(const char *, const char *, const struct addrinfo *, struct addrinfo **);

static atomic_int rebind_calls;

static int real_gai(const char *node, const char *service, const struct addrinfo *hints,
                    struct addrinfo **res)
{
    gai_fn real = (gai_fn)dlsym(RTLD_NEXT, "getaddrinfo");
    struct addrinfo h;

    /* Numeric answers only, and of any family: the caller may ask for both. */
    memset(&h, 0, sizeof(h));
    if (hints != NULL)
        h = *hints;
    h.ai_family = AF_UNSPEC;
    h.ai_flags |= AI_NUMERICHOST;
    return real(node, service, &h, res);
}

int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
                struct addrinfo **res)
{
    /* rebind.test: a public address the first time, loopback after. */
    if (node != NULL && strcmp(node, "rebind.test") == 0)
        return real_gai(atomic_fetch_add(&rebind_calls, 1) == 0 ? "93.184.216.34" : "127.0.0.1",
                        service, hints, res);
    if (node != NULL && strcmp(node, "nxdomain.test") == 0)
        return EAI_NONAME;
    /* mixed.test: a public address and a private one. */
    if (node != NULL && strcmp(node, "mixed.test") == 0) {
        struct addrinfo *first = NULL, *second = NULL, *last;
        int rc = real_gai("93.184.216.34", service, hints, &first);

        if (rc != 0)
            return rc;
        rc = real_gai("10.0.0.1", service, hints, &second);
        if (rc != 0) {
            freeaddrinfo(first);
            return rc;
        }
        for (last = first; last->ai_next != NULL; last = last->ai_next)
            ;
        last->ai_next = second;
        *res = first;
        return 0;
    }
    return ((gai_fn)dlsym(RTLD_NEXT, "getaddrinfo"))(node, service, hints, res);
}
