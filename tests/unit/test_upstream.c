/* The upstream client's pure parts: CIDR matching, the SSRF address policy
 * (IPv4, IPv6, IPv4-mapped, translation prefixes), URL checks, the SSE parser. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "sse.h"
#include "upstream.h"

static void addr16(const char *text, unsigned char out[16])
{
    struct in_addr a4;

    if (inet_pton(AF_INET, text, &a4) == 1) {
        memset(out, 0, 10);
        out[10] = out[11] = 0xff;
        memcpy(out + 12, &a4, 4);
    } else {
        cr_assert_eq(inet_pton(AF_INET6, text, out), 1, "bad test address %s", text);
    }
}

static bool in(const char *cidr, const char *addr)
{
    struct up_cidr c;
    unsigned char a[16];
    char why[128];

    cr_assert_eq(up_cidr_parse(cidr, &c, why, sizeof(why)), 0, "%s: %s", cidr, why);
    addr16(addr, a);
    return up_cidr_contains(&c, a);
}

Test(cidr, matches_ipv4_networks_at_their_edges)
{
    cr_assert(in("10.0.0.0/8", "10.0.0.0"));
    cr_assert(in("10.0.0.0/8", "10.255.255.255"));
    cr_assert_not(in("10.0.0.0/8", "11.0.0.0"));
    cr_assert(in("172.16.0.0/12", "172.31.255.255"));
    cr_assert_not(in("172.16.0.0/12", "172.32.0.0"));
    cr_assert(in("192.0.2.7", "192.0.2.7"));        /* a bare address is a host */
    cr_assert_not(in("192.0.2.7", "192.0.2.8"));
    cr_assert(in("0.0.0.0/0", "203.0.113.9"));
    cr_assert_not(in("0.0.0.0/0", "2001:db8::1"));  /* an IPv4 network holds no IPv6 */
}

Test(cidr, matches_ipv6_networks)
{
    cr_assert(in("fc00::/7", "fd12:3456::1"));
    cr_assert_not(in("fc00::/7", "fe00::1"));
    cr_assert(in("fe80::/10", "febf:ffff::1"));
    cr_assert_not(in("fe80::/10", "fec0::1"));
    cr_assert(in("::1/128", "::1"));
    cr_assert(in("::/0", "2001:db8::1"));
}

Test(cidr, an_ipv4_mapped_ipv6_address_matches_its_ipv4_network)
{
    cr_assert(in("127.0.0.0/8", "::ffff:127.0.0.1"));
    cr_assert(in("10.0.0.0/8", "::ffff:10.9.8.7"));
    cr_assert_not(in("10.0.0.0/8", "::ffff:11.0.0.1"));
}

Test(cidr, refuses_malformed_networks_with_a_reason)
{
    struct up_cidr c;
    char why[128];
    static const char *const bad[] = { "10.0.0.0/33", "::/129", "10.0.0.1/8", "10.0.0.0/", "/8",
                                       "10.0.0/8", "example.com", "10.0.0.0/8x", "", "fe80::1/10" };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        why[0] = '\0';
        cr_expect_eq(up_cidr_parse(bad[i], &c, why, sizeof(why)), -1, "accepted '%s'", bad[i]);
        cr_expect_neq(why[0], '\0', "no reason for '%s'", bad[i]);
    }
    cr_assert_eq(up_networks_check("127.0.0.0/8, ::1/128 ,10.0.0.0/8", why, sizeof(why)), 0);
    cr_assert_eq(up_networks_check("127.0.0.0/8,10.0.0.1/8", why, sizeof(why)), -1);
    cr_assert(strstr(why, "host bits") != NULL, "%s", why);
}

static struct gw_config cfg;

static int allowed(const char *scheme, const char *addr, const char *networks, char *why, size_t n)
{
    unsigned char a[16];

    cfg_defaults(&cfg);
    snprintf(cfg.upstream_allowed_networks, sizeof(cfg.upstream_allowed_networks), "%s", networks);
    addr16(addr, a);
    return up_addr_allowed(&cfg, scheme, a, why, n);
}

#define REFUSED(scheme, addr, nets, word) do { \
        char why_[256] = ""; \
        cr_expect_eq(allowed(scheme, addr, nets, why_, sizeof(why_)), -1, "%s %s allowed", scheme, addr); \
        cr_expect(strstr(why_, word) != NULL, "%s: '%s' lacks '%s'", addr, why_, word); \
    } while (0)
#define ALLOWED(scheme, addr, nets) do { \
        char why_[256] = ""; \
        cr_expect_eq(allowed(scheme, addr, nets, why_, sizeof(why_)), 0, "%s %s refused: %s", scheme, addr, why_); \
    } while (0)

Test(policy, refuses_special_addresses_over_https_unless_listed)
{
    REFUSED("https", "127.0.0.1", "", "loopback");
    REFUSED("https", "::1", "", "loopback");
    REFUSED("https", "10.1.2.3", "", "private");
    REFUSED("https", "172.20.0.1", "", "private");
    REFUSED("https", "192.168.1.1", "", "private");
    REFUSED("https", "fd12::1", "", "private");
    REFUSED("https", "169.254.10.10", "", "link-local");
    REFUSED("https", "fe80::1", "", "link-local");
    REFUSED("https", "0.0.0.0", "", "unspecified");
    REFUSED("https", "::", "", "unspecified");
    REFUSED("https", "224.0.0.1", "", "multicast");
    REFUSED("https", "ff02::1", "", "multicast");
    REFUSED("https", "255.255.255.255", "", "broadcast");
    REFUSED("https", "100.64.1.1", "", "carrier-grade");
    ALLOWED("https", "93.184.216.34", "");
    ALLOWED("https", "2606:2800:220:1::1", "");
    ALLOWED("https", "10.1.2.3", "10.0.0.0/8");
    ALLOWED("https", "fd12::1", "fd00::/8");
}

Test(policy, names_the_cloud_metadata_services)
{
    REFUSED("https", "169.254.169.254", "", "metadata");
    REFUSED("https", "fd00:ec2::254", "", "metadata");
    REFUSED("http", "100.100.100.200", "", "metadata");
}

Test(policy, a_catch_all_list_does_not_open_the_metadata_service)
{
    REFUSED("https", "169.254.169.254", "0.0.0.0/0", "metadata");
    REFUSED("https", "fd00:ec2::254", "::/0", "metadata");
    ALLOWED("https", "169.254.10.10", "0.0.0.0/0");
    ALLOWED("https", "169.254.169.254", "169.254.169.254/32");
    ALLOWED("http", "169.254.169.254", "169.254.0.0/16");
}

Test(policy, plain_http_only_to_listed_networks)
{
    REFUSED("http", "93.184.216.34", "", "http://");
    REFUSED("http", "93.184.216.34", "127.0.0.0/8", "http://");
    ALLOWED("http", "127.0.0.1", "127.0.0.0/8");
    ALLOWED("http", "93.184.216.34", "93.184.216.0/24");
    REFUSED("http", "::1", "127.0.0.0/8", "loopback");
}

Test(policy, ipv4_mapped_addresses_are_judged_as_ipv4)
{
    REFUSED("https", "::ffff:127.0.0.1", "", "loopback");
    REFUSED("https", "::ffff:169.254.169.254", "", "metadata");
    REFUSED("https", "::ffff:10.0.0.1", "", "private");
    ALLOWED("http", "::ffff:127.0.0.1", "127.0.0.0/8");
    ALLOWED("https", "::ffff:93.184.216.34", "");
}

Test(policy, translation_prefixes_are_judged_by_the_ipv4_they_carry)
{
    REFUSED("https", "64:ff9b::7f00:1", "", "loopback");            /* NAT64 of 127.0.0.1 */
    REFUSED("https", "64:ff9b::a9fe:a9fe", "", "metadata");         /* NAT64 of 169.254.169.254 */
    REFUSED("https", "2002:a00:1::1", "", "private");               /* 6to4 of 10.0.0.1 */
    REFUSED("https", "::7f00:1", "", "loopback");                   /* IPv4-compatible 127.0.0.1 */
    ALLOWED("https", "64:ff9b::5db8:d822", "");                     /* NAT64 of a public address */
}

Test(policy, url_check_refuses_bad_urls_and_literal_special_hosts)
{
    char why[256];

    cfg_defaults(&cfg);
    cr_assert_eq(up_url_check(&cfg, "ftp://example.com/mcp", why, sizeof(why)), -1);
    cr_assert(strstr(why, "scheme") != NULL, "%s", why);
    cr_assert_eq(up_url_check(&cfg, "https://user:pw@127.0.0.1/mcp", why, sizeof(why)), -1);
    cr_assert(strstr(why, "credentials") != NULL && strstr(why, "pw") == NULL, "%s", why);
    cr_assert_eq(up_url_check(&cfg, "not a url", why, sizeof(why)), -1);
    cr_assert_eq(up_url_check(&cfg, "https://127.0.0.1:8443/mcp", why, sizeof(why)), -1);
    cr_assert_eq(up_url_check(&cfg, "https://[::ffff:169.254.169.254]/", why, sizeof(why)), -1);
    cr_assert(strstr(why, "metadata") != NULL, "%s", why);
    cr_assert_eq(up_url_check(&cfg, "https://[fe80::1%25eth0]/mcp", why, sizeof(why)), -1);
    /* A decimal spelling of 127.0.0.1 is still loopback once resolved. */
    cr_assert_eq(up_url_check(&cfg, "https://2130706433/mcp", why, sizeof(why)), -1);
    cr_assert(strstr(why, "loopback") != NULL, "%s", why);
    snprintf(cfg.upstream_allowed_networks, sizeof(cfg.upstream_allowed_networks), "127.0.0.0/8");
    cr_assert_eq(up_url_check(&cfg, "http://127.0.0.1:9/mcp", why, sizeof(why)), 0, "%s", why);
    cr_assert_eq(up_url_check(&cfg, "http://[::1]:9/mcp", why, sizeof(why)), -1);
}

Test(policy, configuration_validates_allowed_networks)
{
    struct cfg_errors errs = { 0 };

    cfg_defaults(&cfg);
    cr_assert_eq(cfg_load_string(&cfg, "t.conf", "[upstream]\nallowed_networks = 127.0.0.0/8, ::1\n", &errs), 0);
    cr_assert_str_eq(cfg.upstream_allowed_networks, "127.0.0.0/8, ::1");
    cr_assert_eq(cfg_load_string(&cfg, "t.conf", "[upstream]\nallowed_networks = 127.0.0.0/40\n", &errs), -1);
    cr_assert(strstr(errs.msg[0], "t.conf:2") != NULL && strstr(errs.msg[0], "allowed_networks") != NULL,
              "%s", errs.msg[0]);
}

/* ---- SSE ------------------------------------------------------------------ */

struct events {
    int n;
    char type[8][64], data[8][256], id[8][64];
    long retry[8];
};

static int collect(const struct sse_event *ev, void *arg)
{
    struct events *e = arg;

    if (e->n < 8) {
        snprintf(e->type[e->n], sizeof(e->type[0]), "%s", ev->type);
        snprintf(e->data[e->n], sizeof(e->data[0]), "%s", ev->data);
        snprintf(e->id[e->n], sizeof(e->id[0]), "%s", ev->id);
        e->retry[e->n] = ev->retry_ms;
    }
    e->n++;
    return 0;
}

/* Parse text fed in chunks of `chunk` bytes. */
static int parse(const char *text, size_t chunk, struct events *e, size_t max)
{
    struct sse_parser p;
    size_t len = strlen(text);
    int rc = 0;

    memset(e, 0, sizeof(*e));
    sse_init(&p, max, collect, e);
    for (size_t off = 0; off < len && rc == 0; off += chunk)
        rc = sse_feed(&p, text + off, len - off < chunk ? len - off : chunk);
    sse_free(&p);
    return rc;
}

Test(sse, joins_data_lines_with_newlines_and_defaults_the_type)
{
    struct events e;

    cr_assert_eq(parse("data: one\ndata: two\n\nevent: ping\ndata:x\n\n", 1000, &e, 4096), 0);
    cr_assert_eq(e.n, 2);
    cr_assert_str_eq(e.type[0], "message");
    cr_assert_str_eq(e.data[0], "one\ntwo");
    cr_assert_str_eq(e.type[1], "ping");
    cr_assert_str_eq(e.data[1], "x");
}

Test(sse, crlf_lf_and_cr_all_end_lines_in_any_chunking)
{
    const char *text = "id: 7\r\ndata: a\r\rdata: b\n\r\ndata:c\r\n\r\n: comment\n\n";

    for (size_t chunk = 1; chunk <= 9; chunk++) {
        struct events e;

        cr_assert_eq(parse(text, chunk, &e, 4096), 0);
        cr_assert_eq(e.n, 3, "chunk %zu: %d events", chunk, e.n);
        cr_assert_str_eq(e.data[0], "a");
        cr_assert_str_eq(e.id[0], "7");
        cr_assert_str_eq(e.data[1], "b");
        cr_assert_str_eq(e.data[2], "c");
        cr_assert_str_eq(e.id[2], "7", "the last event id persists");
    }
}

Test(sse, an_unterminated_event_is_not_dispatched)
{
    struct events e;

    cr_assert_eq(parse("data: complete\n\ndata: partial\n", 3, &e, 4096), 0);
    cr_assert_eq(e.n, 1);
    cr_assert_str_eq(e.data[0], "complete");
}

Test(sse, fields_follow_the_spec)
{
    struct events e;

    /* One leading space is removed, not two; a field without a colon has an
     * empty value; unknown fields are ignored; retry only when all digits. */
    cr_assert_eq(parse("\xEF\xBB\xBF" "data:  two spaces\nretry: 1500\nfoo: bar\n\n"
                       "data\nretry: 12x\n\nevent: only-a-type\n\n", 2, &e, 4096), 0);
    cr_assert_eq(e.n, 2);
    cr_assert_str_eq(e.data[0], " two spaces");
    cr_assert_eq(e.retry[0], 1500);
    cr_assert_str_eq(e.data[1], "");
    cr_assert_eq(e.retry[1], -1);
}

Test(sse, an_oversized_line_or_event_is_refused)
{
    struct events e;
    char big[600];

    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    memcpy(big, "data: ", 6);
    cr_assert_eq(parse(big, 7, &e, 256), SSE_TOO_LARGE);
    cr_assert_eq(parse("data: 0123456789\ndata: 0123456789\ndata: 0123456789\ndata: 0123456789\n\n", 5, &e, 40),
                 SSE_TOO_LARGE);
    cr_assert_eq(e.n, 0);
}

static int stop_at_first(const struct sse_event *ev, void *arg)
{
    (void)ev;
    ++*(int *)arg;
    return 7;
}

Test(sse, a_callback_can_stop_the_parser)
{
    struct sse_parser p;
    int calls = 0;

    sse_init(&p, 4096, stop_at_first, &calls);
    cr_assert_eq(sse_feed(&p, "data: 1\n\ndata: 2\n\n", 18), 7);
    cr_assert_eq(sse_feed(&p, "data: 3\n\n", 9), 7);
    cr_assert_eq(calls, 1);
    sse_free(&p);
}
