/* What went wrong in a transfer, in terms the Lua layer maps to error kinds. */
#ifndef DIFY_ERROR_H
#define DIFY_ERROR_H

typedef enum dify_error_kind {
    DIFY_OK = 0,
    DIFY_ERR_NETWORK,
    DIFY_ERR_TIMEOUT,
    DIFY_ERR_TLS,
    DIFY_ERR_PROTOCOL,
    DIFY_ERR_DECODE,
    DIFY_ERR_IO,       /* a local file could not be read or written */
    DIFY_ERR_CALLBACK, /* a caller's callback failed; the binding re-raises its error */
    DIFY_ERR_NOMEM
} dify_error_kind;

typedef struct dify_error {
    dify_error_kind kind;
    /* For timeouts: "connect", "total" or "idle". */
    const char *which;
    /* 1 when the request may have reached the server (matters for retries). */
    int request_sent;
    char message[256];
} dify_error;

void dify_error_clear(dify_error *err);
void dify_error_set(dify_error *err, dify_error_kind kind, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
const char *dify_error_kind_name(dify_error_kind kind);

#endif
