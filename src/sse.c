#include "sse.h"

#include <string.h>

static const unsigned char utf8_bom[3] = {0xEF, 0xBB, 0xBF};

void dify_sse_init(dify_sse_parser *p, size_t max_event_size) {
    memset(p, 0, sizeof *p);
    dify_buf_init(&p->line);
    dify_buf_init(&p->data);
    dify_buf_init(&p->type);
    dify_buf_init(&p->id);
    p->max_event_size = max_event_size ? max_event_size : (size_t)-1;
}

void dify_sse_free(dify_sse_parser *p) {
    dify_buf_free(&p->line);
    dify_buf_free(&p->data);
    dify_buf_free(&p->type);
    dify_buf_free(&p->id);
}

void dify_sse_reset(dify_sse_parser *p) {
    size_t max = p->max_event_size;
    dify_sse_free(p);
    dify_sse_init(p, max);
}

const char *dify_sse_strerror(int code) {
    switch (code) {
    case DIFY_SSE_OK: return "ok";
    case DIFY_SSE_TOO_LARGE: return "event larger than max_event_size";
    case DIFY_SSE_NOMEM: return "out of memory";
    case DIFY_SSE_FAILED: return "parser already failed";
    case DIFY_SSE_TRUNCATED: return "the body ended in the middle of an event";
    default: return "stopped by handler";
    }
}

/* What the event being built holds; a split line's value counts as it arrives. */
static size_t pending_event_size(const dify_sse_parser *p) {
    return p->data.len + p->direct_len + p->type.len + p->id.len;
}

enum { LONGEST_KEPT_FIELD = 5 }; /* "event" */

static int kept_field(const char *name, size_t len) {
    return (len == 4 && memcmp(name, "data", 4) == 0) ||
           (len == 5 && memcmp(name, "event", 5) == 0) || (len == 2 && memcmp(name, "id", 2) == 0);
}

static void forget_line(dify_sse_parser *p) {
    p->line.len = 0;
    p->line_value_at = 0;
    p->skip_line = 0;
    p->oversized_id = 0;
}

static void skip_rest_of_line(dify_sse_parser *p) {
    forget_line(p);
    p->skip_line = 1;
}

/* Keeps the start of a line whose end is in a later chunk. Comments and
 * unknown fields are not kept at all, so memory stays within max_event_size
 * whatever the stream holds, and where a stream is split never changes which
 * events it gives (nor whether it fails). */
static int keep_partial_line(dify_sse_parser *p, const char *bytes, size_t n) {
    if (p->skip_line) {
        if (p->oversized_id && memchr(bytes, '\0', n)) p->oversized_id = 0;
        return DIFY_SSE_OK;
    }
    if (p->line.len == 0 && bytes[0] == ':') {
        p->skip_line = 1;
        return DIFY_SSE_OK;
    }
    size_t value_at = p->line_value_at;
    if (!value_at) {
        const char *colon = memchr(bytes, ':', n);
        size_t name_len = p->line.len + (colon ? (size_t)(colon - bytes) : n);
        if (name_len > LONGEST_KEPT_FIELD) {
            skip_rest_of_line(p);
            return DIFY_SSE_OK;
        }
        if (colon) {
            char name[LONGEST_KEPT_FIELD];
            if (p->line.len) memcpy(name, p->line.data, p->line.len);
            memcpy(name + p->line.len, bytes, name_len - p->line.len);
            if (!kept_field(name, name_len)) {
                skip_rest_of_line(p);
                return DIFY_SSE_OK;
            }
            value_at = name_len + 1;
        }
    }
    char field0 = p->line.len ? p->line.data[0] : bytes[0];
    if (value_at && field0 == 'i' && memchr(bytes, '\0', n)) {
        /* An id holding NUL is ignored whole, so nothing of it is kept. */
        skip_rest_of_line(p);
        return DIFY_SSE_OK;
    }
    size_t total = p->line.len + n;
    if (value_at && total > value_at) {
        const char *first = p->line.data;
        int space =
            (value_at < p->line.len ? first[value_at] : bytes[value_at - p->line.len]) == ' ';
        size_t value_len = total - value_at - (size_t)space;
        /* An `event:` or `id:` value replaces the one before it. */
        size_t replaced = 0;
        if (field0 == 'e') replaced = p->type.len;
        if (field0 == 'i') replaced = p->id.len;
        if (pending_event_size(p) - replaced + value_len > p->max_event_size) {
            if (field0 != 'i') return DIFY_SSE_TOO_LARGE;
            /* Too large unless a NUL further on makes the whole id line void. */
            skip_rest_of_line(p);
            p->oversized_id = 1;
            return DIFY_SSE_OK;
        }
    }
    if (dify_buf_append(&p->line, bytes, n)) return DIFY_SSE_NOMEM;
    p->line_value_at = value_at;
    return DIFY_SSE_OK;
}

/* The zero-copy data line must not outlive the chunk it points into. */
static int keep_direct(dify_sse_parser *p) {
    if (!p->direct) return DIFY_SSE_OK;
    int rc = dify_buf_append(&p->data, p->direct, p->direct_len) ? DIFY_SSE_NOMEM : DIFY_SSE_OK;
    p->direct = NULL;
    p->direct_len = 0;
    return rc;
}

static void forget_frame(dify_sse_parser *p) {
    p->data.len = 0;
    p->type.len = 0;
    p->has_data = 0;
    p->direct = NULL;
    p->direct_len = 0;
}

static int dispatch(dify_sse_parser *p, dify_sse_handler handler, void *ctx) {
    if (!p->has_data && p->type.len == 0) return DIFY_SSE_OK;
    dify_sse_event ev;
    ev.type = p->type.len ? p->type.data : "";
    ev.type_len = p->type.len;
    ev.has_data = p->has_data;
    if (p->direct) {
        ev.data = p->direct;
        ev.data_len = p->direct_len;
    } else {
        ev.data = p->data.len ? p->data.data : "";
        ev.data_len = p->data.len;
    }
    ev.id = p->id.len ? p->id.data : "";
    ev.id_len = p->id.len;
    int rc = handler(ctx, &ev);
    forget_frame(p);
    return rc;
}

static int field_is(const char *field, size_t len, const char *name) {
    size_t n = strlen(name);
    return len == n && memcmp(field, name, n) == 0;
}

static int set_buf(dify_buf *b, const char *value, size_t len) {
    b->len = 0;
    return dify_buf_append(b, value, len) ? DIFY_SSE_NOMEM : DIFY_SSE_OK;
}

static int add_data(dify_sse_parser *p, const char *value, size_t len, int stable) {
    if (!p->has_data) {
        p->has_data = 1;
        if (stable && p->data.len == 0) {
            p->direct = value;
            p->direct_len = len;
            return DIFY_SSE_OK;
        }
        return dify_buf_append(&p->data, value, len) ? DIFY_SSE_NOMEM : DIFY_SSE_OK;
    }
    if (keep_direct(p) != DIFY_SSE_OK || dify_buf_append_char(&p->data, '\n') ||
        dify_buf_append(&p->data, value, len))
        return DIFY_SSE_NOMEM;
    return DIFY_SSE_OK;
}

/* `stable` says the line lies in the caller's chunk and outlives this call. */
static int process_line(dify_sse_parser *p, const char *line, size_t len, int stable,
                        dify_sse_handler handler, void *ctx) {
    if (len == 0) return dispatch(p, handler, ctx);
    if (line[0] == ':') return DIFY_SSE_OK;

    const char *colon = memchr(line, ':', len);
    size_t field_len = colon ? (size_t)(colon - line) : len;
    const char *value = colon ? colon + 1 : line + len;
    size_t value_len = (size_t)(line + len - value);
    if (value_len && value[0] == ' ') {
        value++;
        value_len--;
    }

    int rc = DIFY_SSE_OK;
    if (field_is(line, field_len, "data"))
        rc = add_data(p, value, value_len, stable);
    else if (field_is(line, field_len, "event"))
        rc = set_buf(&p->type, value, value_len);
    else if (field_is(line, field_len, "id") && !memchr(value, '\0', value_len))
        rc = set_buf(&p->id, value, value_len);
    /* `retry:` and unknown fields are ignored: reconnection is the caller's policy. */
    if (rc == DIFY_SSE_OK && pending_event_size(p) > p->max_event_size) rc = DIFY_SSE_TOO_LARGE;
    return rc;
}

static int feed_lines(dify_sse_parser *p, const char *bytes, size_t n, dify_sse_handler handler,
                      void *ctx) {
    size_t pos = 0;
    const char *lf = NULL;
    int no_more_lf = 0;

    if (p->after_cr && n > 0) {
        if (bytes[0] == '\n') pos = 1;
        p->after_cr = 0;
    }
    while (pos < n) {
        const char *start = bytes + pos;
        size_t rest = n - pos;
        /* Remember the next LF so CR-only streams do not rescan the chunk per line. */
        if (!no_more_lf && (lf == NULL || lf < start)) {
            lf = memchr(start, '\n', rest);
            if (!lf) no_more_lf = 1;
        }
        const char *scan_end = no_more_lf ? bytes + n : lf;
        const char *eol = memchr(start, '\r', (size_t)(scan_end - start));
        if (!eol) eol = no_more_lf ? NULL : lf;

        if (!eol) {
            int rc = keep_partial_line(p, start, rest);
            if (rc != DIFY_SSE_OK) return rc;
            break;
        }

        size_t seg = (size_t)(eol - start);
        int rc = DIFY_SSE_OK;
        if (p->skip_line) {
            int too_large = p->oversized_id && !memchr(start, '\0', seg);
            forget_line(p);
            if (too_large) return DIFY_SSE_TOO_LARGE;
        } else if (p->line.len) {
            if (dify_buf_append(&p->line, start, seg)) return DIFY_SSE_NOMEM;
            size_t line_len = p->line.len;
            forget_line(p); /* the line's bytes stay readable until the next append */
            rc = process_line(p, p->line.data, line_len, 0, handler, ctx);
        } else {
            rc = process_line(p, start, seg, 1, handler, ctx);
        }
        if (rc != DIFY_SSE_OK) return rc;

        pos += seg + 1;
        if (*eol == '\r') {
            if (pos < n) {
                if (bytes[pos] == '\n') pos++;
            } else {
                p->after_cr = 1;
            }
        }
    }
    return keep_direct(p);
}

/* A BOM may itself arrive split across chunks; a false start is ordinary data. */
static int feed_after_bom(dify_sse_parser *p, const char **bytes, size_t *n,
                          dify_sse_handler handler, void *ctx) {
    while (!p->bom_done && *n > 0) {
        if ((unsigned char)(*bytes)[0] == utf8_bom[p->bom_matched]) {
            (*bytes)++;
            (*n)--;
            if (++p->bom_matched == sizeof utf8_bom) p->bom_done = 1;
            continue;
        }
        p->bom_done = 1;
        if (p->bom_matched)
            return feed_lines(p, (const char *)utf8_bom, p->bom_matched, handler, ctx);
    }
    return DIFY_SSE_OK;
}

int dify_sse_feed(dify_sse_parser *p, const char *bytes, size_t n, dify_sse_handler handler,
                  void *ctx) {
    if (p->failed) return DIFY_SSE_FAILED;
    int rc = feed_after_bom(p, &bytes, &n, handler, ctx);
    if (rc == DIFY_SSE_OK && n > 0) rc = feed_lines(p, bytes, n, handler, ctx);
    if (rc != DIFY_SSE_OK) p->failed = 1;
    return rc;
}

int dify_sse_finish(dify_sse_parser *p, dify_sse_handler handler, void *ctx) {
    if (p->failed) return DIFY_SSE_FAILED;
    (void)handler;
    (void)ctx;
    int rc = p->skip_line && p->oversized_id ? DIFY_SSE_TOO_LARGE : DIFY_SSE_OK;
    /* Only a cut `data` line loses part of an answer; `event: ping` loses nothing. */
    int cut_line = p->line.len && !p->skip_line && p->line.data[0] == 'd';
    if (rc == DIFY_SSE_OK && (p->has_data || cut_line)) rc = DIFY_SSE_TRUNCATED;
    forget_line(p);
    forget_frame(p);
    if (rc != DIFY_SSE_OK) p->failed = 1;
    return rc;
}
