/* Pre-fork supervisor: opens the FastCGI socket, keeps N responders running,
 * drains on SIGTERM and replaces responders gracefully on SIGHUP. */
#ifndef GW_FCGI_SUPERVISOR_H
#define GW_FCGI_SUPERVISOR_H

#include <signal.h>
#include <stddef.h>
#include <sys/types.h>

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
    /* Runs in the one monitor process next to the responders (NULL: none);
     * returns its exit status. */
    int (*monitor_main)(void *arg, volatile sig_atomic_t *stop);
};

/* Mode (octal text, e.g. "0660") and group (name; "" keeps the creator's) of
 * the unix socket: only its owner and that group may connect. 0 or -1. */
int sup_socket_access(const char *path, const char *mode, const char *group, char *err,
                      size_t errlen);

/* Who the responders run as. */
struct sup_identity {
    int change;              /* 1: switch to uid/gid after fork */
    uid_t uid;
    gid_t gid;
    char user[64];
};
/* Resolve user and group names (group "" = the user's primary group). Started
 * as root, an empty user (or root) is refused unless allow_root; started as
 * another user, only that user is accepted. 0 or -1 with err filled. */
int sup_identity_resolve(const char *user, const char *group, int allow_root,
                         struct sup_identity *id, char *err, size_t errlen);
/* In a responder: supplementary groups, gid, then uid; verifies that root
 * cannot be regained. 0 or -1 with err filled. */
int sup_identity_apply(const struct sup_identity *id, char *err, size_t errlen);
/* A unix socket path (give it its access with sup_socket_access) or
 * 127.0.0.1:PORT. An existing socket file is replaced only when nothing
 * listens on it any more. Returns the fd, or -1 with err filled. */
int sup_open_listener(const char *socket_path, const char *listen_addr, int backlog,
                      char *err, size_t errlen);
/* Close it; the socket file goes too, if it is still the one we created. */
void sup_close_listener(int fd);
/* Runs until SIGTERM/SIGINT has drained every responder. Returns 0. */
int sup_run(const struct sup_opts *o);

#endif
