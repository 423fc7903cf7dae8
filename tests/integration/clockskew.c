/* LD_PRELOAD interposer for the lease tests: the wall clock of one process
 * runs CLOCK_SKEW_MS milliseconds ahead (or behind), as on a host whose clock
 * drifted, while monotonic clocks and every other process are untouched. */
#include <dlfcn.h>
#include <stdlib.h>
#include <time.h>

typedef int (*cgt_fn)(clockid_t, struct timespec *);

int clock_gettime(clockid_t id, struct timespec *ts)
{
    cgt_fn real = (cgt_fn)dlsym(RTLD_NEXT, "clock_gettime");
    const char *s = getenv("CLOCK_SKEW_MS");
    long long skew = s != NULL ? strtoll(s, NULL, 10) : 0, ns;
    int rc = real(id, ts);

    if (rc != 0 || skew == 0 || (id != CLOCK_REALTIME && id != CLOCK_REALTIME_COARSE))
        return rc;
    ns = (long long)ts->tv_sec * 1000000000LL + ts->tv_nsec + skew * 1000000LL;
    ts->tv_sec = (time_t)(ns / 1000000000LL);
    ts->tv_nsec = (long)(ns % 1000000000LL);
    return rc;
}
