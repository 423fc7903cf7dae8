/* The process side of one responder: the FastCGI accept loop (own socket or
 * fd 0 under spawn-fcgi and mod_fcgid) and plain CGI. It knows nothing of MCP. */
#ifndef GW_FCGI_RESPONDER_H
#define GW_FCGI_RESPONDER_H

#include <signal.h>
#include <sys/types.h>
#include "http.h"

/* Sent by the kernel to a responder whose supervisor died (PR_SET_PDEATHSIG). */
#define RESPONDER_ORPHAN_SIGNAL SIGUSR2

typedef void (*responder_fn)(void *arg, struct http_io *io);

/* Parameters and body of a FastCGI request must arrive within this many ms
 * of its connection (fastcgi.read_timeout_ms); a stalled parameter phase
 * closes the connection, a stalled body is answered 408 by the application
 * (its read returns HTTP_IO_TIMEOUT). */
#define RESPONDER_READ_TIMEOUT_MS 10000
void responder_read_timeout(int ms);
/* Serve requests from listen_fd until *stop is set (checked between requests
 * and at least once a second while idle). Returns 0 on a clean stop. */
int responder_loop(int listen_fd, responder_fn fn, void *arg, volatile sig_atomic_t *stop);
/* Serve one CGI request from the environment and stdin/stdout. */
int responder_cgi(responder_fn fn, void *arg);
/* True when fd 0 is a listening socket (spawn-fcgi, mod_fcgid). */
int responder_fd0_is_socket(void);
/* Install SIGTERM/SIGINT (stop after the current request) and SIGPIPE ignore. */
void responder_signals(volatile sig_atomic_t *stop);
/* Right after fork: leave when parent dies (at once when idle, after the
 * request in hand otherwise). -1 when parent is already gone or the kernel
 * refused; the caller then exits. */
int responder_exit_with_parent(pid_t parent);

#endif
