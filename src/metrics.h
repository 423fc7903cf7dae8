/* Per-host metrics: lock-free counters in one shared memory segment that the
 * supervisor maps before it forks, rendered as Prometheus text by /metrics. */
#ifndef GW_METRICS_H
#define GW_METRICS_H

#include <stddef.h>
#include <stdint.h>

/* Responder slots (one per live responder: pid, busy flag). */
#define METRICS_SLOTS 1024
/* Routes counted separately; later ones share the "other" route label. */
#define METRICS_ROUTES 128
/* Distinct named series (metrics_count_named / _labeled) per host. */
#define METRICS_NAMED 128

/* Map the host-wide segment (supervisor, before the first fork): every
 * process forked afterwards counts into it. 0, or -1 with errno set. */
int metrics_init_shared(void);
/* In a forked responder: this process's slot (busy flag, pid). */
void metrics_attach_slot(int slot);
/* Supervisor bookkeeping. pid 0 frees the slot. */
void metrics_slot_set(int slot, int pid);
/* Most responders the supervisor may run (fastcgi.max_workers). */
void metrics_set_pool_max(int n);
/* Supervisor: is the responder in this slot in a request (1) or not (0);
 * *requests counts the requests it began, so that a responder busy between
 * two looks is not taken for an idle one. */
int metrics_slot_activity(int slot, unsigned *requests);
void metrics_restart(void);                 /* a responder died unexpectedly */
void metrics_set_generation(unsigned generation);
/* The monitor's view of the tool-call audit spool (records not yet in
 * audit_log, age of the oldest in ms), rendered once it has reported. */
void metrics_audit_spool(int64_t length, int64_t oldest_age_ms);
/* CPU time of a reaped responder, so that the CPU counter never goes back. */
void metrics_add_retired_cpu_us(uint64_t us);
/* "host" when a supervisor shares the segment, "process" otherwise
 * (spawn-fcgi, mod_fcgid, CGI: each process reports only itself). */
const char *metrics_scope(void);

/* The request path. route: index in the router table, -1 when none
 * matched. plane: enum gw_plane value. */
void metrics_busy(int busy);
/* A long stream (GET /mcp) may hold at most half of the host's responders
 * (of the live pool, or of the most it may grow to when that is more), so
 * that streams alone never take every responder. 1: this responder holds
 * a place until metrics_stream_end (or its death); 0: none is free. */
int metrics_stream_begin(void);
void metrics_stream_end(void);
void metrics_request(int plane, int route, int status, int64_t duration_us);
/* Event counters by name ("jwks_fetch_total"), optionally with one label
 * (name{label="value"}); names and values are [a-z0-9_]. Bounded: a series
 * past METRICS_NAMED is counted in mcpgw_metrics_series_dropped_total. */
void metrics_count_named(const char *name);
void metrics_count_labeled(const char *name, const char *label, const char *value);

/* Label texts the renderer needs but this module does not own. */
struct metrics_labels {
    const char *(*route_name)(int route, void *arg); /* NULL past the end */
    const char *(*plane_name)(int plane);
    const char *version;
    void *arg;
};

/* Prometheus text format 0.0.4, every series with HELP and TYPE. emit gets
 * whole lines; it returns -1 to stop (client gone). 0, or -1. */
int metrics_render(const struct metrics_labels *l, int (*emit)(const char *s, size_t n, void *arg),
                   void *arg);
/* Current value of a named series (tests, health). */
uint64_t metrics_named_value(const char *series);

#endif
