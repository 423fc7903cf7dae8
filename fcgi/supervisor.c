/* Pre-fork supervisor. Signals are taken synchronously with sigtimedwait so
 * that restart, reload and drain logic runs in plain code, not in handlers. */
#include "supervisor.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <fcgiapp.h>

#include "log.h"
#include "metrics.h"
#include "monitor.h"
#include "responder.h"
#include "util.h"

#define SUP_MAX_CHILDREN 1024

struct child {
    pid_t pid;
    unsigned generation;
    int retiring;            /* asked to leave as an idle extra: not a death */
    int recent;              /* began a request between the last two looks */
    unsigned seen_requests;  /* its request count at the last look */
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

/* The kernel silently caps a listen backlog at net.core.somaxconn: a burst
 * larger than that is refused (lighttpd then takes the backend for
 * overloaded and answers 503) while the pool is still growing. Say so. */
static void check_backlog(int backlog)
{
    FILE *f = fopen("/proc/sys/net/core/somaxconn", "r");
    int max = 0;

    if (f == NULL)
        return;
    if (fscanf(f, "%d", &max) != 1)
        max = 0;
    fclose(f);
    if (max > 0 && backlog > max)
        log_warn("backlog_capped", "fastcgi.backlog %d is above net.core.somaxconn %d: the kernel "
                 "queues at most %d connections; raise somaxconn for bursts", backlog, max, max);
}

int sup_open_listener(const char *socket_path, const char *listen_addr, int backlog,
                      char *err, size_t errlen)
{
    int fd;

    check_backlog(backlog);

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

int sup_socket_access(const char *path, const char *mode, const char *group, char *err,
                      size_t errlen)
{
    char *end;
    long m;

    errno = 0;
    m = strtol(mode, &end, 8);
    if (mode[0] == '\0' || *end != '\0' || errno != 0 || m < 0 || m > 0777) {
        snprintf(err, errlen, "socket mode '%s' is not an octal mode such as 0660", mode);
        return -1;
    }
    if (group != NULL && group[0] != '\0') {
        struct group *g = getgrnam(group);

        if (g == NULL) {
            snprintf(err, errlen, "socket group '%s' does not exist", group);
            return -1;
        }
        if (chown(path, (uid_t)-1, g->gr_gid) != 0) {
            snprintf(err, errlen, "cannot give %s to group %s: %s", path, group, strerror(errno));
            return -1;
        }
    }
    if (chmod(path, (mode_t)m) != 0) {
        snprintf(err, errlen, "cannot set mode %s on %s: %s", mode, path, strerror(errno));
        return -1;
    }
    return 0;
}

int sup_identity_resolve(const char *user, const char *group, int allow_root,
                         struct sup_identity *id, char *err, size_t errlen)
{
    struct passwd *pw = NULL;
    struct group *gr;

    memset(id, 0, sizeof(*id));
    if (user != NULL && user[0] != '\0') {
        pw = getpwnam(user);
        if (pw == NULL) {
            snprintf(err, errlen, "fastcgi.user '%s' does not exist", user);
            return -1;
        }
    }
    if (geteuid() != 0) {
        /* Nothing to switch; a different user named is a mistake worth saying. */
        if (pw != NULL && pw->pw_uid != geteuid()) {
            snprintf(err, errlen, "fastcgi.user is %s but serve runs as uid %d, not as root",
                     user, (int)geteuid());
            return -1;
        }
        return 0;
    }
    if (pw == NULL || pw->pw_uid == 0) {
        if (!allow_root) {
            snprintf(err, errlen, "refusing to run responders as root: set fastcgi.user "
                                  "(an unprivileged user such as mcpgw), or fastcgi.allow_root = 1");
            return -1;
        }
        return 0;
    }
    id->change = 1;
    id->uid = pw->pw_uid;
    id->gid = pw->pw_gid;
    if (gw_strlcpy(id->user, user, sizeof(id->user)) != 0) {
        snprintf(err, errlen, "fastcgi.user name is too long");
        return -1;
    }
    if (group != NULL && group[0] != '\0') {
        gr = getgrnam(group);
        if (gr == NULL) {
            snprintf(err, errlen, "fastcgi.group '%s' does not exist", group);
            return -1;
        }
        id->gid = gr->gr_gid;
    }
    id->ngroups = (int)GW_ARRAY_LEN(id->groups);
    if (getgrouplist(user, id->gid, id->groups, &id->ngroups) < 0) {
        snprintf(err, errlen, "fastcgi.user %s is in more than %zu groups", user,
                 GW_ARRAY_LEN(id->groups));
        return -1;
    }
    return 0;
}

int sup_identity_apply(const struct sup_identity *id, char *err, size_t errlen)
{
    int deathsig = 0;

    if (!id->change)
        return 0;
    /* The kernel clears the parent-death signal when credentials change:
     * keep the one the responder asked for across the switch. */
    prctl(PR_GET_PDEATHSIG, &deathsig);
    /* Groups first: after setuid there is no right left to change them. */
    if (setgroups((size_t)id->ngroups, id->groups) != 0 || setgid(id->gid) != 0 ||
        setuid(id->uid) != 0) {
        snprintf(err, errlen, "cannot switch to user %s: %s", id->user, strerror(errno));
        return -1;
    }
    if (deathsig != 0 && prctl(PR_SET_PDEATHSIG, deathsig) != 0) {
        snprintf(err, errlen, "cannot keep the parent-death signal: %s", strerror(errno));
        return -1;
    }
    if (setuid(0) == 0 || geteuid() == 0) {
        snprintf(err, errlen, "root could be regained after switching to %s", id->user);
        return -1;
    }
    return 0;
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

/* The supervisor's scheduling priority as started, which responders keep. */
static int g_nice;

/* A burst of long requests keeps every CPU busy exactly when the pool must
 * grow: forking then competes with hundreds of runnable processes. Started
 * as root, the supervisor gives itself a little more weight than the
 * responders it forks (they go back to the priority serve was started with). */
#define SUP_NICE_BOOST 10

static void raise_priority(void)
{
    errno = 0;
    g_nice = getpriority(PRIO_PROCESS, 0);
    if (errno != 0) {
        g_nice = 0;
        return;
    }
    if (geteuid() == 0 && setpriority(PRIO_PROCESS, 0, g_nice - SUP_NICE_BOOST) != 0)
        log_warn("supervisor_priority", "cannot raise the supervisor's priority: %s",
                 strerror(errno));
}

static pid_t spawn(const struct sup_opts *o, unsigned generation, const sigset_t *orig)
{
    pid_t parent = getpid(), pid;
    int slot = 0;

    /* The slot is chosen before fork: it is also the child's metrics slot. */
    while (slot < SUP_MAX_CHILDREN && children[slot].pid != 0)
        slot++;
    if (slot == SUP_MAX_CHILDREN) {
        log_error("fork_refused", "%d responders already running", SUP_MAX_CHILDREN);
        return -1;
    }
    pid = fork();
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
        setpriority(PRIO_PROCESS, 0, g_nice);
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = SIG_IGN; /* reload is the supervisor's business */
        sigaction(SIGHUP, &sa, NULL);
        sa.sa_handler = SIG_DFL;
        sigaction(SIGCHLD, &sa, NULL);
        sigprocmask(SIG_SETMASK, orig, NULL);
        log_set_component("responder");
        metrics_attach_slot(slot);
        rc = o->child_main(o->arg, o->listen_fd, &stop);
        _exit(rc);
    }
    children[slot].pid = pid;
    children[slot].generation = generation;
    children[slot].retiring = 0;
    children[slot].recent = 1; /* starting: not a candidate yet */
    children[slot].seen_requests = 0;
    if (slot >= nchildren)
        nchildren = slot + 1;
    metrics_slot_set(slot, (int)pid);
    return pid;
}

/* Responders of this generation that are staying (retiring ones are not). */
static int count_generation(unsigned generation)
{
    int n = 0;

    for (int i = 0; i < nchildren; i++)
        if (children[i].pid != 0 && children[i].generation == generation && !children[i].retiring)
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
    struct rusage ru;
    pid_t pid;

    while ((pid = wait4(-1, &status, WNOHANG, &ru)) > 0) {
        if (mon_reaped(pid, status))
            continue;
        for (int i = 0; i < nchildren; i++) {
            if (children[i].pid != pid)
                continue;
            metrics_slot_set(i, 0);
            metrics_add_retired_cpu_us((uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000u +
                                       (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec));
            if (stopping) {
                log_info("responder_stopped", "responder %d finished", (int)pid);
            } else if (children[i].retiring && WIFEXITED(status) && WEXITSTATUS(status) == 0) {
                log_debug("responder_retired", "idle responder %d finished", (int)pid);
            } else if (children[i].generation == generation) {
                died++;
                metrics_restart();
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
            children[i].retiring = 0;
        }
    }
    return died;
}

/* --- pool size ------------------------------------------------------------ */

/* Growth is decided every step: forked per step 1, 2, 4, ... while idle
 * responders stay short, up to SUP_SPAWN_RATE_MAX (as Apache prefork, but
 * in steps of 25 ms: a tool call waits for a responder, and a second-long
 * step would make a burst wait seconds). Retiring is slower and gentler. */
#define SUP_STEP_MS 25
#define SUP_SPAWN_RATE_MAX 64
/* Responders just forked look idle until they take their first connection:
 * the rate only slows down once the last ones had this long to do so. */
#define SUP_SETTLE_MS 250
#define SUP_RETIRE_STEP_MS 1000
#define SUP_RETIRE_RATE_MAX 32

struct pool_state {
    int spawn_rate;
    int64_t last_spawn;      /* when the pool last grew */
    int64_t surplus_since;   /* since when more than max_spare are idle; 0: not */
    int64_t next_step;
    int64_t next_retire;
};

void sup_pool_normalize(struct sup_pool *p)
{
    if (p->workers < 1)
        p->workers = 1;
    if (p->max_workers == 0)
        p->max_workers = p->workers;
    /* Two generations share the slots during a reload. */
    if (p->max_workers > SUP_MAX_CHILDREN / 2) {
        log_warn("pool_max", "max_workers %d is above %d; using %d", p->max_workers,
                 SUP_MAX_CHILDREN / 2, SUP_MAX_CHILDREN / 2);
        p->max_workers = SUP_MAX_CHILDREN / 2;
    }
    if (p->max_workers < p->workers) {
        log_warn("pool_max", "max_workers %d is below workers %d; the pool stays at %d",
                 p->max_workers, p->workers, p->workers);
        p->max_workers = p->workers;
    }
    if (p->min_spare < 1)
        p->min_spare = 1;
    if (p->max_spare <= p->min_spare) {
        log_warn("pool_spare", "max_spare %d is not above min_spare %d; using %d", p->max_spare,
                 p->min_spare, p->min_spare + 1);
        p->max_spare = p->min_spare + 1;
    }
    if (p->idle_timeout < 1)
        p->idle_timeout = 1;
}

/* Staying responders of this generation and how many are idle; notes which
 * began a request since the last look (busy between two looks). */
static void pool_census(unsigned generation, int *active, int *idle)
{
    *active = *idle = 0;
    for (int i = 0; i < nchildren; i++) {
        unsigned requests;
        int busy;

        if (children[i].pid == 0 || children[i].generation != generation || children[i].retiring)
            continue;
        busy = metrics_slot_activity(i, &requests);
        (*active)++;
        children[i].recent = busy || requests != children[i].seen_requests;
        children[i].seen_requests = requests;
        if (!busy)
            (*idle)++;
    }
}

static void pool_grow(const struct sup_opts *o, const struct sup_pool *p, unsigned generation,
                      const sigset_t *orig, struct pool_state *st, int active, int idle)
{
    int want, started = 0;
    int64_t t0 = gw_monotonic_ms();

    if (active >= p->max_workers)
        return;
    want = st->spawn_rate;
    if (want > p->max_workers - active)
        want = p->max_workers - active;
    while (started < want && spawn(o, generation, orig) > 0)
        started++;
    st->last_spawn = gw_monotonic_ms();
    if (started > 0)
        log_info("pool_grew", "responders: %d -> %d (%d busy, %d idle, at most %d; forked in %d ms)",
                 active, active + started, active - idle, idle, p->max_workers,
                 (int)(gw_monotonic_ms() - t0));
    if (active + started >= p->max_workers && started > 0)
        log_warn("pool_full", "all %d responders may be busy: requests wait in the listen queue",
                 p->max_workers);
    if (st->spawn_rate < SUP_SPAWN_RATE_MAX)
        st->spawn_rate *= 2;
}

/* Ask idle extras to leave: SIGTERM is handled between requests, so one that
 * took a request since it was looked at finishes it first. Which responder
 * has been idle longest says little (the kernel hands connections to
 * whichever responders wait in accept(), so light traffic touches each of
 * them now and then): as Apache does, the pool's idle count decides. Once it
 * has had more idle than max_spare for idle_timeout seconds, it retires those
 * idle now, highest slots first. */
static void pool_shrink(const struct sup_pool *p, unsigned generation, int64_t now,
                        struct pool_state *st, int active, int idle)
{
    int limit = idle - p->max_spare, retired = 0;

    if (now < st->next_retire)
        return;
    st->next_retire = now + SUP_RETIRE_STEP_MS;
    if (limit > active - p->workers)
        limit = active - p->workers;
    if (limit > SUP_RETIRE_RATE_MAX)
        limit = SUP_RETIRE_RATE_MAX;
    for (int i = nchildren - 1; i >= 0 && retired < limit; i--) {
        unsigned requests;

        if (children[i].pid == 0 || children[i].generation != generation || children[i].retiring)
            continue;
        if (children[i].recent || metrics_slot_activity(i, &requests) ||
            requests != children[i].seen_requests)
            continue;
        if (kill(children[i].pid, SIGTERM) != 0)
            continue;
        children[i].retiring = 1;
        retired++;
    }
    if (retired > 0)
        log_info("pool_shrank", "responders: %d -> %d (more than %d idle for %d s; %d retired)",
                 active, active - retired, p->max_spare, p->idle_timeout, retired);
}

static void pool_maintain(const struct sup_opts *o, const struct sup_pool *p, unsigned generation,
                          const sigset_t *orig, struct pool_state *st, int64_t now)
{
    int active, idle;

    if (p->max_workers <= p->workers || now < st->next_step)
        return;
    st->next_step = now + SUP_STEP_MS;
    pool_census(generation, &active, &idle);
    if (idle < p->min_spare)
        pool_grow(o, p, generation, orig, st, active, idle);
    else if (st->spawn_rate > 1 && now - st->last_spawn >= SUP_SETTLE_MS)
        st->spawn_rate /= 2; /* slow down gently: bursts often come in waves */
    if (idle <= p->max_spare || active <= p->workers) {
        st->surplus_since = 0;
        return;
    }
    if (st->surplus_since == 0)
        st->surplus_since = now;
    if (now - st->surplus_since >= (int64_t)p->idle_timeout * 1000)
        pool_shrink(p, generation, now, st, active, idle);
}

/* More exits than this per responder within one second is a crash loop. */
#define SUP_CRASH_EXITS_PER_WORKER 4
#define SUP_CRASH_WINDOW_MS 1000
#define SUP_CRASH_PAUSE_MS 1000

int sup_run(const struct sup_opts *o)
{
    sigset_t set, orig;
    unsigned generation = 1;
    struct sup_pool pool = o->pool;
    struct pool_state pst = { 1, 0, 0, 0, 0 };
    int stopping = 0;
    int64_t stop_deadline = 0, window_start = gw_monotonic_ms(), paused_until = 0;
    int exits_in_window = 0;

    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigprocmask(SIG_BLOCK, &set, &orig);
    signal(SIGPIPE, SIG_IGN);
    /* Before the first fork, so that every responder counts into it. */
    if (metrics_init_shared() != 0)
        log_warn("metrics_private", "cannot map the metrics segment (%s); each responder "
                 "will report only itself", strerror(errno));

    sup_pool_normalize(&pool);
    metrics_set_pool_max(pool.max_workers);
    if (pool.max_workers > pool.workers)
        raise_priority();
    for (int i = 0; i < pool.workers; i++)
        spawn(o, generation, &orig);
    mon_init(o->monitor_main, o->arg, &orig);
    mon_tick(gw_monotonic_ms());
    if (pool.max_workers > pool.workers)
        log_info("supervisor_started", "supervisor %d started %d responders (growing up to %d, "
                 "%d to %d idle)", (int)getpid(), pool.workers, pool.max_workers, pool.min_spare,
                 pool.max_spare);
    else
        log_info("supervisor_started", "supervisor %d started %d responders", (int)getpid(),
                 pool.workers);

    for (;;) {
        /* Short while the pool is growing, so that each step comes on time. */
        struct timespec tick = { 0, (pst.spawn_rate > 1 ? SUP_STEP_MS : 100) * 1000 * 1000 };
        int sig = sigtimedwait(&set, NULL, &tick);
        int64_t now = gw_monotonic_ms();

        if (sig == SIGTERM || sig == SIGINT) {
            if (!stopping) {
                stopping = 1;
                stop_deadline = now + (int64_t)pool.drain_timeout * 1000;
                log_info("supervisor_draining", "draining %d responders (up to %d s)",
                         count_all(), pool.drain_timeout);
                signal_all(SIGTERM, 0, 0);
                mon_stop(SIGTERM);
            }
        } else if (sig == SIGHUP && !stopping) {
            struct sup_pool fresh = pool;

            if (o->reload != NULL && o->reload(o->arg, &fresh) != 0) {
                log_error("reload_failed", "configuration not reloaded; responders keep the old one");
            } else {
                /* New responders accept on the same socket before the old ones
                 * leave, so no connection finds nobody listening. */
                generation++;
                metrics_set_generation(generation);
                sup_pool_normalize(&fresh);
                if (fresh.workers != pool.workers)
                    log_info("supervisor_workers", "responders: %d -> %d", pool.workers,
                             fresh.workers);
                if (fresh.max_workers != pool.max_workers)
                    log_info("supervisor_max_workers", "most responders: %d -> %d",
                             pool.max_workers, fresh.max_workers);
                pool = fresh;
                pst.spawn_rate = 1;
                metrics_set_pool_max(pool.max_workers);
                for (int i = 0; i < pool.workers; i++)
                    spawn(o, generation, &orig);
                signal_all(SIGTERM, 1, generation);
                mon_replace();
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
            if (count_all() == 0 && !mon_running())
                break;
            if (now >= stop_deadline) {
                log_warn("supervisor_kill", "%d responders still busy after %d s; killing",
                         count_all(), pool.drain_timeout);
                signal_all(SIGKILL, 0, 0);
                mon_stop(SIGKILL);
                stop_deadline = now + 5000;
            }
            continue;
        }
        mon_tick(now);
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
        if (exits_in_window > pool.workers * SUP_CRASH_EXITS_PER_WORKER) {
            paused_until = now + SUP_CRASH_PAUSE_MS;
            log_error("crash_loop",
                      "responders are crashing in a loop: %d exits in %d ms; pausing respawn for %d ms",
                      exits_in_window, (int)(now - window_start), SUP_CRASH_PAUSE_MS);
            continue;
        }
        while (count_generation(generation) < pool.workers) {
            pid_t pid = spawn(o, generation, &orig);

            if (pid < 0)
                break;
            log_info("responder_respawned", "responder %d started in place of one that exited",
                     (int)pid);
        }
        pool_maintain(o, &pool, generation, &orig, &pst, now);
    }
    log_info("supervisor_stopped", "all responders finished");
    sigprocmask(SIG_SETMASK, &orig, NULL);
    return 0;
}
