/* Multi-round-trip input (MCP 2026-07-28): the requestState the gateway hands a
 * client with an input-required result, sealed so that only its caller can resume. */
#ifndef GW_MCP_MRTR_H
#define GW_MCP_MRTR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct gw_identity;

#define MRTR_UPSTREAM_MAX 4096  /* bytes of an upstream's own requestState we carry */
#define MRTR_HANDLE_MAX 8192    /* bytes of a sealed handle, at most */
#define MRTR_TTL_S 600          /* a handle resumes for this long */

/* What a follow-up request needs to resume the upstream call: nothing of it is
 * kept by the responder that sealed it. */
struct mrtr_state {
    char server_id[64];         /* the upstream that asked */
    char method[32];            /* tools/call, prompts/get or resources/read */
    char target[512];           /* the tool or prompt name, or the resource URI, as the client sent it */
    char upstream_state[MRTR_UPSTREAM_MAX + 1]; /* the upstream's requestState, "" for none */
    char pending[40];           /* id of an upstream call waiting in Redis, "" for none */
    int64_t exp;                /* seconds since the epoch */
};

enum mrtr_status {
    MRTR_OK,
    MRTR_NO_KEY,                /* no security.input_state_key_file configured */
    MRTR_MALFORMED,             /* not a handle of ours */
    MRTR_TAMPERED,              /* its MAC does not match */
    MRTR_EXPIRED,
    MRTR_FOREIGN,               /* sealed for another caller */
    MRTR_MISMATCH,              /* sealed for another method or target */
};

/* A short phrase for an error message: "has expired", ... */
const char *mrtr_status_text(enum mrtr_status st);

/* Seal s for who into out ("g1." base64url(payload) "." base64url(HMAC-SHA256)).
 * Returns 0, or -1 when a field is too long or out too short. */
int mrtr_seal(const unsigned char *key, size_t keylen, const struct gw_identity *who,
              const struct mrtr_state *s, char *out, size_t n);

/* Open handle for who at now (seconds): the MAC is checked before anything
 * in it is read; then expiry and the caller. method and target, when not
 * NULL, must be those it was sealed for. */
enum mrtr_status mrtr_open(const unsigned char *key, size_t keylen, const struct gw_identity *who,
                           const char *handle, int64_t now, const char *method, const char *target,
                           struct mrtr_state *out);

#endif
