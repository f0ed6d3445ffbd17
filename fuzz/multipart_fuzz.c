/* libFuzzer target for multipart bodies (src/multipart.c).
 *
 * The input describes up to four parts (names, bytes, file names, media
 * types, some streamed from a file, some from a file that does not exist).
 * dify_multipart_build makes the curl_mime, and libcurl serialises it into an
 * HTTP request sent over a Unix socket this harness listens on: no network.
 * The request read back must hold exactly those parts, each with its bytes
 * unchanged and no header line beyond Content-Disposition and Content-Type:
 * whatever the names contain, nothing can be smuggled into the part headers. */
#define _POSIX_C_SOURCE 200809L
#include <curl/curl.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "../src/buffer.h"
#include "../src/multipart.h"

#define MAX_PARTS 4
#define MAX_TEXT 48
#define MAX_DATA 4096

typedef struct input {
    const uint8_t *bytes;
    size_t len, pos;
} input;

typedef struct part_spec {
    char name[MAX_TEXT + 1];
    char filename[MAX_TEXT + 1];
    char content_type[MAX_TEXT + 1];
    const char *data;
    size_t data_len;
    int from_file, missing_file, has_filename, has_type;
    char path[64];
} part_spec;

typedef struct wire {
    int theirs; /* the accepted end: what libcurl sent arrives here */
    dify_buf request;
    int answered;
} wire;

static int listener = -1;
static char listener_path[108];

static void die(const char *why) {
    fprintf(stderr, "multipart_fuzz: %s\n", why);
    abort();
}

static unsigned take_byte(input *in) {
    return in->pos < in->len ? in->bytes[in->pos++] : 0;
}

/* A C string from the input; names cannot hold NUL, so it ends one early. */
static void take_text(input *in, char *out) {
    size_t n = take_byte(in) % (MAX_TEXT + 1), i = 0;
    while (i < n && in->pos < in->len && in->bytes[in->pos] != 0)
        out[i++] = (char)in->bytes[in->pos++];
    out[i] = '\0';
}

static void take_data(input *in, part_spec *p) {
    size_t n = (take_byte(in) | take_byte(in) << 8) % (MAX_DATA + 1);
    if (n > in->len - in->pos) n = in->len - in->pos;
    p->data = (const char *)in->bytes + in->pos;
    p->data_len = n;
    in->pos += n;
}

static void write_file(part_spec *p, unsigned index) {
    snprintf(p->path, sizeof p->path, "/tmp/dify-multipart-fuzz-%ld-%u", (long)getpid(), index);
    if (p->missing_file) {
        unlink(p->path);
        return;
    }
    FILE *f = fopen(p->path, "wb");
    if (!f || fwrite(p->data, 1, p->data_len, f) != p->data_len || fclose(f) != 0)
        die("cannot write a temporary file");
}

static void remove_listener(void) {
    if (listener >= 0) close(listener);
    unlink(listener_path);
}

static void listen_once(void) {
    struct sockaddr_un addr;
    memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    snprintf(listener_path, sizeof listener_path, "/tmp/dify-multipart-fuzz-%ld.sock",
             (long)getpid());
    memcpy(addr.sun_path, listener_path, strlen(listener_path) + 1);
    unlink(listener_path);
    listener = socket(AF_UNIX, SOCK_STREAM, 0);
    if (listener < 0 || bind(listener, (struct sockaddr *)&addr, sizeof addr) != 0 ||
        listen(listener, 4) != 0 || fcntl(listener, F_SETFL, O_NONBLOCK) != 0)
        die("cannot listen on a Unix socket");
    atexit(remove_listener);
}

static size_t ignore_body(char *bytes, size_t size, size_t n, void *arg) {
    (void)bytes;
    (void)arg;
    return size * n;
}

static const char *find(const char *hay, size_t hay_len, const char *needle) {
    size_t n = strlen(needle);
    for (size_t i = 0; n <= hay_len && i <= hay_len - n; i++)
        if (memcmp(hay + i, needle, n) == 0) return hay + i;
    return NULL;
}

/* The request is complete once its header block and Content-Length bytes are in. */
static int request_complete(const dify_buf *r, size_t *header_len, size_t *body_len) {
    const char *end = find(r->data, r->len, "\r\n\r\n");
    if (!end) return 0;
    *header_len = (size_t)(end - r->data) + 4;
    const char *cl = find(r->data, *header_len, "\r\nContent-Length: ");
    if (!cl) die("the request has no Content-Length");
    *body_len = strtoul(cl + 18, NULL, 10);
    return r->len >= *header_len + *body_len;
}

static void serialise(curl_mime *mime, wire *w) {
    CURL *curl = curl_easy_init();
    CURLM *multi = curl_multi_init();
    if (!curl || !multi) die("out of memory");
    curl_easy_setopt(curl, CURLOPT_URL, "http://127.0.0.1/v1/files/upload");
    curl_easy_setopt(curl, CURLOPT_MIMEPOST, mime);
    curl_easy_setopt(curl, CURLOPT_UNIX_SOCKET_PATH, listener_path);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, ignore_body);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_FORBID_REUSE, 1L);
    if (getenv("FUZZ_VERBOSE")) curl_easy_setopt(curl, CURLOPT_VERBOSE, 1L);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, NULL);
    curl_multi_add_handle(multi, curl);
    int running = 1;
    for (int round = 0; running; round++) {
        if (round > 100000) die("libcurl never finished the request");
        if (curl_multi_perform(multi, &running) != CURLM_OK) die("curl_multi_perform failed");
        if (w->theirs < 0) {
            w->theirs = accept(listener, NULL, NULL);
            if (w->theirs >= 0) fcntl(w->theirs, F_SETFL, O_NONBLOCK);
        }
        char chunk[65536];
        ssize_t got = 0;
        while (w->theirs >= 0 && (got = read(w->theirs, chunk, sizeof chunk)) > 0)
            if (dify_buf_append(&w->request, chunk, (size_t)got)) die("out of memory");
        size_t header_len, body_len;
        if (!w->answered && request_complete(&w->request, &header_len, &body_len)) {
            static const char answer[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
            if (write(w->theirs, answer, sizeof answer - 1) != (ssize_t)(sizeof answer - 1))
                die("cannot answer");
            w->answered = 1;
        }
        struct curl_waitfd extra = {w->theirs >= 0 ? w->theirs : listener, CURL_WAIT_POLLIN, 0};
        if (running) curl_multi_poll(multi, &extra, 1, 10, NULL);
    }
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(multi, &left)) != NULL)
        if (msg->msg == CURLMSG_DONE && msg->data.result != CURLE_OK) {
            fprintf(stderr, "%s\n", curl_easy_strerror(msg->data.result));
            die("the transfer failed");
        }
    curl_multi_remove_handle(multi, curl);
    curl_multi_cleanup(multi);
    curl_easy_cleanup(curl);
}

static const char *expect(const char *at, const char *end, const char *text, size_t len) {
    if ((size_t)(end - at) < len || memcmp(at, text, len) != 0) die("the body is not as built");
    return at + len;
}

/* Every header line of a part is one we asked for, once. */
static void check_part_headers(const char *at, size_t len, const part_spec *p) {
    int disposition = 0, type = 0;
    const char *end = at + len;
    while (at < end) {
        const char *eol = find(at, (size_t)(end - at), "\r\n");
        size_t line_len = eol ? (size_t)(eol - at) : (size_t)(end - at);
        if (memchr(at, '\r', line_len) || memchr(at, '\n', line_len))
            die("a bare CR or LF in a part header");
        if (line_len >= 21 && memcmp(at, "Content-Disposition: ", 21) == 0)
            disposition++;
        else if (line_len >= 14 && memcmp(at, "Content-Type: ", 14) == 0)
            type++;
        else
            die("an unexpected part header line");
        at += line_len + 2;
    }
    if (disposition != 1) die("a part without exactly one Content-Disposition");
    if (type > 1 || (p->has_type && type != 1)) die("a part lost its Content-Type");
}

static void check_request(const wire *w, const part_spec *parts, size_t n) {
    size_t header_len, body_len;
    if (!request_complete(&w->request, &header_len, &body_len)) die("incomplete request");
    if (w->request.len != header_len + body_len) die("bytes beyond Content-Length");
    const char *ct = find(w->request.data, header_len, "boundary=");
    if (!ct) die("no multipart boundary");
    const char *boundary = ct + 9;
    size_t boundary_len = strcspn(boundary, "\r");
    const char *at = w->request.data + header_len, *end = at + body_len;
    for (size_t i = 0; i < n; i++) {
        at = expect(at, end, "--", 2);
        at = expect(at, end, boundary, boundary_len);
        at = expect(at, end, "\r\n", 2);
        const char *blank = find(at, (size_t)(end - at), "\r\n\r\n");
        if (!blank) die("a part without its header block");
        check_part_headers(at, (size_t)(blank - at), &parts[i]);
        at = expect(blank, end, "\r\n\r\n", 4);
        at = expect(at, end, parts[i].data, parts[i].data_len);
        at = expect(at, end, "\r\n", 2);
    }
    at = expect(at, end, "--", 2);
    at = expect(at, end, boundary, boundary_len);
    at = expect(at, end, "--\r\n", 4);
    if (at != end) die("bytes after the closing boundary");
}

static int breaks_header(const char *text) {
    return strchr(text, '\r') || strchr(text, '\n');
}

int LLVMFuzzerTestOneInput(const uint8_t *bytes, size_t len) {
    static int initialised;
    if (!initialised) {
        curl_global_init(CURL_GLOBAL_DEFAULT);
        listen_once();
        initialised = 1;
    }
    input in = {bytes, len, 0};
    part_spec specs[MAX_PARTS];
    dify_part parts[MAX_PARTS];
    size_t n = take_byte(&in) % (MAX_PARTS + 1);
    dify_error_kind expected = DIFY_OK; /* the first bad part decides */
    for (size_t i = 0; i < n; i++) {
        part_spec *s = &specs[i];
        memset(s, 0, sizeof *s);
        unsigned flags = take_byte(&in);
        s->from_file = flags & 1;
        s->missing_file = s->from_file && (flags & 0xF0) == 0xF0;
        s->has_filename = (flags & 2) != 0;
        s->has_type = (flags & 4) != 0;
        take_text(&in, s->name);
        if (s->has_filename) take_text(&in, s->filename);
        if (s->has_type) take_text(&in, s->content_type);
        take_data(&in, s);
        if (s->from_file) write_file(s, (unsigned)i);
        if (expected == DIFY_OK && (breaks_header(s->name) || breaks_header(s->filename) ||
                                    breaks_header(s->content_type)))
            expected = DIFY_ERR_PROTOCOL;
        if (expected == DIFY_OK && s->missing_file) expected = DIFY_ERR_IO;
        dify_part *p = &parts[i];
        memset(p, 0, sizeof *p);
        p->name = s->name;
        p->path = s->from_file ? s->path : NULL;
        p->data = s->from_file ? NULL : s->data;
        p->data_len = s->from_file ? 0 : s->data_len;
        p->filename = s->has_filename ? s->filename : NULL;
        p->content_type = s->has_type ? s->content_type : NULL;
    }

    CURL *owner = curl_easy_init();
    if (!owner) die("out of memory");
    dify_error err;
    dify_error_clear(&err);
    curl_mime *mime = dify_multipart_build(owner, parts, n, &err);
    if (expected != DIFY_OK) {
        if (mime || err.kind != expected) die("a bad part was not refused as it should be");
    } else if (!mime) {
        die(err.message);
    } else {
        wire w = {-1, {NULL, 0, 0}, 0};
        serialise(mime, &w);
        if (getenv("FUZZ_VERBOSE")) fwrite(w.request.data, 1, w.request.len, stderr);
        check_request(&w, specs, n);
        close(w.theirs);
        dify_buf_free(&w.request);
        curl_mime_free(mime);
    }
    curl_easy_cleanup(owner);
    for (size_t i = 0; i < n; i++)
        if (specs[i].from_file) unlink(specs[i].path);
    return 0;
}
