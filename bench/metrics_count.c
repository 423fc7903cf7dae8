/* What counting costs one request: the busy flag set and cleared, the two
 * clock reads for the duration, and the request counter plus its histogram
 * bucket, in the shared segment as under `serve`; also a named event counter.
 * Usage: bench/metrics_count [ITERATIONS]   (prints "name value" lines) */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>

#include "metrics.h"

static double now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int64_t mono_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* The per-request sequence of gw_handle, with varying route and status. */
static double request_loop(long n)
{
    double t0 = now_ns();

    for (long i = 0; i < n; i++) {
        int64_t start = mono_us();

        metrics_busy(1);
        metrics_request(1, (int)(i & 7), (i & 15) ? 200 : 404, mono_us() - start + (i & 1023));
        metrics_busy(0);
    }
    return (now_ns() - t0) / (double)n;
}

static double named_loop(long n)
{
    double t0 = now_ns();

    for (long i = 0; i < n; i++)
        metrics_count_labeled("auth_failures_total", "reason", (i & 1) ? "expired" : "missing");
    return (now_ns() - t0) / (double)n;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 5000000;
    pid_t other;
    int st;

    if (n <= 0 || metrics_init_shared() != 0) {
        fprintf(stderr, "metrics_count: bad iteration count or no shared segment\n");
        return 1;
    }
    metrics_slot_set(0, (int)getpid());
    metrics_attach_slot(0);
    request_loop(n / 10); /* warm the pages and the caches */
    printf("iterations %ld\n", n);
    printf("request_count_ns %.1f\n", request_loop(n));
    printf("named_count_ns %.1f\n", named_loop(n));
    /* Two responders counting the same series at once (cache line shared). */
    other = fork();
    if (other == 0) {
        metrics_attach_slot(1);
        request_loop(n);
        _exit(0);
    }
    printf("request_count_ns_two_processes %.1f\n", request_loop(n));
    waitpid(other, &st, 0);
    return 0;
}
