/* Pre-fork supervisor: opens the FastCGI socket, keeps N responders running,
 * drains on SIGTERM and replaces responders gracefully on SIGHUP. */
#ifndef GW_FCGI_SUPERVISOR_H
#define GW_FCGI_SUPERVISOR_H

#include <signal.h>
#include <stddef.h>
#include <sys/types.h>

/* Pool size. `workers` responders always run; while fewer than min_spare are
 * idle, more are forked (1, 2, 4, ... per step, capped) up to max_workers;
 * while more than max_spare are idle, those beyond `workers` that have been
 * idle for idle_timeout seconds are retired between two requests. */
struct sup_pool {
    int workers;
    int max_workers;         /* >= workers; equal: a fixed pool */
    int min_spare;
    int max_spare;
    int idle_timeout;        /* seconds */
    int drain_timeout;       /* seconds before stragglers are killed */
};

struct sup_opts {
    int listen_fd;
    struct sup_pool pool;
    /* Runs in each forked responder; returns its exit status. */
    int (*child_main)(void *arg, int listen_fd, volatile sig_atomic_t *stop);
    /* Runs in the supervisor on SIGHUP; 0 when the new configuration is good
     * (responders forked afterwards use it, with the new pool settings),
     * -1 to keep the old one. */
    int (*reload)(void *arg, struct sup_pool *pool);
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
    /* Supplementary groups, looked up once here: initgroups() in every
     * responder would load NSS modules in each one as the pool grows. */
    gid_t groups[64];
    int ngroups;
};
/* Resolve user and group names (group "" = the user's primary group). Started
 * as root, an empty user (or root) is refused unless allow_root; started as
 * another user, only that user is accepted. 0 or -1 with err filled. */
int sup_identity_resolve(const char *user, const char *group, int allow_root,
                         struct sup_identity *id, char *err, size_t errlen);
/* In a responder: supplementary groups (as resolved), gid, then uid; verifies that root
 * cannot be regained. 0 or -1 with err filled. */
int sup_identity_apply(const struct sup_identity *id, char *err, size_t errlen);
/* A unix socket path (give it its access with sup_socket_access) or
 * 127.0.0.1:PORT. An existing socket file is replaced only when nothing
 * listens on it any more. Returns the fd, or -1 with err filled. */
int sup_open_listener(const char *socket_path, const char *listen_addr, int backlog,
                      char *err, size_t errlen);
/* The pool settings with max_workers and the spares put in their bounds
 * (max_workers 0 means `workers`); what was changed is logged. */
void sup_pool_normalize(struct sup_pool *p);
/* Close it; the socket file goes too, if it is still the one we created. */
void sup_close_listener(int fd);
/* Runs until SIGTERM/SIGINT has drained every responder. Returns 0. */
int sup_run(const struct sup_opts *o);

#endif
