/* Pre-fork supervisor: opens the FastCGI socket, keeps N responders running,
 * drains on SIGTERM and replaces responders gracefully on SIGHUP. */
#ifndef GW_FCGI_SUPERVISOR_H
#define GW_FCGI_SUPERVISOR_H

#include <signal.h>
#include <stddef.h>

struct sup_opts {
    int listen_fd;
    int workers;
    int drain_timeout;       /* seconds before stragglers are killed */
    /* Runs in each forked responder; returns its exit status. */
    int (*child_main)(void *arg, int listen_fd, volatile sig_atomic_t *stop);
    /* Runs in the supervisor on SIGHUP; 0 when the new configuration is good
     * (responders forked afterwards use it, with the new workers and
     * drain_timeout), -1 to keep the old one. */
    int (*reload)(void *arg, int *workers, int *drain_timeout);
    void *arg;
};

/* A unix socket path (mode 0666) or 127.0.0.1:PORT. An existing socket file
 * is replaced only when nothing listens on it any more. Returns the fd, or -1
 * with err filled. */
int sup_open_listener(const char *socket_path, const char *listen_addr, int backlog,
                      char *err, size_t errlen);
/* Close it; the socket file goes too, if it is still the one we created. */
void sup_close_listener(int fd);
/* Runs until SIGTERM/SIGINT has drained every responder. Returns 0. */
int sup_run(const struct sup_opts *o);

#endif
