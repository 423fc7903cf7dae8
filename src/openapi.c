/* OpenAPI 3.1 for the management plane: paths, methods and roles come from the
 * route table itself; bodies and answers from the entries below, one per route. */
#include "openapi.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/printbuf.h>

#include "auth.h"
#include "build-config.h"
#include "router.h"
#include "util.h"

/* --- shared schemas ---------------------------------------------------------- */

static const char components_json[] =
    "{"
    "\"securitySchemes\":{\"bearer\":{\"type\":\"http\",\"scheme\":\"bearer\",\"bearerFormat\":\"JWT\","
    "\"description\":\"OAuth 2.1 access token (RS256 or ES256) from the configured issuer\"}},"
    "\"schemas\":{"
    "\"Problem\":{\"type\":\"object\",\"description\":\"RFC 9457 problem details\","
    "\"required\":[\"type\",\"title\",\"status\"],\"properties\":{"
    "\"type\":{\"type\":\"string\"},\"title\":{\"type\":\"string\"},\"status\":{\"type\":\"integer\"},"
    "\"detail\":{\"type\":\"string\"},\"instance\":{\"type\":\"string\"},"
    "\"request_id\":{\"type\":\"string\"},"
    "\"phase\":{\"type\":\"string\",\"description\":\"registration phase that failed\"},"
    "\"reason\":{\"type\":\"string\",\"description\":\"machine-readable cause\"},"
    "\"field\":{\"type\":\"string\",\"description\":\"the body field that is invalid\"}}},"
    "\"Health\":{\"type\":\"object\",\"required\":[\"status\"],\"properties\":{"
    "\"status\":{\"type\":\"string\",\"enum\":[\"ok\"]},\"service\":{\"type\":\"string\"},"
    "\"version\":{\"type\":\"string\"},\"plane\":{\"type\":\"string\"},"
    "\"uptime_s\":{\"type\":\"integer\"},\"timestamp\":{\"type\":\"string\",\"format\":\"date-time\"}}},"
    "\"Ready\":{\"type\":\"object\",\"required\":[\"status\"],\"properties\":{"
    "\"status\":{\"type\":\"string\",\"enum\":[\"ready\"]}}},"
    "\"ComponentHealth\":{\"type\":\"object\",\"required\":[\"overall_status\",\"components\"],"
    "\"properties\":{\"overall_status\":{\"type\":\"string\",\"enum\":[\"healthy\",\"degraded\",\"unhealthy\"]},"
    "\"components\":{\"type\":\"object\",\"additionalProperties\":{\"type\":\"object\"}},"
    "\"degraded_services\":{\"type\":\"array\",\"items\":{\"type\":\"string\"}},"
    "\"failed_services\":{\"type\":\"array\",\"items\":{\"type\":\"string\"}},"
    "\"timestamp\":{\"type\":\"string\",\"format\":\"date-time\"}}},"
    "\"Identity\":{\"type\":\"object\",\"description\":\"the caller as the gateway sees it; never the token\","
    "\"properties\":{\"user_id\":{\"type\":\"string\"},\"tenant_id\":{\"type\":\"string\"},"
    "\"issuer\":{\"type\":\"string\"},\"subject\":{\"type\":\"string\"},"
    "\"roles\":{\"type\":\"array\",\"items\":{\"type\":\"string\"}},"
    "\"scopes\":{\"type\":\"array\",\"items\":{\"type\":\"string\"}},"
    "\"expires_at\":{\"type\":\"string\"}}},"
    "\"ProtectedResourceMetadata\":{\"type\":\"object\",\"description\":\"RFC 9728\","
    "\"required\":[\"resource\"],\"properties\":{\"resource\":{\"type\":\"string\"},"
    "\"authorization_servers\":{\"type\":\"array\",\"items\":{\"type\":\"string\"}},"
    "\"scopes_supported\":{\"type\":\"array\",\"items\":{\"type\":\"string\"}},"
    "\"bearer_methods_supported\":{\"type\":\"array\",\"items\":{\"type\":\"string\"}}}},"
    "\"StringList\":{\"type\":\"array\",\"items\":{\"type\":\"string\"}},"
    "\"Server\":{\"type\":\"object\",\"description\":\"a registered upstream MCP server; never its secrets\","
    "\"properties\":{\"id\":{\"type\":\"string\",\"format\":\"uuid\"},\"name\":{\"type\":\"string\"},"
    "\"tenant_id\":{\"type\":[\"string\",\"null\"]},\"url\":{\"type\":\"string\"},"
    "\"transport\":{\"type\":\"string\"},\"description\":{\"type\":\"string\"},"
    "\"tags\":{\"$ref\":\"#/components/schemas/StringList\"},\"agent_roles\":{\"$ref\":\"#/components/schemas/StringList\"},"
    "\"required_roles\":{\"$ref\":\"#/components/schemas/StringList\"},"
    "\"max_concurrency\":{\"type\":\"integer\"},\"timeout_ms\":{\"type\":\"integer\"},"
    "\"auth\":{\"type\":\"object\",\"properties\":{\"type\":{\"type\":\"string\"}}},"
    "\"status\":{\"type\":\"string\",\"enum\":[\"active\",\"unhealthy\",\"unreachable\"]},"
    "\"maintenance\":{\"type\":\"boolean\"},\"version\":{\"type\":\"integer\"},"
    "\"protocol_version\":{\"type\":\"string\"},\"server_info\":{\"type\":\"object\"},"
    "\"capabilities\":{\"type\":\"object\"},\"tool_count\":{\"type\":\"integer\"},"
    "\"health\":{\"type\":\"object\"},\"refreshed_at\":{\"type\":[\"string\",\"null\"]},"
    "\"created_at\":{\"type\":\"string\"},\"updated_at\":{\"type\":\"string\"}}},"
    "\"ServerRegistration\":{\"type\":\"object\",\"required\":[\"name\",\"url\"],\"properties\":{"
    "\"name\":{\"type\":\"string\",\"pattern\":\"^[a-z0-9][a-z0-9-]{0,47}$\"},"
    "\"url\":{\"type\":\"string\"},\"transport\":{\"type\":\"string\",\"enum\":[\"streamable-http\"]},"
    "\"description\":{\"type\":\"string\"},\"tags\":{\"$ref\":\"#/components/schemas/StringList\"},"
    "\"agent_roles\":{\"$ref\":\"#/components/schemas/StringList\"},"
    "\"required_roles\":{\"$ref\":\"#/components/schemas/StringList\"},"
    "\"max_concurrency\":{\"type\":\"integer\",\"minimum\":1},\"timeout_ms\":{\"type\":\"integer\",\"minimum\":1},"
    "\"tenant_id\":{\"type\":[\"string\",\"null\"],\"description\":\"platform_admin only; null = shared\"},"
    "\"auth\":{\"type\":\"object\",\"required\":[\"type\"],\"properties\":{"
    "\"type\":{\"type\":\"string\",\"enum\":[\"none\",\"bearer\",\"header\",\"oauth_client_credentials\"]},"
    "\"token\":{\"type\":\"string\"},\"header_name\":{\"type\":\"string\"},\"header_value\":{\"type\":\"string\"},"
    "\"token_url\":{\"type\":\"string\"},\"client_id\":{\"type\":\"string\"},"
    "\"client_secret\":{\"type\":\"string\"},\"scope\":{\"type\":\"string\"}}}}},"
    "\"ServerPatch\":{\"type\":\"object\",\"properties\":{\"description\":{\"type\":\"string\"},"
    "\"tags\":{\"$ref\":\"#/components/schemas/StringList\"},\"agent_roles\":{\"$ref\":\"#/components/schemas/StringList\"},"
    "\"required_roles\":{\"$ref\":\"#/components/schemas/StringList\"},"
    "\"max_concurrency\":{\"type\":\"integer\"},\"timeout_ms\":{\"type\":\"integer\"}}},"
    "\"Registered\":{\"type\":\"object\",\"required\":[\"server_id\",\"phases_completed\",\"server\"],"
    "\"properties\":{\"server_id\":{\"type\":\"string\"},\"phases_completed\":{\"$ref\":\"#/components/schemas/StringList\"},"
    "\"server\":{\"$ref\":\"#/components/schemas/Server\"}}},"
    "\"ServerPage\":{\"type\":\"object\",\"required\":[\"servers\"],\"properties\":{"
    "\"servers\":{\"type\":\"array\",\"items\":{\"$ref\":\"#/components/schemas/Server\"}},"
    "\"next_cursor\":{\"type\":[\"string\",\"null\"]}}},"
    "\"Tools\":{\"type\":\"object\",\"properties\":{\"server_id\":{\"type\":\"string\"},"
    "\"tools\":{\"type\":\"array\",\"items\":{\"type\":\"object\"}},\"next_cursor\":{\"type\":[\"string\",\"null\"]}}},"
    "\"RefreshDiff\":{\"type\":\"object\",\"properties\":{\"server_id\":{\"type\":\"string\"},"
    "\"tools\":{\"$ref\":\"#/components/schemas/CatalogDiff\"},\"prompts\":{\"$ref\":\"#/components/schemas/CatalogDiff\"},"
    "\"resources\":{\"$ref\":\"#/components/schemas/CatalogDiff\"}}},"
    "\"CatalogDiff\":{\"type\":\"object\",\"description\":\"by schema hash\",\"properties\":{"
    "\"added\":{\"$ref\":\"#/components/schemas/StringList\"},\"removed\":{\"$ref\":\"#/components/schemas/StringList\"},"
    "\"changed\":{\"$ref\":\"#/components/schemas/StringList\"},\"unchanged\":{\"type\":\"integer\"}}},"
    "\"ServerHealth\":{\"type\":\"object\",\"properties\":{\"server_id\":{\"type\":\"string\"},"
    "\"status\":{\"type\":\"string\"},\"latency_ms\":{\"type\":\"integer\"},\"checked_at\":{\"type\":\"string\"},"
    "\"reason\":{\"type\":\"string\"}}},"
    "\"AuditPage\":{\"type\":\"object\",\"properties\":{\"items\":{\"type\":\"array\",\"items\":{\"type\":\"object\"}},"
    "\"next_cursor\":{\"type\":[\"string\",\"null\"]}}},"
    "\"AuditVerify\":{\"type\":\"object\",\"required\":[\"ok\"],\"properties\":{\"ok\":{\"type\":\"boolean\"},"
    "\"rows_checked\":{\"type\":\"integer\"},\"head_hash\":{\"type\":\"string\"},\"last_id\":{\"type\":\"integer\"},"
    "\"broken_id\":{\"type\":\"integer\"},\"reason\":{\"type\":\"string\"}}},"
    "\"Session\":{\"type\":\"object\",\"description\":\"an MCP session; never a token or its hash\","
    "\"properties\":{\"id\":{\"type\":\"string\"},\"protocol_version\":{\"type\":\"string\"},"
    "\"endpoint\":{\"type\":\"string\"},\"client_info\":{\"type\":\"object\"},"
    "\"client_capabilities\":{\"type\":\"object\"},\"user_id\":{\"type\":\"string\"},"
    "\"tenant_id\":{\"type\":\"string\"},\"issuer\":{\"type\":\"string\"},"
    "\"roles\":{\"$ref\":\"#/components/schemas/StringList\"},\"created_at\":{\"type\":\"string\"},"
    "\"last_seen_at\":{\"type\":\"string\"},\"expires_at\":{\"type\":\"string\"},"
    "\"token_expires_at\":{\"type\":\"string\"},\"upstreams\":{\"$ref\":\"#/components/schemas/StringList\"}}},"
    "\"CatalogRefresh\":{\"type\":\"object\",\"required\":[\"refreshed\",\"unavailable\"],\"properties\":{"
    "\"refreshed\":{\"type\":\"array\",\"items\":{\"type\":\"object\",\"properties\":{"
    "\"server_id\":{\"type\":\"string\"},\"name\":{\"type\":\"string\"},\"tools\":{\"type\":\"object\"},"
    "\"prompts\":{\"type\":\"object\"},\"resources\":{\"type\":\"object\"},"
    "\"resource_templates\":{\"type\":\"object\"},\"duration_ms\":{\"type\":\"integer\"}}}},"
    "\"unavailable\":{\"type\":\"array\",\"items\":{\"type\":\"object\",\"properties\":{"
    "\"server_id\":{\"type\":\"string\"},\"name\":{\"type\":\"string\"},\"reason\":{\"type\":\"string\"},"
    "\"detail\":{\"type\":\"string\"},\"status\":{\"type\":\"string\"}}}},"
    "\"duration_ms\":{\"type\":\"integer\"}}},"
    "\"SessionList\":{\"type\":\"object\",\"properties\":{\"sessions\":{\"type\":\"array\","
    "\"items\":{\"$ref\":\"#/components/schemas/Session\"}}}},"
    /* resource pools and the system report */
    "\"Resources\":{\"type\":\"object\",\"properties\":{\"pools\":{\"type\":\"array\",\"items\":{"
    "\"type\":\"object\",\"required\":[\"name\",\"kind\",\"capacity\",\"in_use\",\"available\"],"
    "\"properties\":{\"name\":{\"type\":\"string\"},\"kind\":{\"type\":\"string\",\"enum\":[\"seed\",\"upstream\"]},"
    "\"capacity\":{\"type\":\"integer\"},\"in_use\":{\"type\":\"integer\"},\"available\":{\"type\":\"integer\"},"
    "\"description\":{\"type\":\"string\"},\"partition\":{\"type\":\"object\"},"
    "\"server\":{\"type\":\"string\"},\"server_id\":{\"type\":\"string\"}}}},"
    "\"allocation_lease_seconds\":{\"type\":\"integer\"}}},"
    "\"AllocationRequest\":{\"type\":\"object\",\"required\":[\"operation_type\",\"estimated_load\"],"
    "\"properties\":{\"operation_type\":{\"type\":\"string\",\"enum\":[\"bulk_server_registration\"]},"
    "\"estimated_load\":{\"type\":\"object\",\"properties\":{\"server_count\":{\"type\":\"integer\",\"minimum\":0},"
    "\"admin_count\":{\"type\":\"integer\",\"minimum\":0}}}}},"
    "\"Allocation\":{\"type\":\"object\",\"properties\":{\"id\":{\"type\":\"string\"},"
    "\"operation_type\":{\"type\":\"string\"},\"estimated_load\":{\"type\":\"object\"},"
    "\"allocation\":{\"type\":\"object\",\"additionalProperties\":{\"type\":\"integer\"}},"
    "\"tenant_id\":{\"type\":[\"string\",\"null\"]},\"created_by\":{\"type\":\"string\"},"
    "\"created_at\":{\"type\":\"string\",\"format\":\"date-time\"},"
    "\"expires_at\":{\"type\":\"string\",\"format\":\"date-time\"},\"lease_seconds\":{\"type\":\"integer\"}}},"
    "\"Report\":{\"type\":\"object\",\"required\":[\"generated_at\",\"overall_system_health\",\"reports\","
    "\"recommendations\"],\"properties\":{\"generated_at\":{\"type\":\"string\",\"format\":\"date-time\"},"
    "\"scope\":{\"type\":\"string\",\"description\":\"the tenant, or fleet for a platform_admin\"},"
    "\"overall_system_health\":{\"type\":\"string\"},"
    "\"reports\":{\"type\":\"object\",\"properties\":{\"security_status\":{\"type\":\"object\"},"
    "\"performance_metrics\":{\"type\":\"object\"},\"system_health\":{\"$ref\":\"#/components/schemas/ComponentHealth\"},"
    "\"deployment_status\":{\"type\":\"object\"},\"protocol_compliance\":{\"type\":\"object\"}}},"
    "\"recommendations\":{\"type\":\"array\",\"items\":{\"type\":\"object\",\"properties\":{"
    "\"severity\":{\"type\":\"string\",\"enum\":[\"critical\",\"warning\",\"info\"]},"
    "\"area\":{\"type\":\"string\"},\"message\":{\"type\":\"string\"}}}}}},"
    /* quality gates */
    "\"Gates\":{\"type\":\"object\",\"properties\":{\"gates\":{\"type\":\"array\",\"items\":{"
    "\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\"},\"checks\":{\"type\":\"array\","
    "\"items\":{\"type\":\"object\",\"properties\":{\"check\":{\"type\":\"string\"},"
    "\"severity\":{\"type\":\"string\",\"enum\":[\"critical\",\"major\",\"minor\"]},"
    "\"what\":{\"type\":\"string\"}}}}}}}}},"
    "\"GateRun\":{\"type\":\"object\",\"required\":[\"id\",\"gate\",\"status\",\"results\"],"
    "\"properties\":{\"id\":{\"type\":\"string\",\"format\":\"uuid\"},\"gate\":{\"type\":\"string\","
    "\"enum\":[\"pre_deployment\",\"post_deployment\",\"security_validation\"]},"
    "\"status\":{\"type\":\"string\",\"enum\":[\"passed\",\"failed\",\"error\"]},"
    "\"started_at\":{\"type\":\"string\"},\"finished_at\":{\"type\":\"string\"},"
    "\"triggered_by\":{\"type\":\"string\"},\"tenant_id\":{\"type\":[\"string\",\"null\"]},"
    "\"failed_check\":{\"type\":[\"string\",\"null\"],\"description\":\"the critical check that ended the run\"},"
    "\"stored\":{\"type\":\"boolean\"},\"store_error\":{\"type\":\"string\"},"
    "\"results\":{\"type\":\"array\",\"items\":{\"type\":\"object\",\"properties\":{"
    "\"check\":{\"type\":\"string\"},\"severity\":{\"type\":\"string\",\"enum\":[\"critical\",\"major\",\"minor\"]},"
    "\"status\":{\"type\":\"string\",\"enum\":[\"passed\",\"failed\",\"error\",\"skipped\"]},"
    "\"detail\":{\"type\":\"string\"},\"duration_ms\":{\"type\":\"integer\"},"
    "\"delegated_to\":{\"type\":[\"string\",\"null\"],\"description\":\"the agent that ran the check\"}}}}}},"
    "\"GateRuns\":{\"type\":\"object\",\"properties\":{\"runs\":{\"type\":\"array\","
    "\"items\":{\"$ref\":\"#/components/schemas/GateRun\"}}}},"
    /* orchestration */
    "\"Agent\":{\"type\":\"object\",\"required\":[\"name\",\"status\"],\"properties\":{"
    "\"name\":{\"type\":\"string\"},\"description\":{\"type\":\"string\"},"
    "\"status\":{\"type\":\"string\",\"enum\":[\"active\",\"inactive\",\"draining\"]},"
    "\"load\":{\"type\":\"integer\",\"description\":\"in-flight delegations (-1: Redis unreachable)\"},"
    "\"servers\":{\"type\":\"array\",\"items\":{\"type\":\"object\",\"properties\":{"
    "\"server_id\":{\"type\":\"string\"},\"name\":{\"type\":\"string\"},\"status\":{\"type\":\"string\"},"
    "\"maintenance\":{\"type\":\"boolean\"},\"load\":{\"type\":\"integer\"}}}},"
    "\"updated_at\":{\"type\":\"string\",\"format\":\"date-time\"}}},"
    "\"AgentList\":{\"type\":\"object\",\"properties\":{\"agents\":{\"type\":\"array\","
    "\"items\":{\"$ref\":\"#/components/schemas/Agent\"}}}},"
    "\"AgentPut\":{\"type\":\"object\",\"additionalProperties\":false,\"properties\":{"
    "\"status\":{\"type\":\"string\",\"enum\":[\"active\",\"inactive\",\"draining\"]},"
    "\"description\":{\"type\":\"string\",\"maxLength\":1024}}},"
    "\"RoutingRule\":{\"type\":\"object\",\"properties\":{\"task_type\":{\"type\":\"string\"},"
    "\"agent\":{\"type\":\"string\"},\"kind\":{\"type\":\"string\",\"enum\":[\"task\",\"quality_check\"]},"
    "\"updated_at\":{\"type\":\"string\",\"format\":\"date-time\"}}},"
    "\"RoutingList\":{\"type\":\"object\",\"properties\":{\"rules\":{\"type\":\"array\","
    "\"items\":{\"$ref\":\"#/components/schemas/RoutingRule\"}}}},"
    "\"RoutingPut\":{\"type\":\"object\",\"required\":[\"agent\"],\"additionalProperties\":false,"
    "\"properties\":{\"agent\":{\"type\":\"string\"},"
    "\"kind\":{\"type\":\"string\",\"enum\":[\"task\",\"quality_check\"]}}},"
    "\"TaskRequest\":{\"type\":\"object\",\"required\":[\"type\"],\"additionalProperties\":false,"
    "\"properties\":{\"type\":{\"type\":\"string\",\"pattern\":\"^[a-z0-9][a-z0-9_]{0,63}$\"},"
    "\"context\":{\"type\":\"object\",\"description\":\"passed to the agent without members named like "
    "secrets; session_id and redis_keys are carried in session_preservation\"},"
    "\"agent\":{\"type\":\"string\",\"description\":\"this agent instead of the routing matrix's\"},"
    "\"requesting_agent\":{\"type\":\"string\",\"description\":\"default mcp-orchestrator\"},"
    "\"timeout_ms\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":600000,\"description\":\"default 30000\"},"
    "\"wait_ms\":{\"type\":\"integer\",\"minimum\":0,\"description\":\"answer 202 with the task URL when "
    "the task runs longer (checked about once a second); default: wait to the end\"}}},"
    "\"Task\":{\"type\":\"object\",\"required\":[\"id\",\"type\",\"agent\",\"status\"],\"properties\":{"
    "\"id\":{\"type\":\"string\",\"format\":\"uuid\"},\"type\":{\"type\":\"string\"},"
    "\"agent\":{\"type\":\"string\"},\"server_id\":{\"type\":[\"string\",\"null\"]},"
    "\"status\":{\"type\":\"string\",\"enum\":[\"running\",\"completed\",\"failed\",\"timed_out\"]},"
    "\"requested_by\":{\"type\":\"string\"},\"tenant_id\":{\"type\":[\"string\",\"null\"]},"
    "\"context\":{\"type\":\"object\"},\"result\":{\"type\":[\"object\",\"null\"]},"
    "\"error\":{\"type\":[\"string\",\"null\"]},\"created_at\":{\"type\":\"string\"},"
    "\"started_at\":{\"type\":[\"string\",\"null\"]},\"finished_at\":{\"type\":[\"string\",\"null\"]},"
    "\"duration_ms\":{\"type\":[\"integer\",\"null\"]},\"url\":{\"type\":\"string\"}}},"
    "\"PlanRequest\":{\"type\":\"object\",\"required\":[\"task_type\"],\"additionalProperties\":false,"
    "\"properties\":{\"task_type\":{\"type\":\"string\",\"enum\":[\"server_registration_with_auth\","
    "\"bulk_server_registration\",\"server_removal_with_auth\",\"session_revocation\"]},"
    "\"context\":{\"type\":\"object\"}}},"
    "\"Plan\":{\"type\":\"object\",\"properties\":{\"task_type\":{\"type\":\"string\"},"
    "\"description\":{\"type\":\"string\"},\"session_id\":{\"type\":[\"string\",\"null\"]},"
    "\"api_tasks\":{\"type\":\"array\",\"items\":{\"type\":\"string\"}},"
    "\"mcp_tasks\":{\"type\":\"array\",\"items\":{\"type\":\"string\"}},"
    "\"dependencies\":{\"type\":\"array\",\"items\":{\"type\":\"string\"},\"description\":\"before -> after\"},"
    "\"order\":{\"type\":\"array\",\"items\":{\"type\":\"object\",\"properties\":{"
    "\"task\":{\"type\":\"string\"},\"plane\":{\"type\":\"string\"},\"phase\":{\"type\":\"string\"}}}},"
    "\"phases\":{\"type\":\"array\",\"items\":{\"type\":\"string\"}},"
    "\"rollback_plan\":{\"type\":\"array\",\"items\":{\"type\":\"object\",\"properties\":{"
    "\"task\":{\"type\":\"string\"},\"undo\":{\"type\":\"string\"}}}}}},"
    /* events */
    "\"EventRequest\":{\"type\":\"object\",\"required\":[\"type\"],\"additionalProperties\":false,"
    "\"properties\":{\"type\":{\"type\":\"string\",\"pattern\":\"^[a-z][a-z0-9_]{0,63}$\","
    "\"description\":\"an event type of the event routing table\"},"
    "\"data\":{\"type\":\"object\",\"description\":\"given to each agent's handle_{type} tool\"},"
    "\"tenant_id\":{\"type\":[\"string\",\"null\"],\"description\":\"platform_admin only; null = a platform event\"}}},"
    "\"EventDelivery\":{\"type\":\"object\",\"properties\":{\"agent\":{\"type\":\"string\"},"
    "\"status\":{\"type\":\"string\",\"enum\":[\"pending\",\"retrying\",\"delivered\",\"failed\"]},"
    "\"attempts\":{\"type\":\"integer\"},\"last_error\":{\"type\":[\"string\",\"null\"]},"
    "\"server_id\":{\"type\":[\"string\",\"null\"]},\"next_attempt_at\":{\"type\":[\"string\",\"null\"]},"
    "\"delivered_at\":{\"type\":[\"string\",\"null\"]}}},"
    "\"Event\":{\"type\":\"object\",\"properties\":{\"id\":{\"type\":\"string\"},"
    "\"type\":{\"type\":\"string\"},\"data\":{\"type\":\"object\"},\"tenant_id\":{\"type\":[\"string\",\"null\"]},"
    "\"created_by\":{\"type\":\"string\"},\"created_at\":{\"type\":\"string\"},\"enqueued\":{\"type\":\"boolean\"},"
    "\"status\":{\"type\":\"string\",\"enum\":[\"pending\",\"delivered\",\"failed\"]},"
    "\"deliveries\":{\"type\":\"array\",\"items\":{\"$ref\":\"#/components/schemas/EventDelivery\"}}}}"
    "}}";

#define REF(name) "{\"$ref\":\"#/components/schemas/" name "\"}"

/* --- one entry per route of the management plane ----------------------------- */

static const struct api_doc docs[] = {
    { "GET", "/health", 200, REF("Health"), NULL, NULL, NULL, NULL },
    { "GET", "/health/ready", 200, REF("Ready"), NULL, NULL, NULL, "503" },
    { "GET", "/health/components", 200, REF("ComponentHealth"), NULL, NULL, NULL, "503" },
    { "GET", "/metrics", 200, "{\"type\":\"string\",\"description\":\"Prometheus text format 0.0.4\"}",
      NULL, NULL, NULL, NULL },
    { "GET", "/api/v1/me", 200, REF("Identity"), NULL, NULL, NULL, NULL },
    { "GET", GW_WELL_KNOWN_PRM, 200, REF("ProtectedResourceMetadata"), NULL, NULL, NULL, NULL },
    { "GET", "/openapi.json", 200, "{\"type\":\"object\",\"description\":\"this document\"}", NULL,
      NULL, NULL, NULL },
    { "GET", "/docs", 200, "{\"type\":\"string\",\"description\":\"HTML\"}", NULL, NULL, NULL, NULL },
    { "GET", "/api/v1/audit", 200, REF("AuditPage"), NULL,
      "action:string:action name;outcome:string:success, denied or failure;actor:string:user id;"
      "target:string:target id;target_type:string:target type;tenant:string:tenant (platform_admin);"
      "since:string:RFC 3339 time;until:string:RFC 3339 time;limit:integer:rows per page;"
      "cursor:string:opaque, from next_cursor", NULL, "400,503" },
    { "GET", "/api/v1/audit/verify", 200, REF("AuditVerify"), NULL, NULL, NULL, "503" },
    { "POST", "/api/v1/servers", 201, REF("Registered"), REF("ServerRegistration"), NULL, NULL,
      "400,409,413,415,502,503,504" },
    { "GET", "/api/v1/servers", 200, REF("ServerPage"), NULL,
      "tag:string:servers with this tag;status:string:active, unhealthy, unreachable or maintenance;"
      "agent_role:string:servers serving this agent;q:string:in name and description;"
      "limit:integer:1 to 200, default 50;cursor:string:opaque, from next_cursor", NULL, "400,503" },
    { "GET", "/api/v1/servers/{id}", 200, REF("Server"), NULL, NULL, NULL, "404,503" },
    { "PATCH", "/api/v1/servers/{id}", 200, REF("Server"), REF("ServerPatch"), NULL,
      "If-Match:the version from ETag (required)", "400,404,412,413,415,428,503" },
    { "DELETE", "/api/v1/servers/{id}", 204, NULL, NULL, NULL, "If-Match:the version from ETag (optional)",
      "404,412,503" },
    { "GET", "/api/v1/servers/{id}/tools", 200, REF("Tools"), NULL, NULL, NULL, "404,503" },
    { "POST", "/api/v1/servers/{id}/refresh", 200, REF("RefreshDiff"), NULL, NULL, NULL, "404,502,503,504" },
    { "GET", "/api/v1/servers/{id}/health", 200, REF("ServerHealth"), NULL, NULL, NULL, "404,503" },
    { "POST", "/api/v1/servers/{id}/maintenance", 200, REF("Server"), NULL, NULL, NULL, "404,503" },
    { "DELETE", "/api/v1/servers/{id}/maintenance", 200, REF("Server"), NULL, NULL, NULL, "404,503" },
    { "POST", "/api/v1/catalog/refresh", 200, REF("CatalogRefresh"), NULL, NULL, NULL, "403,503" },
    { "GET", "/api/v1/tools", 200, REF("Tools"), NULL,
      "q:string:in tool names and descriptions;limit:integer:rows per page;cursor:string:opaque", NULL,
      "400,503" },
    { "GET", "/api/v1/sessions", 200, REF("SessionList"), NULL, NULL, NULL, "503" },
    { "GET", "/api/v1/sessions/{id}", 200, REF("Session"), NULL, NULL, NULL, "404,503" },
    { "DELETE", "/api/v1/sessions/{id}", 204, NULL, NULL, NULL, NULL, "404,503" },
    /* resource pools and the system report */
    { "GET", "/api/v1/resources", 200, REF("Resources"), NULL, NULL, NULL, "503" },
    { "POST", "/api/v1/resources/allocations", 201, REF("Allocation"), REF("AllocationRequest"), NULL, NULL,
      "400,413,415,422,503" },
    { "GET", "/api/v1/resources/allocations/{id}", 200, REF("Allocation"), NULL, NULL, NULL, "404,503" },
    { "DELETE", "/api/v1/resources/allocations/{id}", 204, NULL, NULL, NULL, NULL, "404,503" },
    { "GET", "/api/v1/report", 200, REF("Report"), NULL, NULL, NULL, NULL },
    /* quality gates */
    { "GET", "/api/v1/gates", 200, REF("Gates"), NULL, NULL, NULL, NULL },
    { "GET", "/api/v1/gates/runs/{id}", 200, REF("GateRun"), NULL, NULL, NULL, "404,503" },
    { "POST", "/api/v1/gates/{name}/run", 200, REF("GateRun"), NULL, NULL, NULL, "404,409" },
    { "GET", "/api/v1/gates/{name}/runs", 200, REF("GateRuns"), NULL, "limit:integer:1 to 200, default 20",
      NULL, "400,404,503" },
    /* orchestration */
    { "GET", "/api/v1/agents", 200, REF("AgentList"), NULL, NULL, NULL, "503" },
    { "GET", "/api/v1/agents/{name}", 200, REF("Agent"), NULL, NULL, NULL, "404,503" },
    { "PUT", "/api/v1/agents/{name}", 200, REF("Agent"), REF("AgentPut"), NULL, NULL, "400,413,415,503" },
    { "GET", "/api/v1/routing", 200, REF("RoutingList"), NULL, NULL, NULL, "503" },
    { "PUT", "/api/v1/routing/{task_type}", 200, REF("RoutingRule"), REF("RoutingPut"), NULL, NULL,
      "400,413,415,422,503" },
    { "DELETE", "/api/v1/routing/{task_type}", 204, NULL, NULL, NULL, NULL, "404,503" },
    { "POST", "/api/v1/tasks", 200, REF("Task"), REF("TaskRequest"), NULL, NULL,
      "400,409,413,415,422,502,503,504" },
    { "GET", "/api/v1/tasks/{id}", 200, REF("Task"), NULL, NULL, NULL, "404,503" },
    { "POST", "/api/v1/coordination/plan", 200, REF("Plan"), REF("PlanRequest"), NULL, NULL, "400,413,415,422" },
    /* events */
    { "POST", "/api/v1/events", 202, REF("Event"), REF("EventRequest"), NULL, NULL, "400,413,415,422,503" },
    { "GET", "/api/v1/events/{id}", 200, REF("Event"), NULL, NULL, NULL, "404,503" },
};

const struct api_doc *openapi_doc_for(const char *method, const char *pattern)
{
    for (size_t i = 0; i < GW_ARRAY_LEN(docs); i++)
        if (strcmp(docs[i].method, method) == 0 && strcmp(docs[i].pattern, pattern) == 0)
            return &docs[i];
    return NULL;
}

/* --- building the document ---------------------------------------------------- */

static struct json_object *jstr(const char *s)
{
    return json_object_new_string(s);
}

static struct json_object *schema_text(const char *text)
{
    return text != NULL ? json_tokener_parse(text) : NULL;
}

static struct json_object *problem_response(const char *description)
{
    struct json_object *r = json_object_new_object(), *content = json_object_new_object(),
                       *media = json_object_new_object();

    json_object_object_add(media, "schema", json_tokener_parse(REF("Problem")));
    json_object_object_add(content, "application/problem+json", media);
    json_object_object_add(r, "description", jstr(description));
    json_object_object_add(r, "content", content);
    return r;
}

/* "name:type:description;name:type:description" -> parameter objects. */
static int add_params(struct json_object *params, const char *spec, const char *in, int typed)
{
    const char *p = spec;

    while (p != NULL && *p != '\0') {
        const char *end = strchr(p, ';');
        size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
        char item[512], *name, *type = "string", *desc;
        struct json_object *o, *s;

        if (len >= sizeof(item))
            return -1;
        memcpy(item, p, len);
        item[len] = '\0';
        name = item;
        desc = strchr(item, ':');
        if (desc == NULL)
            return -1;
        *desc++ = '\0';
        if (typed) {
            type = desc;
            desc = strchr(desc, ':');
            if (desc == NULL)
                return -1;
            *desc++ = '\0';
        }
        o = json_object_new_object();
        s = json_object_new_object();
        json_object_object_add(s, "type", jstr(type));
        json_object_object_add(o, "name", jstr(name));
        json_object_object_add(o, "in", jstr(in));
        json_object_object_add(o, "required", json_object_new_boolean(0));
        json_object_object_add(o, "description", jstr(desc));
        json_object_object_add(o, "schema", s);
        json_object_array_add(params, o);
        p = end != NULL ? end + 1 : NULL;
    }
    return 0;
}

/* operationId from method and pattern: GET /api/v1/servers/{id} -> get_api_v1_servers_id. */
static void operation_id(const char *method, const char *pattern, char *out, size_t n)
{
    size_t o = 0;

    for (const char *m = method; *m != '\0' && o + 1 < n; m++)
        out[o++] = (char)(*m >= 'A' && *m <= 'Z' ? *m + 32 : *m);
    for (const char *p = pattern; *p != '\0' && o + 1 < n; p++) {
        char ch = *p;

        if ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9'))
            out[o++] = ch;
        else if (ch >= 'A' && ch <= 'Z')
            out[o++] = (char)(ch + 32);
        else if (ch == '/' || ch == '-' || ch == '.' || ch == '_')
            out[o++] = '_';
    }
    out[o] = '\0';
}

static struct json_object *build_operation(const struct route *rt, const struct api_doc *d)
{
    struct json_object *op = json_object_new_object(), *params = json_object_new_array(),
                       *responses = json_object_new_object(), *ok = json_object_new_object();
    char opid[256], code[8];
    const char *p;

    operation_id(rt->method, rt->pattern, opid, sizeof(opid));
    json_object_object_add(op, "operationId", jstr(opid));
    json_object_object_add(op, "summary", jstr(rt->summary));
    json_object_object_add(op, "x-required-role",
                           rt->role != 0 ? jstr(auth_role_name(rt->role)) : jstr("public"));
    if (rt->role != 0) {
        struct json_object *sec = json_object_new_array(), *req = json_object_new_object();

        json_object_object_add(req, "bearer", json_object_new_array());
        json_object_array_add(sec, req);
        json_object_object_add(op, "security", sec);
    } else {
        json_object_object_add(op, "security", json_object_new_array());
    }
    /* Path parameters, in pattern order. */
    for (p = strchr(rt->pattern, '{'); p != NULL; p = strchr(p + 1, '{')) {
        const char *e = strchr(p, '}');
        struct json_object *o = json_object_new_object(), *s = json_object_new_object();
        char name[64];

        if (e == NULL || (size_t)(e - p - 1) >= sizeof(name))
            break;
        memcpy(name, p + 1, (size_t)(e - p - 1));
        name[e - p - 1] = '\0';
        json_object_object_add(s, "type", jstr("string"));
        json_object_object_add(o, "name", jstr(name));
        json_object_object_add(o, "in", jstr("path"));
        json_object_object_add(o, "required", json_object_new_boolean(1));
        json_object_object_add(o, "schema", s);
        json_object_array_add(params, o);
    }
    if (add_params(params, d->query, "query", 1) != 0 ||
        add_params(params, d->headers, "header", 0) != 0)
        goto bad;
    if (json_object_array_length(params) > 0)
        json_object_object_add(op, "parameters", params);
    else
        json_object_put(params);
    params = NULL;

    if (d->request_schema != NULL) {
        struct json_object *body = json_object_new_object(), *content = json_object_new_object(),
                           *media = json_object_new_object(), *s = schema_text(d->request_schema);

        if (s == NULL) {
            json_object_put(body);
            json_object_put(content);
            json_object_put(media);
            goto bad;
        }
        json_object_object_add(media, "schema", s);
        json_object_object_add(content, "application/json", media);
        json_object_object_add(body, "required", json_object_new_boolean(1));
        json_object_object_add(body, "content", content);
        json_object_object_add(op, "requestBody", body);
    }

    json_object_object_add(ok, "description", jstr(http_status_text(d->ok_status)));
    if (d->ok_schema != NULL) {
        struct json_object *content = json_object_new_object(), *media = json_object_new_object(),
                           *s = schema_text(d->ok_schema);
        const char *ctype = strcmp(rt->pattern, "/metrics") == 0 ? "text/plain"
                            : strcmp(rt->pattern, "/docs") == 0  ? "text/html"
                                                                 : "application/json";

        if (s == NULL) {
            json_object_put(content);
            json_object_put(media);
            goto bad;
        }
        json_object_object_add(media, "schema", s);
        json_object_object_add(content, ctype, media);
        json_object_object_add(ok, "content", content);
    }
    snprintf(code, sizeof(code), "%d", d->ok_status);
    json_object_object_add(responses, code, ok);
    ok = NULL;
    if (rt->role != 0) {
        json_object_object_add(responses, "401",
                               problem_response("no token or an invalid token; "
                                                "WWW-Authenticate names the resource metadata"));
        json_object_object_add(responses, "403", problem_response("the role named in x-required-role is missing"));
    }
    for (p = d->problems; p != NULL && *p != '\0';) {
        int st = atoi(p);

        if (st >= 400 && st < 600) {
            snprintf(code, sizeof(code), "%d", st);
            json_object_object_add(responses, code, problem_response(http_status_text(st)));
        }
        p = strchr(p, ',');
        if (p != NULL)
            p++;
    }
    json_object_object_add(op, "responses", responses);
    return op;
bad:
    json_object_put(params);
    json_object_put(ok);
    json_object_put(responses);
    json_object_put(op);
    return NULL;
}

struct json_object *openapi_build(const char *api_url)
{
    struct json_object *doc = json_object_new_object(), *info = json_object_new_object(),
                       *servers = json_object_new_array(), *server = json_object_new_object(),
                       *paths = json_object_new_object(), *components = json_tokener_parse(components_json);
    const struct route *routes;
    size_t n;

    if (components == NULL)
        goto bad;
    json_object_object_add(doc, "openapi", jstr("3.1.0"));
    json_object_object_add(info, "title", jstr("mcp-registry-gateway management API"));
    json_object_object_add(info, "version", jstr(PACKAGE_VERSION));
    json_object_object_add(info, "description",
                           jstr("The management plane of the gateway. Errors are RFC 9457 "
                                "problem details carrying the request id. x-required-role names "
                                "the gateway role an operation needs."));
    json_object_object_add(doc, "info", info);
    json_object_object_add(server, "url", jstr(api_url));
    json_object_array_add(servers, server);
    json_object_object_add(doc, "servers", servers);
    json_object_object_add(doc, "paths", paths);
    json_object_object_add(doc, "components", components);

    routes = router_table(&n);
    for (size_t i = 0; i < n; i++) {
        const struct route *rt = &routes[i];
        const struct api_doc *d;
        struct json_object *item, *op;
        char method[16];

        if (!(rt->plane & PLANE_API))
            continue;
        d = openapi_doc_for(rt->method, rt->pattern);
        if (d == NULL)
            goto bad; /* a unit test keeps every route documented */
        op = build_operation(rt, d);
        if (op == NULL)
            goto bad;
        if (!json_object_object_get_ex(paths, rt->pattern, &item)) {
            item = json_object_new_object();
            json_object_object_add(paths, rt->pattern, item);
        }
        for (size_t k = 0; rt->method[k] != '\0' && k + 1 < sizeof(method); k++) {
            method[k] = (char)(rt->method[k] >= 'A' && rt->method[k] <= 'Z' ? rt->method[k] + 32
                                                                           : rt->method[k]);
            method[k + 1] = '\0';
        }
        json_object_object_add(item, method, op);
    }
    return doc;
bad:
    json_object_put(doc);
    return NULL;
}

/* --- /docs ------------------------------------------------------------------- */

static void html_escape(struct printbuf *pb, const char *s)
{
    for (; s != NULL && *s != '\0'; s++) {
        switch (*s) {
        case '<': printbuf_strappend(pb, "&lt;"); break;
        case '>': printbuf_strappend(pb, "&gt;"); break;
        case '&': printbuf_strappend(pb, "&amp;"); break;
        case '"': printbuf_strappend(pb, "&quot;"); break;
        case '\'': printbuf_strappend(pb, "&#39;"); break;
        default: printbuf_memappend(pb, s, 1);
        }
    }
}

static const char *jget_str(struct json_object *o, const char *key)
{
    struct json_object *v;

    return json_object_object_get_ex(o, key, &v) ? json_object_get_string(v) : NULL;
}

static void html_json(struct printbuf *pb, struct json_object *o)
{
    printbuf_strappend(pb, "<pre>");
    html_escape(pb, json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
                                                          JSON_C_TO_STRING_NOSLASHESCAPE));
    printbuf_strappend(pb, "</pre>\n");
}

static void html_operation(struct printbuf *pb, const char *path, const char *method,
                           struct json_object *op)
{
    struct json_object *v;
    char upper[16];
    size_t k;

    for (k = 0; method[k] != '\0' && k + 1 < sizeof(upper); k++)
        upper[k] = (char)(method[k] >= 'a' && method[k] <= 'z' ? method[k] - 32 : method[k]);
    upper[k] = '\0';
    printbuf_strappend(pb, "<section class=\"op\" id=\"");
    html_escape(pb, jget_str(op, "operationId"));
    printbuf_strappend(pb, "\"><h3><span class=\"m\">");
    html_escape(pb, upper);
    printbuf_strappend(pb, "</span> <code>");
    html_escape(pb, path);
    printbuf_strappend(pb, "</code></h3>\n<p>");
    html_escape(pb, jget_str(op, "summary"));
    printbuf_strappend(pb, "</p>\n<p class=\"role\">Role: <b>");
    html_escape(pb, jget_str(op, "x-required-role"));
    printbuf_strappend(pb, "</b></p>\n");
    if (json_object_object_get_ex(op, "parameters", &v)) {
        printbuf_strappend(pb, "<table><tr><th>parameter</th><th>in</th><th>description</th></tr>\n");
        for (size_t i = 0; i < json_object_array_length(v); i++) {
            struct json_object *p = json_object_array_get_idx(v, i);

            printbuf_strappend(pb, "<tr><td><code>");
            html_escape(pb, jget_str(p, "name"));
            printbuf_strappend(pb, "</code></td><td>");
            html_escape(pb, jget_str(p, "in"));
            printbuf_strappend(pb, "</td><td>");
            html_escape(pb, jget_str(p, "description"));
            printbuf_strappend(pb, "</td></tr>\n");
        }
        printbuf_strappend(pb, "</table>\n");
    }
    if (json_object_object_get_ex(op, "requestBody", &v)) {
        printbuf_strappend(pb, "<h4>Request body</h4>\n");
        html_json(pb, v);
    }
    if (json_object_object_get_ex(op, "responses", &v)) {
        printbuf_strappend(pb, "<h4>Responses</h4>\n<ul>\n");
        json_object_object_foreach(v, code, resp)
        {
            struct json_object *content;

            printbuf_strappend(pb, "<li><b>");
            html_escape(pb, code);
            printbuf_strappend(pb, "</b> ");
            html_escape(pb, jget_str(resp, "description"));
            if (json_object_object_get_ex(resp, "content", &content) && code[0] == '2')
                html_json(pb, content);
            printbuf_strappend(pb, "</li>\n");
        }
        printbuf_strappend(pb, "</ul>\n");
    }
    printbuf_strappend(pb, "</section>\n");
}

char *openapi_html(struct json_object *doc)
{
    struct printbuf *pb = printbuf_new();
    struct json_object *info = NULL, *paths = NULL, *comp = NULL, *schemas = NULL;
    char *out;

    if (pb == NULL)
        return NULL;
    json_object_object_get_ex(doc, "info", &info);
    json_object_object_get_ex(doc, "paths", &paths);
    printbuf_strappend(pb,
                       "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
                       "<title>");
    html_escape(pb, jget_str(info, "title"));
    printbuf_strappend(pb,
                       "</title>\n<style>body{font-family:sans-serif;max-width:60em;margin:auto;"
                       "padding:1em;line-height:1.4}code,pre{font-family:monospace}pre{background:"
                       "#f4f4f4;padding:.5em;overflow-x:auto}.op{border-top:1px solid #ccc;"
                       "margin-top:1.5em}.m{background:#234;color:#fff;padding:0 .4em}"
                       "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2em .5em}"
                       "</style></head><body>\n<h1>");
    html_escape(pb, jget_str(info, "title"));
    printbuf_strappend(pb, " <small>");
    html_escape(pb, jget_str(info, "version"));
    printbuf_strappend(pb, "</small></h1>\n<p>");
    html_escape(pb, jget_str(info, "description"));
    printbuf_strappend(pb, "</p>\n<p>Machine-readable: <a href=\"/openapi.json\">/openapi.json</a></p>\n"
                           "<h2>Operations</h2>\n");
    if (paths != NULL) {
        json_object_object_foreach(paths, path, item)
        {
            json_object_object_foreach(item, method, op) html_operation(pb, path, method, op);
        }
    }
    if (json_object_object_get_ex(doc, "components", &comp) &&
        json_object_object_get_ex(comp, "schemas", &schemas)) {
        printbuf_strappend(pb, "<h2>Schemas</h2>\n");
        json_object_object_foreach(schemas, name, schema)
        {
            printbuf_strappend(pb, "<h3 id=\"schema-");
            html_escape(pb, name);
            printbuf_strappend(pb, "\">");
            html_escape(pb, name);
            printbuf_strappend(pb, "</h3>\n");
            html_json(pb, schema);
        }
    }
    printbuf_strappend(pb, "</body></html>\n");
    out = strdup(pb->buf);
    printbuf_free(pb);
    return out;
}
