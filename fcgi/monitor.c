/* The monitor child of serve: forked next to the responders, with the same
 * parent-death signal and privilege drop (done by its main function), started
 * again when it dies, after a pause that doubles while it keeps dying young. */
#include "monitor.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include "log.h"
#include "responder.h"
#include "util.h"

/* A monitor that lived this long was not crash-looping. */
#define MON_HEALTHY_MS 10000
#define MON_PAUSE_MIN_MS 100
#define MON_PAUSE_MAX_MS 10000

static struct {
    mon_main_fn fn;
    void *arg;
    sigset_t orig;
    pid_t pid;
    int64_t started_ms, start_at_ms;
    int pause_ms;
    int stopping;
    int replacing;
} mon;

void mon_init(mon_main_fn fn, void *arg, const sigset_t *orig)
{
    memset(&mon, 0, sizeof(mon));
    mon.fn = fn;
    mon.arg = arg;
    mon.orig = *orig;
}

static void spawn(int64_t now)
{
    pid_t parent = getpid(), pid = fork();

    if (pid < 0) {
        log_error("monitor_fork_failed", "cannot fork the monitor: %s", strerror(errno));
        mon.start_at_ms = now + MON_PAUSE_MAX_MS;
        return;
    }
    if (pid == 0) {
        static volatile sig_atomic_t stop;
        struct sigaction sa;

        if (responder_exit_with_parent(parent) != 0)
            _exit(0);
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = SIG_IGN; /* reload is the supervisor's business */
        sigaction(SIGHUP, &sa, NULL);
        sa.sa_handler = SIG_DFL;
        sigaction(SIGCHLD, &sa, NULL);
        sigprocmask(SIG_SETMASK, &mon.orig, NULL);
        log_set_component("monitor");
        /* ps and pgrep tell it from the responders by this name. */
        prctl(PR_SET_NAME, "mcpgw-monitor");
        responder_signals(&stop);
        _exit(mon.fn(mon.arg, &stop));
    }
    mon.pid = pid;
    mon.started_ms = now;
}

void mon_tick(int64_t now_ms)
{
    if (mon.fn == NULL || mon.stopping || mon.pid != 0 || now_ms < mon.start_at_ms)
        return;
    spawn(now_ms);
}

int mon_reaped(pid_t pid, int status)
{
    int64_t now = gw_monotonic_ms();

    if (pid == 0 || pid != mon.pid)
        return 0;
    mon.pid = 0;
    if (mon.stopping) {
        log_info("monitor_stopped", "monitor %d finished", (int)pid);
        return 1;
    }
    if (mon.replacing) {
        mon.replacing = 0;
        mon.start_at_ms = now;
        log_info("monitor_replaced", "monitor %d finished; its successor uses the new configuration",
                 (int)pid);
        return 1;
    }
    if (now - mon.started_ms >= MON_HEALTHY_MS)
        mon.pause_ms = 0;
    mon.pause_ms = mon.pause_ms == 0 ? MON_PAUSE_MIN_MS
                 : mon.pause_ms * 2 > MON_PAUSE_MAX_MS ? MON_PAUSE_MAX_MS : mon.pause_ms * 2;
    mon.start_at_ms = now + mon.pause_ms;
    if (WIFSIGNALED(status))
        log_warn("monitor_died", "monitor %d killed by signal %d; restarting in %d ms", (int)pid,
                 WTERMSIG(status), mon.pause_ms);
    else
        log_warn("monitor_exited", "monitor %d exited with status %d; restarting in %d ms", (int)pid,
                 WEXITSTATUS(status), mon.pause_ms);
    return 1;
}

void mon_replace(void)
{
    if (mon.pid == 0)
        return;
    kill(mon.pid, SIGTERM);
    mon.replacing = 1;
}

void mon_stop(int sig)
{
    mon.stopping = 1;
    if (mon.pid != 0)
        kill(mon.pid, sig);
}

int mon_running(void)
{
    return mon.pid != 0;
}
