#include "error.h"

#include <stdarg.h>
#include <stdio.h>

void dify_error_clear(dify_error *err) {
    err->kind = DIFY_OK;
    err->which = NULL;
    err->request_sent = 0;
    err->message[0] = '\0';
}

void dify_error_set(dify_error *err, dify_error_kind kind, const char *fmt, ...) {
    va_list ap;
    err->kind = kind;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
}

const char *dify_error_kind_name(dify_error_kind kind) {
    switch (kind) {
    case DIFY_OK: return "ok";
    case DIFY_ERR_NETWORK: return "network";
    case DIFY_ERR_TIMEOUT: return "timeout";
    case DIFY_ERR_TLS: return "tls";
    case DIFY_ERR_PROTOCOL: return "protocol";
    case DIFY_ERR_DECODE: return "decode";
    case DIFY_ERR_IO: return "io";
    case DIFY_ERR_CALLBACK: return "callback";
    case DIFY_ERR_NOMEM: return "memory";
    }
    return "unknown";
}
