/* The fleet leader: of all the monitors of all `serve` processes, the one
 * holding a Redis lease (with a fencing token) runs the periodic jobs. */
#ifndef GW_LEADER_H
#define GW_LEADER_H

#include <signal.h>
#include <stddef.h>
#include <libpq-fe.h>

struct gw_app;
struct leader;

/* What a job gets: the leadership it runs under. */
struct leader_run {
    struct leader *leader;
    struct gw_app *app;
    const char *holder;              /* this monitor's lease holder id */
    long long token;                 /* its fencing token */
    volatile sig_atomic_t *stop;
};

/* holder names this monitor in the lease and in every job run. NULL on no memory. */
struct leader *leader_new(struct gw_app *app, const char *holder);
/* Renew or try to take the lease when due; while leading, run every job
 * whose period has come (each at most once per period fleet-wide). Cheap when
 * nothing is due: call it often (at least every lease_ttl_ms / 3). */
void leader_tick(struct leader *l, volatile sig_atomic_t *stop);
/* 1 while this monitor believes it leads. */
int leader_leading(const struct leader *l);
/* Give the lease back when held (a stopping monitor hands over at once). */
void leader_free(struct leader *l);

/* Inside the caller's open transaction on c: raise the fence to token, or
 * fail when a newer leader has written (its token is higher). 1 fenced in,
 * 0 fenced out, -1 with err on a database error. Every write a job makes
 * goes through this first. */
int leader_fence(PGconn *c, long long token, const char *holder, char *err, size_t n);
/* Between a job's steps: renew the lease when due; 1 while this run's
 * leadership (its token) still holds, 0 once it is lost. */
int leader_keep(const struct leader_run *run);

#endif
