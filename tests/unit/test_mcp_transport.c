/* Header rules of the MCP transport: versions, Accept, Content-Type, Origin. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "mcp/transport.h"

Test(mcp_transport, speaks_three_versions_and_negotiates_down_to_them)
{
    cr_assert(mt_version_supported("2025-11-25"));
    cr_assert(mt_version_supported("2025-06-18"));
    cr_assert(mt_version_supported("2025-03-26"));
    cr_assert_not(mt_version_supported("2024-11-05"));
    cr_assert_not(mt_version_supported("2025-11-25 "));
    cr_assert_not(mt_version_supported(NULL));
    cr_assert_str_eq(mt_negotiate("2025-06-18"), "2025-06-18");
    cr_assert_str_eq(mt_negotiate("1999-01-01"), "2025-11-25");
}

Test(mcp_transport, accept_honours_wildcards_and_q_zero)
{
    cr_assert(mt_accepts("application/json, text/event-stream", "application/json"));
    cr_assert(mt_accepts("application/json, text/event-stream", "text/event-stream"));
    cr_assert(mt_accepts("*/*", "text/event-stream"));
    cr_assert(mt_accepts("text/*;q=0.5", "text/event-stream"));
    cr_assert(mt_accepts("Application/JSON;charset=utf-8", "application/json"));
    cr_assert_not(mt_accepts("text/html", "application/json"));
    cr_assert_not(mt_accepts("application/json;q=0", "application/json"));
    cr_assert_not(mt_accepts("application/jsonx", "application/json"));
    cr_assert_not(mt_accepts("text/*", "application/json"));
    cr_assert_not(mt_accepts(NULL, "application/json"));
    cr_assert_not(mt_accepts("", "application/json"));
}

Test(mcp_transport, content_type_must_be_json)
{
    cr_assert(mt_is_json("application/json"));
    cr_assert(mt_is_json("application/json; charset=utf-8"));
    cr_assert_not(mt_is_json("application/jsonp"));
    cr_assert_not(mt_is_json("text/plain"));
    cr_assert_not(mt_is_json(NULL));
}

Test(mcp_transport, origin_is_our_own_or_listed)
{
    struct gw_config cfg;

    cfg_defaults(&cfg);
    snprintf(cfg.mcp_url, sizeof(cfg.mcp_url), "https://gw.example:8001");
    snprintf(cfg.allowed_origins, sizeof(cfg.allowed_origins), "http://localhost:6274, https://app.example");
    cr_assert(mt_origin_allowed(&cfg, NULL));
    cr_assert(mt_origin_allowed(&cfg, "https://gw.example:8001"));
    cr_assert(mt_origin_allowed(&cfg, "http://localhost:6274"));
    cr_assert(mt_origin_allowed(&cfg, "https://app.example"));
    cr_assert_not(mt_origin_allowed(&cfg, "https://evil.example"));
    cr_assert_not(mt_origin_allowed(&cfg, "https://gw.example:8001.evil.example"));
    cr_assert_not(mt_origin_allowed(&cfg, "null"));
}

Test(mcp_transport, host_is_our_own_loopback_or_listed)
{
    struct gw_config cfg;

    memset(&cfg, 0, sizeof(cfg));
    snprintf(cfg.mcp_url, sizeof(cfg.mcp_url), "https://GW.example:8001/base");
    snprintf(cfg.allowed_hosts, sizeof(cfg.allowed_hosts), "mcp.internal, other.example");
    cr_assert(mt_host_allowed(&cfg, NULL));
    cr_assert(mt_host_allowed(&cfg, "gw.example:8001"));
    cr_assert(mt_host_allowed(&cfg, "gw.example"));
    cr_assert(mt_host_allowed(&cfg, "127.0.0.1:9999"));
    cr_assert(mt_host_allowed(&cfg, "[::1]:8001"));
    cr_assert(mt_host_allowed(&cfg, "localhost"));
    cr_assert(mt_host_allowed(&cfg, "MCP.internal:443"));
    cr_assert_not(mt_host_allowed(&cfg, "evil.example.com"));
    cr_assert_not(mt_host_allowed(&cfg, "gw.example.evil.example"));
    cr_assert_not(mt_host_allowed(&cfg, "localhost.evil.example"));
    cr_assert_not(mt_host_allowed(&cfg, "[::1"));
    cr_assert_not(mt_host_allowed(&cfg, ":8001"));
}
