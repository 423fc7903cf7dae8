/* Pre-fork supervisor. Signals are taken synchronously with sigtimedwait so
 * that restart, reload and drain logic runs in plain code, not in handlers. */
#include "supervisor.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <fcgiapp.h>

#include "log.h"
#include "responder.h"
#include "util.h"

#define SUP_MAX_CHILDREN 1024

struct child {
    pid_t pid;
    unsigned generation;
};

static struct child children[SUP_MAX_CHILDREN];
static int nchildren;

/* The socket file this process created, so that exit removes only that one
 * and never a socket another serve has put at the same path since. */
static struct {
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    dev_t dev;
    ino_t ino;
} owned;

/* An existing socket file: refuse if a listener still answers on it (another
 * serve, or the web server's own responders), remove it if nobody does. */
static int take_over_socket(const char *path, char *err, size_t errlen)
{
    struct sockaddr_un sun;
    int fd, rc, saved;

    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    gw_strlcpy(sun.sun_path, path, sizeof(sun.sun_path));
    /* Non-blocking: a live listener with a full backlog answers EAGAIN at
     * once instead of holding us up; it is just as much in use. */
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        snprintf(err, errlen, "cannot probe %s: %s", path, strerror(errno));
        return -1;
    }
    rc = connect(fd, (struct sockaddr *)&sun, sizeof(sun));
    saved = errno;
    close(fd);
    if (rc == 0 || saved == EAGAIN) {
        snprintf(err, errlen, "another serve is listening on %s; stop it first", path);
        return -1;
    }
    if (saved != ECONNREFUSED) {
        snprintf(err, errlen, "cannot tell whether %s is in use: %s", path, strerror(saved));
        return -1;
    }
    log_info("socket_stale", "removing stale socket %s (nothing listens on it)", path);
    if (unlink(path) != 0 && errno != ENOENT) {
        snprintf(err, errlen, "cannot remove stale socket %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

int sup_open_listener(const char *socket_path, const char *listen_addr, int backlog,
                      char *err, size_t errlen)
{
    int fd;

    if (socket_path != NULL && socket_path[0] != '\0') {
        struct stat st;

        /* libfcgi exit()s on a path longer than sun_path: check first. */
        if (strlen(socket_path) >= sizeof(owned.path)) {
            snprintf(err, errlen, "socket path %s is longer than %zu characters", socket_path,
                     sizeof(owned.path) - 1);
            return -1;
        }
        if (lstat(socket_path, &st) == 0) {
            if (!S_ISSOCK(st.st_mode)) {
                snprintf(err, errlen, "%s exists and is not a socket", socket_path);
                return -1;
            }
            if (take_over_socket(socket_path, err, errlen) != 0)
                return -1;
        }
        fd = FCGX_OpenSocket(socket_path, backlog);
        if (fd < 0) {
            snprintf(err, errlen, "cannot listen on %s: %s", socket_path, strerror(errno));
            return -1;
        }
        if (stat(socket_path, &st) == 0) {
            gw_strlcpy(owned.path, socket_path, sizeof(owned.path));
            owned.dev = st.st_dev;
            owned.ino = st.st_ino;
        }
        /* Web servers often run as another user (Apache's nobody). */
        chmod(socket_path, 0666);
        return fd;
    }
    if (listen_addr == NULL || listen_addr[0] == '\0') {
        snprintf(err, errlen, "neither --socket nor --listen (fastcgi.socket / fastcgi.listen) is set");
        return -1;
    }
    if (listen_addr[0] == ':') {
        snprintf(err, errlen, "listen address %s names no host; it would bind every interface",
                 listen_addr);
        return -1;
    }
    fd = FCGX_OpenSocket(listen_addr, backlog);
    if (fd < 0) {
        snprintf(err, errlen, "cannot listen on %s: %s", listen_addr, strerror(errno));
        return -1;
    }
    return fd;
}

void sup_close_listener(int fd)
{
    struct stat st;

    close(fd);
    if (owned.path[0] == '\0')
        return;
    if (stat(owned.path, &st) == 0 && st.st_dev == owned.dev && st.st_ino == owned.ino)
        unlink(owned.path);
    else
        log_warn("socket_replaced", "%s is no longer the socket this serve created; left in place",
                 owned.path);
    owned.path[0] = '\0';
}

static pid_t spawn(const struct sup_opts *o, unsigned generation, const sigset_t *orig)
{
    pid_t parent = getpid(), pid = fork();

    if (pid < 0) {
        log_error("fork_failed", "cannot fork a responder: %s", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        static volatile sig_atomic_t stop;
        struct sigaction sa;
        int rc;

        if (responder_exit_with_parent(parent) != 0)
            _exit(0);
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = SIG_IGN; /* reload is the supervisor's business */
        sigaction(SIGHUP, &sa, NULL);
        sa.sa_handler = SIG_DFL;
        sigaction(SIGCHLD, &sa, NULL);
        sigprocmask(SIG_SETMASK, orig, NULL);
        log_set_component("responder");
        rc = o->child_main(o->arg, o->listen_fd, &stop);
        _exit(rc);
    }
    for (int i = 0; i < SUP_MAX_CHILDREN; i++) {
        if (children[i].pid == 0) {
            children[i].pid = pid;
            children[i].generation = generation;
            if (i >= nchildren)
                nchildren = i + 1;
            break;
        }
    }
    return pid;
}

static int count_generation(unsigned generation)
{
    int n = 0;

    for (int i = 0; i < nchildren; i++)
        if (children[i].pid != 0 && children[i].generation == generation)
            n++;
    return n;
}

static int count_all(void)
{
    int n = 0;

    for (int i = 0; i < nchildren; i++)
        if (children[i].pid != 0)
            n++;
    return n;
}

static void signal_all(int sig, int only_other_than, unsigned generation)
{
    for (int i = 0; i < nchildren; i++)
        if (children[i].pid != 0 && (!only_other_than || children[i].generation != generation))
            kill(children[i].pid, sig);
}

/* Reap every exited child; returns how many of the current generation died
 * (while stopping, exits are expected and not counted). */
static int reap(unsigned generation, int stopping)
{
    int died = 0, status;
    pid_t pid;

    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        for (int i = 0; i < nchildren; i++) {
            if (children[i].pid != pid)
                continue;
            if (stopping) {
                log_info("responder_stopped", "responder %d finished", (int)pid);
            } else if (children[i].generation == generation) {
                died++;
                if (WIFSIGNALED(status))
                    log_warn("responder_died", "responder %d killed by signal %d", (int)pid,
                             WTERMSIG(status));
                else
                    log_warn("responder_exited", "responder %d exited with status %d", (int)pid,
                             WEXITSTATUS(status));
            } else {
                log_info("responder_retired", "previous-generation responder %d finished",
                         (int)pid);
            }
            children[i].pid = 0;
        }
    }
    return died;
}

/* More exits than this per responder within one second is a crash loop. */
#define SUP_CRASH_EXITS_PER_WORKER 4
#define SUP_CRASH_WINDOW_MS 1000
#define SUP_CRASH_PAUSE_MS 1000

int sup_run(const struct sup_opts *o)
{
    sigset_t set, orig;
    unsigned generation = 1;
    int workers = o->workers, drain_timeout = o->drain_timeout, stopping = 0;
    int64_t stop_deadline = 0, window_start = gw_monotonic_ms(), paused_until = 0;
    int exits_in_window = 0;

    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigprocmask(SIG_BLOCK, &set, &orig);
    signal(SIGPIPE, SIG_IGN);

    for (int i = 0; i < workers; i++)
        spawn(o, generation, &orig);
    log_info("supervisor_started", "supervisor %d started %d responders", (int)getpid(), workers);

    for (;;) {
        struct timespec tick = { 0, 100 * 1000 * 1000 };
        int sig = sigtimedwait(&set, NULL, &tick);
        int64_t now = gw_monotonic_ms();

        if (sig == SIGTERM || sig == SIGINT) {
            if (!stopping) {
                stopping = 1;
                stop_deadline = now + (int64_t)drain_timeout * 1000;
                log_info("supervisor_draining", "draining %d responders (up to %d s)",
                         count_all(), drain_timeout);
                signal_all(SIGTERM, 0, 0);
            }
        } else if (sig == SIGHUP && !stopping) {
            int new_workers = workers, new_drain = drain_timeout;

            if (o->reload != NULL && o->reload(o->arg, &new_workers, &new_drain) != 0) {
                log_error("reload_failed", "configuration not reloaded; responders keep the old one");
            } else {
                /* New responders accept on the same socket before the old ones
                 * leave, so no connection finds nobody listening. */
                generation++;
                if (new_workers != workers)
                    log_info("supervisor_workers", "responders: %d -> %d", workers, new_workers);
                workers = new_workers;
                drain_timeout = new_drain;
                for (int i = 0; i < workers; i++)
                    spawn(o, generation, &orig);
                signal_all(SIGTERM, 1, generation);
                log_info("supervisor_reloaded", "configuration reloaded; generation %u", generation);
            }
            now = gw_monotonic_ms(); /* a reload checks the world: it takes time */
        }

        {
            int died = reap(generation, stopping);

            if (died > 0 && !stopping) {
                if (now - window_start > SUP_CRASH_WINDOW_MS) {
                    window_start = now;
                    exits_in_window = 0;
                }
                exits_in_window += died;
            }
        }
        if (stopping) {
            if (count_all() == 0)
                break;
            if (now >= stop_deadline) {
                log_warn("supervisor_kill", "%d responders still busy after %d s; killing",
                         count_all(), drain_timeout);
                signal_all(SIGKILL, 0, 0);
                stop_deadline = now + 5000;
            }
            continue;
        }
        if (paused_until != 0) {
            if (now < paused_until)
                continue;
            paused_until = 0;
            exits_in_window = 0;
            window_start = now;
            log_info("respawn_resumed", "resuming respawn after a pause of %d ms",
                     SUP_CRASH_PAUSE_MS);
        }
        /* Respawn the missing ones at once, unless they are dying in a loop:
         * then respawning only burns CPU and floods the log. */
        if (exits_in_window > workers * SUP_CRASH_EXITS_PER_WORKER) {
            paused_until = now + SUP_CRASH_PAUSE_MS;
            log_error("crash_loop",
                      "responders are crashing in a loop: %d exits in %d ms; pausing respawn for %d ms",
                      exits_in_window, (int)(now - window_start), SUP_CRASH_PAUSE_MS);
            continue;
        }
        while (count_generation(generation) < workers) {
            pid_t pid = spawn(o, generation, &orig);

            if (pid < 0)
                break;
            log_info("responder_respawned", "responder %d started in place of one that exited",
                     (int)pid);
        }
    }
    log_info("supervisor_stopped", "all responders finished");
    sigprocmask(SIG_SETMASK, &orig, NULL);
    return 0;
}
