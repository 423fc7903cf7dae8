/* The monitor child of the supervisor: one process next to the responders for
 * background work, restarted with a growing pause when it keeps dying. */
#ifndef GW_FCGI_MONITOR_H
#define GW_FCGI_MONITOR_H

#include <signal.h>
#include <stdint.h>
#include <sys/types.h>

typedef int (*mon_main_fn)(void *arg, volatile sig_atomic_t *stop);

/* fn NULL: no monitor. orig is the signal mask the child restores. */
void mon_init(mon_main_fn fn, void *arg, const sigset_t *orig);
/* Start it when it is missing and no pause is running. */
void mon_tick(int64_t now_ms);
/* 1 when pid was the monitor (the exit is logged and a restart planned). */
int mon_reaped(pid_t pid, int status);
/* A new configuration: stop the running monitor; its successor starts at once. */
void mon_replace(void);
/* Stopping for good: signal it and start no other. */
void mon_stop(int sig);
int mon_running(void);

#endif
