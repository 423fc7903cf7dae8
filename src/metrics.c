/* Per-host metrics: one fixed-size segment of C11 atomic counters, mapped by
 * the supervisor before it forks so that every responder of the host adds to it.
 *
 * Why shared memory and not Redis: a scrape of N hosts must sum to the fleet
 * (each host reports itself, nothing is counted twice), counting must cost
 * the request path nanoseconds, and /metrics must answer with Redis down.
 * Without a supervisor (spawn-fcgi, mod_fcgid, CGI) the segment is private to
 * the process and /metrics reports that process alone (scope "process"). */
#include "metrics.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>

#include "util.h"

#define PLANES 4                        /* enum gw_plane: none, api, mcp, both */
#define ROUTE_UNMATCHED METRICS_ROUTES
#define ROUTE_OTHER (METRICS_ROUTES + 1)
#define ROUTE_ROWS (METRICS_ROUTES + 2)
#define SERIES_MAX 96

/* Statuses counted by their own label; anything else is "other". */
static const int status_codes[] = { 200, 201, 202, 204, 301, 302, 304, 400, 401, 403, 404, 405,
                                    406, 409, 410, 412, 413, 414, 415, 422, 428, 429, 431, 500,
                                    501, 502, 503, 504 };
#define NSTATUS (GW_ARRAY_LEN(status_codes) + 1)

/* Latency bucket upper bounds, microseconds, and the same in seconds. */
static const uint64_t bucket_us[] = { 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000,
                                      500000, 1000000, 2500000, 5000000, 10000000, 30000000 };
static const char *const bucket_le[] = { "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05",
                                         "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "30" };
#define NBUCKETS GW_ARRAY_LEN(bucket_us)

/* One cache line each: responders flip their own busy flag on every request
 * and must not slow their neighbours down. */
struct slot {
    _Alignas(64) atomic_int pid;
    atomic_int busy;
    atomic_int streaming; /* holds one of the host's stream places */
    atomic_uint requests; /* requests begun: the supervisor's sign of activity */
};

struct hist {
    atomic_uint_fast64_t bucket[NBUCKETS + 1]; /* last one is +Inf only */
    atomic_uint_fast64_t sum_us;
    atomic_uint_fast64_t count;
};

enum { NAMED_FREE = 0, NAMED_CLAIMING, NAMED_READY };

struct named {
    atomic_int state;
    char series[SERIES_MAX];
    atomic_uint_fast64_t value;
};

struct segment {
    atomic_int supervisor_pid;              /* 0 without a supervisor */
    atomic_uint generation;
    atomic_uint_fast64_t restarts;
    atomic_uint_fast64_t retired_cpu_us;
    atomic_uint_fast64_t cpu_rendered_us;  /* highest responder CPU rendered so far */
    atomic_uint_fast64_t dropped;
    atomic_int streams;                     /* responders holding a long stream */
    atomic_int pool_max;                    /* most responders the supervisor may run */
    atomic_int spool_seen;                  /* the monitor has reported the audit spool */
    atomic_int_fast64_t spool_length, spool_age_ms;
    struct slot slots[METRICS_SLOTS];
    atomic_uint_fast64_t requests[PLANES][ROUTE_ROWS][NSTATUS];
    struct hist latency[PLANES][ROUTE_ROWS];
    struct named named[METRICS_NAMED];
};

static struct segment *g_seg;
static int g_slot;

static struct segment *map_segment(void)
{
    void *p = mmap(NULL, sizeof(struct segment), PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);

    return p == MAP_FAILED ? NULL : p;   /* anonymous memory comes zeroed */
}

int metrics_init_shared(void)
{
    struct segment *s = map_segment();

    if (s == NULL)
        return -1;
    if (g_seg != NULL)
        munmap(g_seg, sizeof(*g_seg));
    g_seg = s;
    atomic_store(&s->supervisor_pid, (int)getpid());
    atomic_store(&s->generation, 1);
    g_slot = -1;   /* the supervisor serves no request */
    return 0;
}

/* First use without a supervisor: a segment of this process alone. */
static struct segment *seg(void)
{
    if (g_seg == NULL) {
        g_seg = map_segment();
        if (g_seg == NULL)
            abort(); /* a few hundred KiB at start-up: nothing sensible to do */
        g_slot = 0;
        atomic_store(&g_seg->slots[0].pid, (int)getpid());
        atomic_store(&g_seg->generation, 1);
    }
    return g_seg;
}

const char *metrics_scope(void)
{
    return atomic_load(&seg()->supervisor_pid) != 0 ? "host" : "process";
}

void metrics_attach_slot(int slot)
{
    g_slot = slot >= 0 && slot < METRICS_SLOTS ? slot : -1;
}

void metrics_slot_set(int slot, int pid)
{
    if (slot < 0 || slot >= METRICS_SLOTS)
        return;
    /* The busy flag is cleared when a responder leaves, never when one
     * arrives: the child may already be in its first request by the time
     * the supervisor records its pid. */
    if (pid == 0) {
        atomic_store(&seg()->slots[slot].busy, 0);
        /* A responder that died in a stream gives its place back. */
        if (atomic_exchange(&seg()->slots[slot].streaming, 0) != 0)
            atomic_fetch_sub(&seg()->streams, 1);
        atomic_store(&seg()->slots[slot].requests, 0);
    }
    atomic_store(&seg()->slots[slot].pid, pid);
}

void metrics_set_pool_max(int n)
{
    atomic_store(&seg()->pool_max, n);
}

int metrics_slot_activity(int slot, unsigned *requests)
{
    struct segment *s = seg();

    if (slot < 0 || slot >= METRICS_SLOTS) {
        *requests = 0;
        return 0;
    }
    *requests = atomic_load_explicit(&s->slots[slot].requests, memory_order_relaxed);
    return atomic_load_explicit(&s->slots[slot].busy, memory_order_relaxed);
}

int metrics_stream_begin(void)
{
    struct segment *s = seg();
    int live = 0, max;

    /* Without a supervisor (spawn-fcgi, mod_fcgid, CGI) the other processes
     * of the host are not known here. */
    if (atomic_load(&s->supervisor_pid) == 0 || g_slot < 0)
        return 1;
    for (int i = 0; i < METRICS_SLOTS; i++)
        live += atomic_load_explicit(&s->slots[i].pid, memory_order_relaxed) != 0;
    /* A pool that may grow counts with the size it may reach: a stream held
     * now makes room for itself by making the pool grow. */
    max = atomic_load_explicit(&s->pool_max, memory_order_relaxed);
    if (max > live)
        live = max;
    if (atomic_fetch_add(&s->streams, 1) + 1 > live / 2) {
        atomic_fetch_sub(&s->streams, 1);
        return 0;
    }
    atomic_store(&s->slots[g_slot].streaming, 1);
    return 1;
}

void metrics_stream_end(void)
{
    struct segment *s = seg();

    if (g_slot >= 0 && atomic_exchange(&s->slots[g_slot].streaming, 0) != 0)
        atomic_fetch_sub(&s->streams, 1);
}

void metrics_restart(void)
{
    atomic_fetch_add_explicit(&seg()->restarts, 1, memory_order_relaxed);
}

void metrics_audit_spool(int64_t length, int64_t oldest_age_ms)
{
    struct segment *s = seg();

    atomic_store(&s->spool_length, length);
    atomic_store(&s->spool_age_ms, oldest_age_ms);
    atomic_store(&s->spool_seen, 1);
}

void metrics_set_generation(unsigned generation)
{
    atomic_store(&seg()->generation, generation);
}

void metrics_add_retired_cpu_us(uint64_t us)
{
    atomic_fetch_add_explicit(&seg()->retired_cpu_us, us, memory_order_relaxed);
}

void metrics_busy(int busy)
{
    struct segment *s = seg();

    if (g_slot < 0)
        return;
    if (busy)
        atomic_fetch_add_explicit(&s->slots[g_slot].requests, 1, memory_order_relaxed);
    atomic_store_explicit(&s->slots[g_slot].busy, busy ? 1 : 0, memory_order_relaxed);
}

static size_t status_index(int status)
{
    for (size_t i = 0; i < GW_ARRAY_LEN(status_codes); i++)
        if (status_codes[i] == status)
            return i;
    return NSTATUS - 1;
}

void metrics_request(int plane, int route, int status, int64_t duration_us)
{
    struct segment *s = seg();
    struct hist *h;
    uint64_t us = duration_us > 0 ? (uint64_t)duration_us : 0;
    size_t b = 0;
    int row = route < 0 ? ROUTE_UNMATCHED : route >= METRICS_ROUTES ? ROUTE_OTHER : route;

    if (plane < 0 || plane >= PLANES)
        plane = 0;
    atomic_fetch_add_explicit(&s->requests[plane][row][status_index(status)], 1,
                              memory_order_relaxed);
    while (b < NBUCKETS && us > bucket_us[b])
        b++;
    h = &s->latency[plane][row];
    atomic_fetch_add_explicit(&h->bucket[b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum_us, us, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
}

static int name_ok(const char *s)
{
    if (s == NULL || *s == '\0')
        return 0;
    for (; *s != '\0'; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_'))
            return 0;
    return 1;
}

/* Find the series, or claim the first free entry for it. Entries are claimed
 * in order and a claimer looks at every earlier entry once it is ready, so
 * two processes counting a new series at once never create it twice. */
static struct named *named_find(struct segment *s, const char *series, int create)
{
    for (int i = 0; i < METRICS_NAMED; i++) {
        struct named *e = &s->named[i];
        int st = atomic_load_explicit(&e->state, memory_order_acquire);
        long spins = 0;

        /* A claim takes a few stores; a process killed in the middle of one
         * must not hang the others, hence the bound. */
        while (st == NAMED_CLAIMING && spins++ < 1000000)
            st = atomic_load_explicit(&e->state, memory_order_acquire);
        if (st == NAMED_READY) {
            if (strcmp(e->series, series) == 0)
                return e;
            continue;
        }
        if (st != NAMED_FREE || !create)
            continue;
        if (atomic_compare_exchange_strong(&e->state, &st, NAMED_CLAIMING)) {
            gw_strlcpy(e->series, series, sizeof(e->series));
            atomic_store_explicit(&e->state, NAMED_READY, memory_order_release);
            return e;
        }
        i--; /* lost the race for this entry: look at it again */
    }
    return NULL;
}

/* Does series read name{label="value"} (or name when label is NULL)? */
static int series_is(const char *series, const char *name, const char *label, const char *value)
{
    size_t n = strlen(name);

    if (strncmp(series, name, n) != 0)
        return 0;
    series += n;
    if (label == NULL)
        return *series == '\0';
    n = strlen(label);
    if (*series++ != '{' || strncmp(series, label, n) != 0)
        return 0;
    series += n;
    if (strncmp(series, "=\"", 2) != 0)
        return 0;
    series += 2;
    n = strlen(value);
    return strncmp(series, value, n) == 0 && strcmp(series + n, "\"}") == 0;
}

/* A per-process cache from the hash of (name, label, value) to the entry,
 * so that a repeated event costs a hash and a compare, not a scan. Entries
 * never move or disappear once ready, so a cached pointer stays valid. */
#define CACHE_SLOTS 64
static struct {
    uint64_t hash;
    struct named *e;
} g_cache[CACHE_SLOTS];
static struct segment *g_cache_seg;

static uint64_t fnv(uint64_t h, const char *s)
{
    for (; s != NULL && *s != '\0'; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return (h ^ 0xff) * 1099511628211ULL;
}

static void named_add(const char *name, const char *label, const char *value)
{
    struct segment *s = seg();
    uint64_t h = fnv(fnv(fnv(14695981039346656037ULL, name), label), value);
    size_t slot = (size_t)(h % CACHE_SLOTS);
    char series[SERIES_MAX];
    struct named *e = NULL;

    if (g_cache_seg != s) {   /* a new segment (init after first use) */
        memset(g_cache, 0, sizeof(g_cache));
        g_cache_seg = s;
    }
    if (g_cache[slot].e != NULL && g_cache[slot].hash == h &&
        series_is(g_cache[slot].e->series, name, label, value)) {
        e = g_cache[slot].e;
    } else if (!name_ok(name) || (label != NULL && (!name_ok(label) || !name_ok(value))) ||
               (label == NULL ? gw_strlcpy(series, name, sizeof(series))
                              : gw_snprintf(series, sizeof(series), "%s{%s=\"%s\"}", name, label,
                                            value)) != 0) {
        e = NULL;
    } else if ((e = named_find(s, series, 1)) != NULL) {
        g_cache[slot].hash = h;
        g_cache[slot].e = e;
    }
    if (e != NULL)
        atomic_fetch_add_explicit(&e->value, 1, memory_order_relaxed);
    else
        atomic_fetch_add_explicit(&s->dropped, 1, memory_order_relaxed);
}

void metrics_count_named(const char *name)
{
    named_add(name, NULL, NULL);
}

void metrics_count_labeled(const char *name, const char *label, const char *value)
{
    named_add(name, label, value);
}

uint64_t metrics_named_value(const char *series)
{
    struct named *e = named_find(seg(), series, 0);

    return e != NULL ? atomic_load(&e->value) : 0;
}

/* ---- rendering ------------------------------------------------------------ */

struct out {
    int (*emit)(const char *s, size_t n, void *arg);
    void *arg;
    int failed;
};

static void outf(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void outf(struct out *o, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    int n;

    if (o->failed)
        return;
    va_start(ap, fmt);
    n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(line))
        return; /* label values are bounded well below this */
    if (o->emit(line, (size_t)n, o->arg) != 0)
        o->failed = 1;
}

static void family(struct out *o, const char *name, const char *type, const char *help)
{
    outf(o, "# HELP mcpgw_%s %s\n# TYPE mcpgw_%s %s\n", name, help, name, type);
}

static const char *route_label(const struct metrics_labels *l, int row)
{
    if (row == ROUTE_UNMATCHED)
        return "unmatched";
    if (row == ROUTE_OTHER)
        return "other";
    return l->route_name(row, l->arg);
}

static void render_requests(struct out *o, const struct segment *s, const struct metrics_labels *l)
{
    char st[8];

    family(o, "http_requests_total", "counter",
           "Requests answered by this host, by plane, route pattern and status.");
    for (int p = 0; p < PLANES; p++)
        for (int r = 0; r < ROUTE_ROWS; r++)
            for (size_t k = 0; k < NSTATUS; k++) {
                uint64_t v = atomic_load_explicit(&s->requests[p][r][k], memory_order_relaxed);
                const char *route;

                if (v == 0 || (route = route_label(l, r)) == NULL)
                    continue;
                if (k < NSTATUS - 1)
                    snprintf(st, sizeof(st), "%d", status_codes[k]);
                else
                    snprintf(st, sizeof(st), "other");
                outf(o, "mcpgw_http_requests_total{plane=\"%s\",route=\"%s\",status=\"%s\"} %llu\n",
                     l->plane_name(p), route, st, (unsigned long long)v);
            }
}

static void render_latency(struct out *o, const struct segment *s, const struct metrics_labels *l)
{
    family(o, "http_request_duration_seconds", "histogram",
           "Time from request start to the end of the answer, by plane and route pattern.");
    for (int p = 0; p < PLANES; p++)
        for (int r = 0; r < ROUTE_ROWS; r++) {
            const struct hist *h = &s->latency[p][r];
            uint64_t count = atomic_load_explicit(&h->count, memory_order_relaxed), cum = 0;
            const char *route, *plane = l->plane_name(p);

            if (count == 0 || (route = route_label(l, r)) == NULL)
                continue;
            for (size_t b = 0; b < NBUCKETS; b++) {
                cum += atomic_load_explicit(&h->bucket[b], memory_order_relaxed);
                outf(o, "mcpgw_http_request_duration_seconds_bucket{plane=\"%s\",route=\"%s\","
                        "le=\"%s\"} %llu\n", plane, route, bucket_le[b], (unsigned long long)cum);
            }
            /* Counters move while we read: +Inf and _count come from one
             * value so that the histogram stays consistent. */
            cum += atomic_load_explicit(&h->bucket[NBUCKETS], memory_order_relaxed);
            outf(o, "mcpgw_http_request_duration_seconds_bucket{plane=\"%s\",route=\"%s\","
                    "le=\"+Inf\"} %llu\n", plane, route, (unsigned long long)cum);
            outf(o, "mcpgw_http_request_duration_seconds_sum{plane=\"%s\",route=\"%s\"} %.6f\n",
                 plane, route, (double)atomic_load(&h->sum_us) / 1e6);
            outf(o, "mcpgw_http_request_duration_seconds_count{plane=\"%s\",route=\"%s\"} %llu\n",
                 plane, route, (unsigned long long)cum);
        }
}

/* CPU (utime+stime, microseconds) and resident bytes of a process from
 * /proc; 0, or -1 when it is gone. */
static int proc_usage(int pid, uint64_t *cpu_us, uint64_t *rss)
{
    char path[64], buf[1024], *p;
    unsigned long long ut = 0, st = 0, pages = 0;
    long tck = sysconf(_SC_CLK_TCK), psz = sysconf(_SC_PAGESIZE);
    FILE *f;
    size_t n;

    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    if ((f = fopen(path, "r")) == NULL)
        return -1;
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* Fields after the command name, which may itself hold spaces and ')'. */
    if ((p = strrchr(buf, ')')) == NULL ||
        sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return -1;
    snprintf(path, sizeof(path), "/proc/%d/statm", pid);
    if ((f = fopen(path, "r")) == NULL)
        return -1;
    if (fscanf(f, "%*u %llu", &pages) != 1)
        pages = 0;
    fclose(f);
    *cpu_us = tck > 0 ? (ut + st) * 1000000ULL / (unsigned long long)tck : 0;
    *rss = pages * (unsigned long long)(psz > 0 ? psz : 4096);
    return 0;
}

static void render_processes(struct out *o, struct segment *s)
{
    uint64_t sup_cpu = 0, sup_rss = 0, cpu, rss;
    uint64_t resp_cpu = atomic_load(&s->retired_cpu_us), resp_rss = 0;
    int alive = 0, busy = 0, sup = atomic_load(&s->supervisor_pid);

    for (int i = 0; i < METRICS_SLOTS; i++) {
        int pid = atomic_load_explicit(&s->slots[i].pid, memory_order_relaxed);

        if (pid == 0)
            continue;
        alive++;
        busy += atomic_load_explicit(&s->slots[i].busy, memory_order_relaxed) != 0;
        if (proc_usage(pid, &cpu, &rss) == 0) {
            resp_cpu += cpu;
            resp_rss += rss;
        }
    }
    /* /proc counts in clock ticks, wait4 in microseconds: at the moment a
     * responder moves from one sum to the other the total may dip by a tick,
     * which Prometheus would take for a counter reset. Never render less. */
    for (uint_fast64_t seen = atomic_load(&s->cpu_rendered_us); resp_cpu > seen;)
        if (atomic_compare_exchange_weak(&s->cpu_rendered_us, &seen, resp_cpu))
            break;
    if (resp_cpu < atomic_load(&s->cpu_rendered_us))
        resp_cpu = atomic_load(&s->cpu_rendered_us);
    family(o, "responders_alive", "gauge", "Responder processes running on this host.");
    outf(o, "mcpgw_responders_alive %d\n", alive);
    family(o, "responders_busy", "gauge", "Responders in the middle of a request.");
    outf(o, "mcpgw_responders_busy %d\n", busy);
    family(o, "responders_max", "gauge",
           "Most responders the supervisor may run on this host (fastcgi.max_workers); "
           "the pool grows towards it while responders are busy.");
    outf(o, "mcpgw_responders_max %d\n",
         atomic_load(&s->pool_max) > 0 ? atomic_load(&s->pool_max) : alive);
    family(o, "responder_restarts_total", "counter",
           "Responders that died unexpectedly and were replaced by the supervisor.");
    outf(o, "mcpgw_responder_restarts_total %llu\n",
         (unsigned long long)atomic_load(&s->restarts));
    family(o, "reload_generation", "gauge",
           "Configuration generation: 1 at start, one more on each successful SIGHUP reload.");
    outf(o, "mcpgw_reload_generation %u\n", atomic_load(&s->generation));
    if (atomic_load(&s->spool_seen)) {
        family(o, "audit_spool_length", "gauge",
               "Tool-call audit records in the Redis spool, not yet written to audit_log.");
        outf(o, "mcpgw_audit_spool_length %lld\n", (long long)atomic_load(&s->spool_length));
        family(o, "audit_spool_oldest_age_seconds", "gauge",
               "Age of the oldest record in the tool-call audit spool.");
        outf(o, "mcpgw_audit_spool_oldest_age_seconds %.3f\n",
             (double)atomic_load(&s->spool_age_ms) / 1000.0);
    }
    family(o, "process_cpu_seconds_total", "counter",
           "User and system CPU time of the gateway's processes on this host, by role.");
    if (sup != 0 && proc_usage(sup, &sup_cpu, &sup_rss) == 0)
        outf(o, "mcpgw_process_cpu_seconds_total{role=\"supervisor\"} %.2f\n", (double)sup_cpu / 1e6);
    outf(o, "mcpgw_process_cpu_seconds_total{role=\"responder\"} %.2f\n", (double)resp_cpu / 1e6);
    family(o, "process_resident_memory_bytes", "gauge",
           "Resident memory of the gateway's processes on this host, by role.");
    if (sup != 0 && sup_rss != 0)
        outf(o, "mcpgw_process_resident_memory_bytes{role=\"supervisor\"} %llu\n",
             (unsigned long long)sup_rss);
    outf(o, "mcpgw_process_resident_memory_bytes{role=\"responder\"} %llu\n",
         (unsigned long long)resp_rss);
}

/* HELP of the named families the gateway counts; others get a generic one. */
static const struct {
    const char *name, *help;
} named_help[] = {
    { "auth_failures_total", "Requests refused by authentication or authorization, by reason." },
    { "jwks_fetch_total", "JWKS documents fetched from the issuer." },
    { "jwks_fetch_error_total", "JWKS fetches that failed or held no usable key." },
    { "jwks_cache_miss_total", "Key lookups the responder's parsed keys could not serve." },
    { "jwks_refresh_total", "JWKS refreshes caused by an unknown kid." },
    { "jwks_refresh_limited_total", "Unknown-kid refreshes held back by the once-per-period limit." },
    { "jwks_cache_rejected_total", "Fleet JWKS copies in Redis ignored because their MAC did not verify." },
    { "mcp_tool_calls_total", "Upstream tool calls forwarded by the MCP plane, by outcome." },
    { "catalog_rebuild_total", "MCP catalog rebuilds from PostgreSQL written to Redis." },
    { "catalog_tampered_total", "MCP catalog reads from Redis refused as untrusted (bad MAC or entry)." },
    { "audit_spool_written_total", "Tool-call audit records the monitor wrote into audit_log." },
    { "audit_spool_fallback_total", "Tool-call audit records appended to audit.spool_fallback because Redis refused them." },
    { "audit_spool_unspooled_total", "Tool-call audit records neither spooled nor saved to a file: only logged." },
    { "audit_spool_malformed_total", "Spool entries that were not well-formed records, acknowledged and left out." },
};

static int named_cmp(const void *a, const void *b)
{
    return strcmp((*(struct named *const *)a)->series, (*(struct named *const *)b)->series);
}

static void render_named(struct out *o, struct segment *s)
{
    struct named *list[METRICS_NAMED];
    char fam[SERIES_MAX] = "";
    size_t n = 0;

    for (int i = 0; i < METRICS_NAMED; i++)
        if (atomic_load_explicit(&s->named[i].state, memory_order_acquire) == NAMED_READY)
            list[n++] = &s->named[i];
    /* A family's series must be contiguous in the text format. */
    qsort(list, n, sizeof(list[0]), named_cmp);
    for (size_t i = 0; i < n; i++) {
        size_t flen = strcspn(list[i]->series, "{");

        if (strlen(fam) != flen || strncmp(fam, list[i]->series, flen) != 0) {
            const char *help = "Events counted by the gateway under this name.";

            snprintf(fam, sizeof(fam), "%.*s", (int)flen, list[i]->series);
            for (size_t h = 0; h < GW_ARRAY_LEN(named_help); h++)
                if (strcmp(named_help[h].name, fam) == 0)
                    help = named_help[h].help;
            family(o, fam, "counter", help);
        }
        outf(o, "mcpgw_%s %llu\n", list[i]->series,
             (unsigned long long)atomic_load_explicit(&list[i]->value, memory_order_relaxed));
    }
}

int metrics_render(const struct metrics_labels *l, int (*emit)(const char *s, size_t n, void *arg),
                   void *arg)
{
    struct out o = { emit, arg, 0 };
    struct segment *s = seg();

    family(&o, "build_info", "gauge", "Gateway version.");
    outf(&o, "mcpgw_build_info{version=\"%s\"} 1\n", l->version);
    family(&o, "metrics_scope", "gauge",
           "What these numbers cover: host (every responder of a supervisor) or process.");
    outf(&o, "mcpgw_metrics_scope{scope=\"%s\"} 1\n", metrics_scope());
    render_requests(&o, s, l);
    render_latency(&o, s, l);
    render_processes(&o, s);
    render_named(&o, s);
    family(&o, "metrics_series_dropped_total", "counter",
           "Counts not recorded: malformed names or more named series than the segment holds.");
    outf(&o, "mcpgw_metrics_series_dropped_total %llu\n",
         (unsigned long long)atomic_load(&s->dropped));
    return o.failed ? -1 : 0;
}
