/* Generated documentation: the example gateway.conf and the man pages
 * mcp-gateway(1) and gateway.conf(5), written from the tables they describe. */
#ifndef GW_MANUAL_H
#define GW_MANUAL_H

#include <stddef.h>
#include <stdio.h>

/* One subcommand of the CLI, as usage and mcp-gateway(1) show it. */
struct man_command {
    const char *name;
    const char *args;        /* synopsis after the name, "" for none */
    const char *help;        /* one paragraph */
};

/* An example gateway.conf: every key with its help as a comment and its
 * default, commented out where the default is empty. */
void man_example_conf(FILE *out);
/* gateway.conf(5) in roff. */
void man_conf_page(FILE *out, const char *version);
/* mcp-gateway(1) in roff, one entry per command. */
void man_cli_page(FILE *out, const char *version, const struct man_command *cmds, size_t n);

#endif
