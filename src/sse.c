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
    default: return "stopped by handler";
    }
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

static size_t pending_data_size(const dify_sse_parser *p) {
    return p->data.len + p->direct_len;
}

/* Whether the bytes so far could still become the whole field name. */
static int starts(const char *bytes, size_t len, const char *name) {
    return len <= strlen(name) && memcmp(bytes, name, len) == 0;
}

enum { FIELD_DATA, FIELD_EVENT, FIELD_ID, FIELD_OTHER, FIELD_UNDECIDED };

#define LONGEST_FIELD 5 /* "event" */

/* Which field a line sets and where its value starts. A line that has not
 * ended yet may still be too short to tell (FIELD_UNDECIDED). Only the first
 * bytes are looked at, so a long line fed in many pieces is not rescanned. */
static int line_field(const char *line, size_t len, int complete, const char **value,
                      size_t *value_len) {
    *value = line + len;
    *value_len = 0;
    if (len && line[0] == ':') return FIELD_OTHER;
    const char *colon = memchr(line, ':', len < LONGEST_FIELD + 1 ? len : LONGEST_FIELD + 1);
    size_t field_len = colon ? (size_t)(colon - line) : len;
    if (!colon && !complete) {
        if (starts(line, len, "data") || starts(line, len, "event") || starts(line, len, "id"))
            return FIELD_UNDECIDED;
        return FIELD_OTHER;
    }
    if (colon) {
        *value = colon + 1;
        *value_len = (size_t)(line + len - *value);
        if (*value_len && **value == ' ') {
            (*value)++;
            (*value_len)--;
        }
    }
    if (field_is(line, field_len, "data")) return FIELD_DATA;
    if (field_is(line, field_len, "event")) return FIELD_EVENT;
    if (field_is(line, field_len, "id")) return FIELD_ID;
    return FIELD_OTHER;
}

/* The size the pending event reaches while this line is read: its value for
 * data and event lines (the field name is free, and an event line replaces the
 * type), the whole line for comments and unknown fields so that they cannot
 * be buffered without bound either. A line that has not ended is charged what
 * it holds so far, never more than it will be charged once whole: whether a
 * stream exceeds max_event_size does not depend on where it was split. */
static size_t line_charge(const dify_sse_parser *p, int field, size_t line_len, size_t value_len) {
    size_t data = pending_data_size(p);
    switch (field) {
    case FIELD_DATA: return data + p->type.len + (p->has_data ? 1 : 0) + value_len;
    case FIELD_EVENT: return data + value_len;
    case FIELD_UNDECIDED: return data;
    case FIELD_ID: return data + p->type.len + value_len;
    default: return data + p->type.len + line_len;
    }
}

static int too_large(const dify_sse_parser *p, const char *line, size_t len, int complete) {
    const char *value;
    size_t value_len;
    int field = line_field(line, len, complete, &value, &value_len);
    return line_charge(p, field, len, value_len) > p->max_event_size;
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

    const char *value;
    size_t value_len;
    int field = line_field(line, len, 1, &value, &value_len);
    if (line_charge(p, field, len, value_len) > p->max_event_size) return DIFY_SSE_TOO_LARGE;
    switch (field) {
    case FIELD_DATA: return add_data(p, value, value_len, stable);
    case FIELD_EVENT: return set_buf(&p->type, value, value_len);
    case FIELD_ID:
        if (memchr(value, '\0', value_len)) return DIFY_SSE_OK;
        return set_buf(&p->id, value, value_len);
    default: return DIFY_SSE_OK; /* comments, `retry:` (reconnection is the caller's policy) */
    }
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
            if (dify_buf_append(&p->line, start, rest)) return DIFY_SSE_NOMEM;
            if (too_large(p, p->line.data, p->line.len, 0)) return DIFY_SSE_TOO_LARGE;
            break;
        }

        size_t seg = (size_t)(eol - start);
        int rc;
        if (p->line.len) {
            if (dify_buf_append(&p->line, start, seg)) return DIFY_SSE_NOMEM;
            size_t line_len = p->line.len;
            p->line.len = 0; /* the line's bytes stay readable until the next append */
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
    int rc = DIFY_SSE_OK;
    if (p->line.len) {
        size_t line_len = p->line.len;
        p->line.len = 0;
        rc = process_line(p, p->line.data, line_len, 0, handler, ctx);
    }
    if (rc == DIFY_SSE_OK && p->has_data) rc = dispatch(p, handler, ctx);
    forget_frame(p);
    if (rc != DIFY_SSE_OK) p->failed = 1;
    return rc;
}
