/* Generated documentation from the configuration key table and the CLI's
 * command table, so that the example file and the man pages cannot drift. */
#include "manual.h"

#include <string.h>

#include "config.h"

/* Text for roff: backslashes and hyphens escaped, no request at line start. */
static void roff_text(FILE *out, const char *s)
{
    int bol = 1;

    for (; *s != '\0'; s++) {
        if (bol && (*s == '.' || *s == '\''))
            fputs("\\&", out);
        bol = *s == '\n';
        if (*s == '\\')
            fputs("\\e", out);
        else if (*s == '-')
            fputs("\\-", out);
        else
            fputc(*s, out);
    }
}

struct walk {
    FILE *out;
    const char *section;
};

static void example_key(const struct cfg_keyinfo *k, void *arg)
{
    struct walk *w = arg;

    if (w->section == NULL || strcmp(w->section, k->section) != 0) {
        fprintf(w->out, "%s[%s]\n", w->section ? "\n" : "", k->section);
        w->section = k->section;
    }
    fprintf(w->out, "# %s\n", k->help);
    /* An empty default means "unset": shown commented so the file stays valid. */
    if (k->def[0] != '\0')
        fprintf(w->out, "%s = %s\n", k->name, k->def);
    else
        fprintf(w->out, "#%s =\n", k->name);
}

void man_example_conf(FILE *out)
{
    struct walk w = { out, NULL };

    fputs("# gateway.conf: configuration of mcp-registry-gateway (see gateway.conf(5)).\n"
          "# Every key may be overridden by MCPGW_<SECTION>_<KEY> in the environment.\n"
          "# Keep this file mode 0640, owner root, group of fastcgi.user: it holds credentials.\n\n",
          out);
    cfg_describe(example_key, &w);
}

static void page_key(const struct cfg_keyinfo *k, void *arg)
{
    struct walk *w = arg;

    if (w->section == NULL || strcmp(w->section, k->section) != 0) {
        fprintf(w->out, ".SS [%s]\n", k->section);
        w->section = k->section;
    }
    fprintf(w->out, ".TP\n.B %s\n", k->name);
    roff_text(w->out, k->help);
    fputs("\n.br\n", w->out);
    if (strcmp(k->type, "integer") == 0)
        fprintf(w->out, "Integer from %ld to %ld; default %s. Environment: MCPGW_", k->min, k->max,
                k->def);
    else {
        fputs("Default: ", w->out);
        if (k->def[0] != '\0')
            roff_text(w->out, k->def);
        else
            fputs("(empty)", w->out);
        fputs(". Environment: MCPGW_", w->out);
    }
    for (const char *p = k->section; *p; p++)
        fputc(*p >= 'a' && *p <= 'z' ? *p - 'a' + 'A' : *p, w->out);
    fputc('_', w->out);
    for (const char *p = k->name; *p; p++)
        fputc(*p >= 'a' && *p <= 'z' ? *p - 'a' + 'A' : *p, w->out);
    fputs(".\n", w->out);
}

void man_conf_page(FILE *out, const char *version)
{
    struct walk w = { out, NULL };

    fprintf(out, ".TH GATEWAY.CONF 5 \"\" \"mcp-registry-gateway %s\" \"File Formats\"\n", version);
    fputs(".SH NAME\ngateway.conf \\- configuration of mcp\\-registry\\-gateway\n"
          ".SH DESCRIPTION\nAn INI file named by \\fB\\-\\-config\\fR or \\fBMCPGW_CONFIG\\fR. "
          "Lines are \\fIkey\\fR = \\fIvalue\\fR under a [\\fIsection\\fR] header; "
          "# and ; start comments; values may be quoted. "
          "Every key can be overridden by the environment variable "
          "MCPGW_\\fISECTION\\fR_\\fIKEY\\fR (upper case). "
          "Unknown sections or keys and bad values are errors naming the file, line and key.\n"
          ".PP\nThe file holds credentials (DSN, Redis URL): keep it mode 0640, owner root, "
          "group of \\fBfastcgi.user\\fR. \\fBmcp\\-gateway config\\fR prints the effective "
          "values with passwords masked.\n.SH KEYS\n",
          out);
    cfg_describe(page_key, &w);
    fputs(".SH FILES\n.TP\n.I gateway.conf.example\nevery key with its default, installed "
          "with the package data\n.SH SEE ALSO\n.BR mcp\\-gateway (1)\n", out);
}

void man_cli_page(FILE *out, const char *version, const struct man_command *cmds, size_t n)
{
    fprintf(out, ".TH MCP-GATEWAY 1 \"\" \"mcp-registry-gateway %s\" \"User Commands\"\n", version);
    fputs(".SH NAME\nmcp\\-gateway \\- authenticated multi\\-tenant front door for MCP servers\n"
          ".SH SYNOPSIS\n.B mcp\\-gateway\n[\\fB\\-\\-config\\fR \\fIFILE\\fR] \\fICOMMAND\\fR "
          "[\\fIoptions\\fR]\n.SH DESCRIPTION\nPre\\-forked FastCGI responders behind lighttpd "
          "or Apache serve the management plane (REST API, health, metrics) and the MCP plane "
          "(Streamable HTTP). All state shared between requests lives in Redis and PostgreSQL.\n"
          ".SH COMMANDS\n",
          out);
    for (size_t i = 0; i < n; i++) {
        fprintf(out, ".TP\n.B %s", cmds[i].name);
        if (cmds[i].args[0] != '\0') {
            fputc(' ', out);
            roff_text(out, cmds[i].args);
        }
        fputc('\n', out);
        roff_text(out, cmds[i].help);
        fputc('\n', out);
    }
    fputs(".SH ENVIRONMENT\n.TP\n.B MCPGW_CONFIG\nthe configuration file when \\fB\\-\\-config\\fR "
          "is not given\n.TP\n.B MCPGW_\\fISECTION\\fB_\\fIKEY\\fR\noverrides one configuration "
          "key\n.SH SIGNALS\n.TP\n.B SIGHUP\n\\fBserve\\fR reloads its configuration and replaces "
          "its responders without dropping requests\n.TP\n.B SIGTERM\n\\fBserve\\fR drains: "
          "responders finish their requests (up to \\fBfastcgi.drain_timeout\\fR)\n"
          ".SH EXIT STATUS\n0 on success, 1 on a failure (\\fBvalidate\\fR: any problem; "
          "\\fBhealth\\fR: unhealthy), 2 on a usage error.\n"
          ".SH SEE ALSO\n.BR gateway.conf (5)\n",
          out);
}
