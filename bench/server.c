/* The bench's Dify stand-in: one epoll thread on 127.0.0.1 serving canned
 * answers fast enough that it is never what a client's figure measures.
 *
 * The chat `query` field carries the scenario, as "key=value" words:
 *   events=N size=B pace_us=U   a stream of N `message` events of B bytes each
 *                               (frame included), U microseconds apart
 *   answer=B                    a blocking answer of B bytes of JSON (default 1024)
 * text-to-audio's `text` is "bytes=N" (N bytes of audio/mpeg). files/upload
 * reads and drops the body. GET /__stats answers
 *   {"accepted":connections,"requests":n,"cpu_s":seconds of this process's CPU}
 * and GET /__sample?size=B one event's JSON as a stream of that size carries it.
 * Each paced event carries "t": the wall clock in microseconds when it was written.
 *
 * Usage: bench-server   (prints "port N" and serves until killed or GET /__quit) */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define MAX_HEAD 65536
#define BATCH 262144 /* bytes of unpaced events generated per write round */

enum phase { READ_HEAD, READ_BODY, SEND };
enum job { NONE, STREAM, AUDIO };

typedef struct conn {
    int fd;
    enum phase phase;
    enum job job;
    char head[MAX_HEAD];
    size_t head_len;
    long long body_left;
    char *body; /* kept only for chat requests (small) */
    size_t body_len, body_cap;
    char route[16];
    char *out;
    size_t out_len, out_pos, out_cap;
    long long events_left, event_size, pace_us, next_due_us, audio_left;
    int ending;
    struct conn *next;
} conn;

static long long accepted_count, request_count;
static const char *event_ids = "\"task_id\":\"7f1c2a9e-3b41-4c8d-9e55-0a6b2c3d4e5f\","
                               "\"message_id\":\"1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d\","
                               "\"conversation_id\":\"9d8c7b6a-5f4e-4d3c-2b1a-0f9e8d7c6b5a\"";

static long long wall_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void die(const char *what) {
    perror(what);
    exit(1);
}

static void reserve(conn *c, size_t extra) {
    if (c->out_len + extra <= c->out_cap) return;
    size_t cap = c->out_cap ? c->out_cap : 4096;
    while (cap < c->out_len + extra)
        cap *= 2;
    char *grown = realloc(c->out, cap);
    if (!grown) die("realloc");
    c->out = grown;
    c->out_cap = cap;
}

static void put(conn *c, const char *bytes, size_t n) {
    reserve(c, n);
    memcpy(c->out + c->out_len, bytes, n);
    c->out_len += n;
}

static void putf(conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void putf(conn *c, const char *fmt, ...) {
    char tmp[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    put(c, tmp, (size_t)n);
}

/* One SSE frame `data: {...}\n\n` of exactly `size` bytes (when size allows). */
static void put_event(conn *c, long long size, long long stamp) {
    char start[512];
    int n = snprintf(start, sizeof start, "data: {\"event\":\"message\",%s,\"id\":\"m\",\"t\":%lld,"
                     "\"created_at\":1705395332,\"answer\":\"", event_ids, stamp);
    const char *tail = "\"}\n\n";
    long long pad = size - n - (long long)strlen(tail);
    if (pad < 1) pad = 1;
    reserve(c, (size_t)(n + pad) + strlen(tail));
    memcpy(c->out + c->out_len, start, (size_t)n);
    c->out_len += (size_t)n;
    memset(c->out + c->out_len, 'x', (size_t)pad);
    c->out_len += (size_t)pad;
    put(c, tail, strlen(tail));
}

/* Chunked transfer encoding: the chunk's size goes in front of what follows `at`. */
static size_t chunk_open(conn *c) {
    put(c, "00000000\r\n", 10);
    return c->out_len;
}

static void chunk_close(conn *c, size_t at) {
    char hex[9];
    snprintf(hex, sizeof hex, "%08zx", c->out_len - at);
    memcpy(c->out + at - 10, hex, 8);
    put(c, "\r\n", 2);
}

static void generate(conn *c) {
    if (c->job == STREAM) {
        if (c->events_left > 0) {
            if (c->pace_us > 0 && wall_us() < c->next_due_us) return;
            size_t at = chunk_open(c);
            if (c->pace_us > 0) {
                put_event(c, c->event_size, wall_us());
                c->events_left--;
                c->next_due_us += c->pace_us;
            } else {
                while (c->events_left > 0 && c->out_len - at < BATCH) {
                    put_event(c, c->event_size, 0);
                    c->events_left--;
                }
            }
            chunk_close(c, at);
            return;
        }
        size_t at = chunk_open(c);
        putf(c, "data: {\"event\":\"message_end\",%s,\"id\":\"m\",\"metadata\":{\"usage\":"
                "{\"total_tokens\":42}},\"created_at\":1705395333}\n\n", event_ids);
        chunk_close(c, at);
        put(c, "0\r\n\r\n", 5);
        c->job = NONE;
    } else if (c->job == AUDIO) {
        size_t n = c->audio_left < BATCH ? (size_t)c->audio_left : BATCH;
        reserve(c, n);
        memset(c->out + c->out_len, 0xFF, n);
        c->out_len += n;
        c->audio_left -= (long long)n;
        if (c->audio_left == 0) c->job = NONE;
    }
}

static long long param(const char *text, const char *key, long long fallback) {
    size_t klen = strlen(key);
    for (const char *p = text; p && *p; p++) {
        if ((p == text || strchr(" \"?&", p[-1])) && strncmp(p, key, klen) == 0 &&
            p[klen] == '=')
            return atoll(p + klen + 1);
    }
    return fallback;
}

static void respond_json(conn *c, const char *status, const char *body, size_t len) {
    putf(c, "HTTP/1.1 %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n", status,
         len);
    put(c, body, len);
}

static void answer(conn *c) {
    request_count++;
    char body[4096];
    const char *text = c->body ? c->body : "";
    if (strcmp(c->route, "chat") == 0) {
        if (strstr(text, "\"streaming\"")) {
            c->job = STREAM;
            c->events_left = param(text, "events", 10);
            c->event_size = param(text, "size", 200);
            c->pace_us = param(text, "pace_us", 0);
            c->next_due_us = wall_us();
            putf(c, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
                    "Transfer-Encoding: chunked\r\n\r\n");
            return;
        }
        long long size = param(text, "answer", 1024);
        if (size > (long long)sizeof body - 1) size = sizeof body - 1;
        int n = snprintf(body, sizeof body, "{\"event\":\"message\",%s,\"id\":\"m\",\"mode\":\"chat\","
                         "\"metadata\":{\"usage\":{\"total_tokens\":42}},\"created_at\":1705395332,"
                         "\"answer\":\"", event_ids);
        long long pad = size - n - 2;
        if (pad < 1) pad = 1;
        memset(body + n, 'x', (size_t)pad);
        memcpy(body + n + pad, "\"}", 2);
        respond_json(c, "200 OK", body, (size_t)(n + pad + 2));
    } else if (strcmp(c->route, "audio") == 0) {
        c->job = AUDIO;
        c->audio_left = param(text, "bytes", 1024);
        putf(c, "HTTP/1.1 200 OK\r\nContent-Type: audio/mpeg\r\nContent-Length: %lld\r\n\r\n",
             c->audio_left);
    } else if (strcmp(c->route, "upload") == 0) {
        int n = snprintf(body, sizeof body, "{\"id\":\"f1\",\"name\":\"upload.bin\",\"size\":%zu}",
                         c->body_len);
        respond_json(c, "201 CREATED", body, (size_t)n);
    } else if (strcmp(c->route, "stats") == 0) {
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        double cpu = ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
                     (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
        int n = snprintf(body, sizeof body, "{\"accepted\":%lld,\"requests\":%lld,\"cpu_s\":%.6f}",
                         accepted_count, request_count - 1, cpu);
        respond_json(c, "200 OK", body, (size_t)n);
    } else if (strcmp(c->route, "sample") == 0) {
        /* One event's JSON exactly as streamed, for the JSON-ceiling loop. */
        conn tmp;
        memset(&tmp, 0, sizeof tmp);
        put_event(&tmp, param(c->head, "size", 300), 0);
        respond_json(c, "200 OK", tmp.out + 6, tmp.out_len - 8);
        free(tmp.out);
    } else if (strcmp(c->route, "quit") == 0) {
        exit(0);
    } else {
        respond_json(c, "404 NOT FOUND", "{\"code\":\"not_found\"}", 20);
    }
}

/* Parses a complete head; returns the bytes of body that came with it. */
static void start_request(conn *c, size_t head_end) {
    c->head[head_end - 1] = '\0';
    const char *path = strchr(c->head, ' ');
    path = path ? path + 1 : "";
    c->route[0] = '\0';
    if (strncmp(path, "/__stats", 8) == 0)
        strcpy(c->route, "stats");
    else if (strncmp(path, "/__sample", 9) == 0)
        strcpy(c->route, "sample");
    else if (strncmp(path, "/__quit", 7) == 0)
        strcpy(c->route, "quit");
    else if (strstr(path, "/chat-messages") == path + strcspn(path, " ") - 14)
        strcpy(c->route, "chat");
    else if (strstr(path, "/text-to-audio"))
        strcpy(c->route, "audio");
    else if (strstr(path, "/files/upload"))
        strcpy(c->route, "upload");
    const char *cl = strcasestr(c->head, "\r\ncontent-length:");
    c->body_left = cl ? atoll(cl + 17) : 0;
    c->body_len = 0;
    if (c->body) c->body[0] = '\0';
    c->phase = READ_BODY;
}

static void on_bytes(conn *c, const char *bytes, size_t n);

static void take_head(conn *c) {
    char *end = memmem(c->head, c->head_len, "\r\n\r\n", 4);
    if (!end) return;
    size_t head_end = (size_t)(end - c->head) + 4;
    size_t rest = c->head_len - head_end;
    char extra[MAX_HEAD];
    memcpy(extra, c->head + head_end, rest);
    start_request(c, head_end);
    c->head_len = 0;
    if (rest) on_bytes(c, extra, rest);
}

static void on_bytes(conn *c, const char *bytes, size_t n) {
    while (n > 0) {
        if (c->phase == READ_HEAD) {
            size_t room = MAX_HEAD - c->head_len;
            size_t take = n < room ? n : room;
            memcpy(c->head + c->head_len, bytes, take);
            c->head_len += take;
            bytes += take;
            n -= take;
            take_head(c);
            if (c->phase == READ_HEAD && c->head_len == MAX_HEAD) die("request head too large");
        } else if (c->phase == READ_BODY) {
            size_t take = (long long)n < c->body_left ? n : (size_t)c->body_left;
            /* Only chat and audio bodies are read; an upload is counted and dropped. */
            if (strcmp(c->route, "upload") != 0 && c->body_len + take < 1 << 20) {
                if (c->body_len + take + 1 > c->body_cap) {
                    c->body_cap = (c->body_len + take + 1) * 2;
                    c->body = realloc(c->body, c->body_cap);
                    if (!c->body) die("realloc");
                }
                memcpy(c->body + c->body_len, bytes, take);
                c->body[c->body_len + take] = '\0';
            }
            c->body_len += take;
            c->body_left -= (long long)take;
            bytes += take;
            n -= take;
        } else {
            die("pipelined request");
        }
        if (c->phase == READ_BODY && c->body_left == 0) {
            if (c->body && strcmp(c->route, "upload") == 0) c->body[0] = '\0';
            answer(c);
            c->phase = SEND;
        }
    }
    if (c->phase == READ_BODY && c->body_left == 0) {
        answer(c);
        c->phase = SEND;
    }
}

static void close_conn(int ep, conn *c) {
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->fd = -1;
}

static void set_interest(int ep, conn *c, int want_out) {
    struct epoll_event ev = {.events = EPOLLIN | (want_out ? EPOLLOUT : 0), .data.ptr = c};
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Writes what it can; returns whether the socket should be watched for room. */
static int flush(int ep, conn *c) {
    for (;;) {
        if (c->out_pos == c->out_len) {
            c->out_pos = c->out_len = 0;
            if (c->job == NONE) {
                c->phase = READ_HEAD;
                return 0;
            }
            generate(c);
            if (c->out_len == 0) return 0; /* paced: nothing due yet */
        }
        ssize_t w = send(c->fd, c->out + c->out_pos, c->out_len - c->out_pos, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EAGAIN) return 1;
            close_conn(ep, c);
            return 0;
        }
        c->out_pos += (size_t)w;
    }
}

int main(void) {
    signal(SIGPIPE, SIG_IGN);
    int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = 0};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(ls, (struct sockaddr *)&addr, sizeof addr) || listen(ls, 512)) die("listen");
    socklen_t alen = sizeof addr;
    getsockname(ls, (struct sockaddr *)&addr, &alen);
    printf("port %d\n", ntohs(addr.sin_port));
    fflush(stdout);

    int ep = epoll_create1(0);
    struct epoll_event lev = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(ep, EPOLL_CTL_ADD, ls, &lev);
    conn *all = NULL;
    struct epoll_event evs[256];
    static char buf[1 << 18];
    for (;;) {
        /* Paced streams: wake when the next event is due. */
        long long now = wall_us(), wait_us = -1;
        for (conn *c = all; c; c = c->next) {
            if (c->fd < 0 || c->job != STREAM || c->pace_us <= 0 || c->out_len) continue;
            long long left = c->next_due_us - now;
            if (left < 0) left = 0;
            if (wait_us < 0 || left < wait_us) wait_us = left;
        }
        int timeout = wait_us < 0 ? -1 : (int)((wait_us + 999) / 1000);
        int n = epoll_wait(ep, evs, 256, timeout);
        for (int i = 0; i < n; i++) {
            conn *c = evs[i].data.ptr;
            if (!c) {
                int fd;
                while ((fd = accept4(ls, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    conn *nc = calloc(1, sizeof *nc);
                    if (!nc) die("calloc");
                    nc->fd = fd;
                    nc->next = all;
                    all = nc;
                    accepted_count++;
                    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = nc};
                    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
                }
                continue;
            }
            if (c->fd < 0) continue;
            if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
                ssize_t r = recv(c->fd, buf, sizeof buf, 0);
                if (r == 0 || (r < 0 && errno != EAGAIN)) {
                    close_conn(ep, c);
                    continue;
                }
                if (r > 0 && c->phase != SEND) on_bytes(c, buf, (size_t)r);
            }
            if (c->fd >= 0 && c->phase == SEND) set_interest(ep, c, flush(ep, c));
        }
        for (conn *c = all; c; c = c->next)
            if (c->fd >= 0 && c->phase == SEND && c->job == STREAM && c->pace_us > 0 &&
                c->out_len == 0 && wall_us() >= c->next_due_us)
                set_interest(ep, c, flush(ep, c));
        /* Forget closed connections now and then. */
        for (conn **p = &all; *p;) {
            if ((*p)->fd < 0) {
                conn *dead = *p;
                *p = dead->next;
                free(dead->out);
                free(dead->body);
                free(dead);
            } else {
                p = &(*p)->next;
            }
        }
    }
}
