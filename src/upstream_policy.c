/* Where the gateway may connect on behalf of a registration (SSRF policy):
 * CIDR matching, special-purpose address ranges, upstream.allowed_networks. */
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <string.h>
#include <strings.h>
#include <stdlib.h>

#include <curl/curl.h>

#include "config.h"
#include "upstream.h"
#include "upstream_int.h"
#include "util.h"

static const unsigned char v4_mapped_prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

int up_cidr_parse(const char *s, struct up_cidr *out, char *why, size_t n)
{
    char host[INET6_ADDRSTRLEN + 8];
    const char *slash = strchr(s, '/');
    size_t hlen = slash ? (size_t)(slash - s) : strlen(s);
    struct in_addr a4;
    struct in6_addr a6;
    int max, prefix;

    memset(out, 0, sizeof(*out));
    if (hlen == 0 || hlen >= sizeof(host)) {
        gw_snprintf(why, n, "'%s' is not an address or network", s);
        return -1;
    }
    memcpy(host, s, hlen);
    host[hlen] = '\0';
    if (inet_pton(AF_INET, host, &a4) == 1) {
        memcpy(out->addr, v4_mapped_prefix, 12);
        memcpy(out->addr + 12, &a4, 4);
        max = 32;
    } else if (inet_pton(AF_INET6, host, &a6) == 1) {
        memcpy(out->addr, &a6, 16);
        max = 128;
    } else {
        gw_snprintf(why, n, "'%s' is not an IPv4 or IPv6 address", host);
        return -1;
    }
    prefix = max;
    if (slash != NULL) {
        char *end;
        long v = strtol(slash + 1, &end, 10);

        if (slash[1] == '\0' || *end != '\0' || v < 0 || v > max) {
            gw_snprintf(why, n, "'%s' has no prefix length 0..%d", s, max);
            return -1;
        }
        prefix = (int)v;
    }
    out->prefix = max == 32 ? prefix + 96 : prefix;
    /* Host bits set usually mean a typo (10.0.0.1/8 for 10.0.0.0/8). */
    for (int bit = out->prefix; bit < 128; bit++) {
        if (out->addr[bit / 8] & (0x80 >> (bit % 8))) {
            gw_snprintf(why, n, "'%s' has host bits set after /%d", s, prefix);
            return -1;
        }
    }
    return 0;
}

bool up_cidr_contains(const struct up_cidr *c, const unsigned char addr[16])
{
    int full = c->prefix / 8, rest = c->prefix % 8;

    if (memcmp(c->addr, addr, (size_t)full) != 0)
        return false;
    if (rest == 0)
        return true;
    return ((c->addr[full] ^ addr[full]) & (0xff << (8 - rest))) == 0;
}

int up_networks_check(const char *list, char *why, size_t n)
{
    const char *cur = NULL;
    char item[128];
    struct up_cidr c;

    while (cfg_list_next(list, &cur, item, sizeof(item)) != NULL)
        if (up_cidr_parse(item, &c, why, n) != 0)
            return -1;
    return 0;
}

int up_addr_from_sockaddr(const struct sockaddr *sa, unsigned char out[16])
{
    if (sa->sa_family == AF_INET) {
        memcpy(out, v4_mapped_prefix, 12);
        memcpy(out + 12, &((const struct sockaddr_in *)sa)->sin_addr, 4);
        return 0;
    }
    if (sa->sa_family == AF_INET6) {
        memcpy(out, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
        return 0;
    }
    return -1;
}

static void addr_text(const unsigned char addr[16], char *out, size_t n)
{
    char buf[INET6_ADDRSTRLEN];

    if (memcmp(addr, v4_mapped_prefix, 12) == 0)
        inet_ntop(AF_INET, addr + 12, buf, sizeof(buf));
    else
        inet_ntop(AF_INET6, addr, buf, sizeof(buf));
    gw_strlcpy(out, buf, n);
}

/* Special-purpose ranges (RFC 6890 and the clouds' metadata services), most
 * specific first so that the reason names the narrowest one. */
enum range_kind { R_REFUSE, R_METADATA, R_EMBEDS_V4 };
static const struct {
    const char *cidr;
    const char *what;
    enum range_kind kind;
} special[] = {
    { "169.254.169.254/32", "a cloud metadata address", R_METADATA },
    { "fd00:ec2::254/128", "a cloud metadata address", R_METADATA },
    { "100.100.100.200/32", "a cloud metadata address", R_METADATA },
    { "0.0.0.0/8", "an unspecified (this-network) address", R_REFUSE },
    { "127.0.0.0/8", "a loopback address", R_REFUSE },
    { "10.0.0.0/8", "a private address", R_REFUSE },
    { "172.16.0.0/12", "a private address", R_REFUSE },
    { "192.168.0.0/16", "a private address", R_REFUSE },
    { "100.64.0.0/10", "a shared (carrier-grade NAT) address", R_REFUSE },
    { "169.254.0.0/16", "a link-local address", R_REFUSE },
    { "192.0.0.0/24", "an IETF protocol assignment", R_REFUSE },
    { "192.0.2.0/24", "a documentation address", R_REFUSE },
    { "198.51.100.0/24", "a documentation address", R_REFUSE },
    { "203.0.113.0/24", "a documentation address", R_REFUSE },
    { "198.18.0.0/15", "a benchmarking address", R_REFUSE },
    { "224.0.0.0/4", "a multicast address", R_REFUSE },
    { "240.0.0.0/4", "a reserved or broadcast address", R_REFUSE },
    { "::/128", "the unspecified address", R_REFUSE },
    { "::1/128", "a loopback address", R_REFUSE },
    { "fc00::/7", "a private (unique local) address", R_REFUSE },
    { "fe80::/10", "a link-local address", R_REFUSE },
    { "fec0::/10", "a site-local address", R_REFUSE },
    { "ff00::/8", "a multicast address", R_REFUSE },
    { "2001:db8::/32", "a documentation address", R_REFUSE },
    /* Translation prefixes carry an IPv4 address: judge that one. */
    { "64:ff9b::/96", "a NAT64 address", R_EMBEDS_V4 },
    { "::/96", "an IPv4-compatible address", R_EMBEDS_V4 },
    { "2002::/16", "a 6to4 address", R_EMBEDS_V4 },
};

/* The IPv4 address inside a translation prefix, as IPv4-mapped. */
static void embedded_v4(const char *cidr, const unsigned char addr[16], unsigned char out[16])
{
    memcpy(out, v4_mapped_prefix, 12);
    if (strcmp(cidr, "2002::/16") == 0)
        memcpy(out + 12, addr + 2, 4);
    else
        memcpy(out + 12, addr + 12, 4);
}

/* Listed in allowed_networks; for a metadata address only by a network at
 * least as narrow as /16 (IPv4) or /64 (IPv6), so that a catch-all such as
 * 0.0.0.0/0 never opens the metadata service by accident. */
static bool listed(const struct gw_config *cfg, const unsigned char addr[16], bool metadata)
{
    const char *cur = NULL;
    char item[128], why[128];
    struct up_cidr c;
    bool v4 = memcmp(addr, v4_mapped_prefix, 12) == 0;

    while (cfg_list_next(cfg->upstream_allowed_networks, &cur, item, sizeof(item)) != NULL) {
        if (up_cidr_parse(item, &c, why, sizeof(why)) != 0 || !up_cidr_contains(&c, addr))
            continue;
        if (metadata && c.prefix < (v4 ? 96 + 16 : 64))
            continue;
        return true;
    }
    return false;
}

static int judge(const struct gw_config *cfg, bool plain_http, const unsigned char addr[16],
                 const unsigned char *shown, char *why, size_t n, int depth)
{
    char text[INET6_ADDRSTRLEN];
    struct up_cidr c;
    char err[128];
    bool metadata = false;
    const char *what = NULL;

    addr_text(shown, text, sizeof(text));
    for (size_t i = 0; i < GW_ARRAY_LEN(special); i++) {
        if (up_cidr_parse(special[i].cidr, &c, err, sizeof(err)) != 0 || !up_cidr_contains(&c, addr))
            continue;
        /* ::/96 also holds :: and ::1, which have their own rows above. */
        if (special[i].kind == R_EMBEDS_V4) {
            unsigned char inner[16];

            if (listed(cfg, addr, false))
                return 0;
            if (depth > 0)
                break;
            embedded_v4(special[i].cidr, addr, inner);
            return judge(cfg, plain_http, inner, shown, why, n, depth + 1);
        }
        metadata = special[i].kind == R_METADATA;
        what = special[i].what;
        break;
    }
    if (listed(cfg, addr, metadata))
        return 0;
    if (what != NULL) {
        gw_snprintf(why, n, "%s is %s, refused unless upstream.allowed_networks lists it%s", text,
                    what, metadata ? " (by a network of /16 or narrower)" : "");
        return -1;
    }
    if (plain_http) {
        gw_snprintf(why, n, "http:// is allowed only to networks listed in upstream.allowed_networks "
                    "(%s is not); use https://", text);
        return -1;
    }
    return 0;
}

int up_addr_allowed(const struct gw_config *cfg, const char *scheme, const unsigned char addr[16],
                    char *why, size_t n)
{
    return judge(cfg, strcasecmp(scheme, "http") == 0, addr, addr, why, n, 0);
}

int up_url_parse(const char *url, struct up_url *out, char *why, size_t n)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *user = NULL, *port = NULL;
    int rc = -1;

    memset(out, 0, sizeof(*out));
    if (u == NULL) {
        gw_snprintf(why, n, "out of memory");
        return -1;
    }
    if (url == NULL || strlen(url) > 2048 || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
        gw_snprintf(why, n, "not a valid absolute URL");
        goto out;
    }
    if (strcmp(scheme, "https") != 0 && strcmp(scheme, "http") != 0) {
        gw_snprintf(why, n, "scheme %s is not https:// or http://", scheme);
        goto out;
    }
    if (curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK) {
        gw_snprintf(why, n, "credentials in the URL are refused; give them in auth");
        goto out;
    }
    if (curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK) {
        gw_snprintf(why, n, "URL without a port");
        goto out;
    }
    gw_strlcpy(out->scheme, scheme, sizeof(out->scheme));
    /* curl keeps the brackets of an IPv6 literal; getaddrinfo wants none. */
    {
        size_t hl = strlen(host);

        if (hl > 2 && host[0] == '[' && host[hl - 1] == ']') {
            if (gw_snprintf(out->host, sizeof(out->host), "%.*s", (int)(hl - 2), host + 1) != 0)
                goto toolong;
        } else if (gw_strlcpy(out->host, host, sizeof(out->host)) != 0) {
            goto toolong;
        }
    }
    out->port = atoi(port);
    rc = 0;
    goto out;
toolong:
    gw_snprintf(why, n, "host name too long");
out:
    curl_free(scheme);
    curl_free(host);
    curl_free(user);
    curl_free(port);
    curl_url_cleanup(u);
    return rc;
}

int up_url_check_ex(const struct gw_config *cfg, const char *url, bool *unresolvable, char *why, size_t n)
{
    struct up_url pu;
    struct addrinfo hints, *res = NULL, *ai;
    int gai, rc = 0, count = 0;

    *unresolvable = false;
    if (up_url_parse(url, &pu, why, n) != 0)
        return -1;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    gai = getaddrinfo(pu.host, NULL, &hints, &res);
    if (gai != 0) {
        *unresolvable = true;
        gw_snprintf(why, n, "cannot resolve %s: %s", pu.host, gai_strerror(gai));
        return -1;
    }
    /* Every address, not the first: the connection may use any of them. */
    for (ai = res; ai != NULL && rc == 0; ai = ai->ai_next) {
        unsigned char addr[16];

        if (up_addr_from_sockaddr(ai->ai_addr, addr) != 0)
            continue;
        count++;
        rc = up_addr_allowed(cfg, pu.scheme, addr, why, n);
    }
    freeaddrinfo(res);
    if (rc == 0 && count == 0) {
        *unresolvable = true;
        gw_snprintf(why, n, "%s has no IPv4 or IPv6 address", pu.host);
        return -1;
    }
    return rc;
}

int up_url_check(const struct gw_config *cfg, const char *url, char *why, size_t n)
{
    bool unresolvable;

    return up_url_check_ex(cfg, url, &unresolvable, why, n);
}
