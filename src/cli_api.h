/* Operator commands that talk to a running gateway's management API with a
 * token: `servers list|get|register|remove|refresh` and `import FILE`. */
#ifndef GW_CLI_API_H
#define GW_CLI_API_H

#include <stddef.h>
#include <json-c/json.h>

/* argv[0] is the command name ("servers", "import"); exit status returned. */
int cli_servers(int argc, char **argv);
/* `mcp-gateway catalog refresh`: POST /api/v1/catalog/refresh. */
int cli_catalog(int argc, char **argv);
int cli_import(int argc, char **argv);
/* mcp-gateway resources: the resource pools and their use. */
int cli_resources(int argc, char **argv);
/* mcp-gateway report: the system report; exit 1 on a critical finding. */
int cli_report(int argc, char **argv);
/* `mcp-gateway events raise|show`: POST /api/v1/events, GET /api/v1/events/{id}. */
int cli_events(int argc, char **argv);

/* Turn one official MCP registry server.json object into our registration
 * body (caller puts it). 0, or -1 with the reason it cannot be imported in
 * why. headers: "Name=value" strings that supply the remote's declared
 * headers (NULL-terminated, may be NULL). */
int cli_import_body(struct json_object *server, const char *const *headers,
                    struct json_object **body, char *why, size_t n);
/* The registry name ("io.github.acme/weather-tools") as one of our server
 * names ([a-z0-9][a-z0-9-]{0,47}): its last part, lowered, other characters
 * as '-'. 0, or -1 when nothing usable remains. */
int cli_import_name(const char *registry_name, char *out, size_t n);

#endif
