/* Small helpers shared by every module: bounded strings, hex, random ids, time.
 * Nothing here allocates except where the name says so. */
#ifndef GW_UTIL_H
#define GW_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#define GW_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* snprintf into dst; returns 0, or -1 when the result was truncated. */
int gw_strlcpy(char *dst, const char *src, size_t size);
int gw_snprintf(char *dst, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

void gw_hex(const unsigned char *in, size_t n, char *out /* 2n+1 */);
/* 2n lower-case hex digits at in into n bytes; 0, or -1 on any other character. */
int gw_unhex(const char *in, size_t n, unsigned char *out);
/* Cryptographically random bytes (OpenSSL RAND_bytes); 0 or -1. */
int gw_random_bytes(unsigned char *buf, size_t n);
/* 2*nbytes hex characters of randomness into out (size >= 2*nbytes+1). */
int gw_random_hex(char *out, size_t nbytes);
/* A 128-bit random identifier as 32 hex characters (out >= 33 bytes), drawn
 * from a per-process pool of RAND_bytes output that is discarded on fork:
 * one RAND_bytes call per 256 ids instead of one per request. */
int gw_random_id(char out[33]);
/* A random (version 4) UUID in its text form. 0, or -1 without randomness. */
int gw_uuid(char out[37]);
void gw_sha256_hex(const void *data, size_t n, char out[65]);

int64_t gw_now_ms(void);        /* CLOCK_REALTIME, milliseconds */
int64_t gw_monotonic_ms(void);  /* CLOCK_MONOTONIC, milliseconds */
/* This process's id, cached (getpid() is a system call) and refreshed in a
 * child after fork(). */
int gw_pid(void);
/* ISO 8601 UTC with milliseconds: 2026-11-25T22:25:45.123Z */
void gw_iso8601(int64_t ms, char out[32]);

bool gw_str_eq_ci(const char *a, const char *b);
bool gw_has_prefix(const char *s, const char *prefix);
/* Trim ASCII white space in place; returns s. */
char *gw_trim(char *s);

/* Copy in to out (bounded) with secrets replaced by ***: the password of any
 * URL userinfo (scheme://user:secret@, redis://secret@) and libpq or query
 * "password=" values. For configuration output and every error message. */
void gw_mask_secrets(const char *in, char *out, size_t n);

/* A response body gathered by libcurl: gw_sink_write as CURLOPT_WRITEFUNCTION
 * with the sink as CURLOPT_WRITEDATA. buf is NUL-terminated (NULL while
 * empty; the caller frees it); more than max bytes sets too_big and aborts
 * the transfer. */
struct gw_sink {
    char *buf;
    size_t len;
    size_t max;
    bool too_big;
};
size_t gw_sink_write(char *data, size_t size, size_t nmemb, void *arg);

/* Loopback literal host check ("127.x.y.z", "::1", "localhost"). */
bool gw_host_is_loopback(const char *host);

#endif
