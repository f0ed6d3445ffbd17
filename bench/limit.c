/* The limit: what raw libcurl does on this machine, with no Lua at all.
 *
 *   bench-limit blocking BASE_URL N       N sequential blocking chats on one reused handle
 *   bench-limit stream BASE_URL QUERY     one streamed chat, framed into events (no JSON)
 *
 * Prints "rate X" (calls/s or events/s). */
#define _POSIX_C_SOURCE 200809L
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

typedef struct sink {
    size_t bytes;
    long events;
    char last_byte; /* of the previous piece: a frame's blank line may straddle two */
} sink;

static size_t keep_count(char *p, size_t size, size_t n, void *arg) {
    ((sink *)arg)->bytes += size * n;
    (void)p;
    return size * n;
}

/* SSE framing as Dify sends it (LF line ends): a frame ends at an empty line. */
static size_t frame_events(char *p, size_t size, size_t n, void *arg) {
    sink *s = arg;
    size_t len = size * n;
    const char *start = p, *end = p + len, *lf = p;
    while ((lf = memchr(lf, '\n', (size_t)(end - lf))) != NULL) {
        char before = lf == start ? s->last_byte : lf[-1];
        if (before == '\n') s->events++;
        lf++;
    }
    if (len) s->last_byte = end[-1];
    return len;
}

static void setup(CURL *c, const char *url, const char *body, struct curl_slist *h) {
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: bench-limit blocking|stream BASE_URL N|QUERY\n");
        return 2;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    CURL *c = curl_easy_init();
    char url[512], body[1024];
    snprintf(url, sizeof url, "%s/chat-messages", argv[2]);
    struct curl_slist *h = NULL;
    h = curl_slist_append(h, "Authorization: Bearer app-bench");
    h = curl_slist_append(h, "Content-Type: application/json");
    sink s;
    memset(&s, 0, sizeof s);
    if (strcmp(argv[1], "blocking") == 0) {
        long n = atol(argv[3]);
        snprintf(body, sizeof body,
                 "{\"inputs\":{},\"query\":\"answer=1024\",\"response_mode\":\"blocking\","
                 "\"user\":\"bench\"}");
        setup(c, url, body, h);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, keep_count);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
        double t0 = now_s();
        for (long i = 0; i < n; i++) {
            CURLcode rc = curl_easy_perform(c);
            if (rc != CURLE_OK) {
                fprintf(stderr, "bench-limit: %s\n", curl_easy_strerror(rc));
                return 1;
            }
        }
        printf("rate %.1f\n", n / (now_s() - t0));
    } else {
        snprintf(body, sizeof body,
                 "{\"inputs\":{},\"query\":\"%s\",\"response_mode\":\"streaming\",\"user\":\"bench\"}",
                 argv[3]);
        h = curl_slist_append(h, "Accept: text/event-stream");
        setup(c, url, body, h);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, frame_events);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
        double t0 = now_s();
        CURLcode rc = curl_easy_perform(c);
        double dt = now_s() - t0;
        if (rc != CURLE_OK) {
            fprintf(stderr, "bench-limit: %s\n", curl_easy_strerror(rc));
            return 1;
        }
        printf("rate %.1f\nevents %ld\n", s.events / dt, s.events);
    }
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return 0;
}
