#define _POSIX_C_SOURCE 200809L
#include "multipart.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Each part reads through our callbacks rather than curl_mime_filedata so that
 * a part can refuse to rewind once bytes left: libcurl would otherwise resend
 * a whole upload on a dead keep-alive connection without telling us. */
typedef struct part_source {
    FILE *file;
    const char *bytes;
    curl_off_t size;
    curl_off_t pos;
    int started;
} part_source;

static size_t read_part(char *out, size_t size, size_t nitems, void *arg) {
    part_source *src = arg;
    size_t want = size * nitems;
    size_t got;
    if (src->file) {
        got = fread(out, 1, want, src->file);
        if (got == 0 && ferror(src->file)) return CURL_READFUNC_ABORT;
    } else {
        curl_off_t left = src->size - src->pos;
        got = (curl_off_t)want < left ? want : (size_t)left;
        memcpy(out, src->bytes + src->pos, got);
    }
    src->pos += (curl_off_t)got;
    if (got) src->started = 1;
    return got;
}

static int seek_part(void *arg, curl_off_t offset, int origin) {
    part_source *src = arg;
    if (src->started || offset != 0 || origin != SEEK_SET) return CURL_SEEKFUNC_CANTSEEK;
    if (src->file && fseek(src->file, 0, SEEK_SET) != 0) return CURL_SEEKFUNC_FAIL;
    src->pos = 0;
    return CURL_SEEKFUNC_OK;
}

static void free_part(void *arg) {
    part_source *src = arg;
    if (src->file) fclose(src->file);
    free(src);
}

static const char *base_name(const char *path) {
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

static part_source *open_source(const dify_part *part, dify_error *err) {
    part_source *src = calloc(1, sizeof *src);
    if (!src) {
        dify_error_set(err, DIFY_ERR_NOMEM, "out of memory");
        return NULL;
    }
    if (!part->path) {
        src->bytes = part->data ? part->data : "";
        src->size = (curl_off_t)part->data_len;
        return src;
    }
    struct stat st;
    src->file = fopen(part->path, "rb");
    if (!src->file || fstat(fileno(src->file), &st) != 0 || !S_ISREG(st.st_mode)) {
        int saved = errno;
        dify_error_set(err, DIFY_ERR_IO, "cannot read %s: %s", part->path,
                       src->file ? "not a regular file" : strerror(saved));
        if (src->file) fclose(src->file);
        free(src);
        return NULL;
    }
    src->size = (curl_off_t)st.st_size;
    return src;
}

/* libcurl writes a part's media type into its header as given (and older
 * releases the name and file name too): a CR or LF would start a new header. */
static int fits_header(const char *text) {
    return !text || !text[strcspn(text, "\r\n")];
}

static int add_part(curl_mime *mime, const dify_part *part, dify_error *err) {
    const char *filename = part->filename;
    if (!filename && part->path) filename = base_name(part->path);
    if (!fits_header(part->name) || !fits_header(filename) || !fits_header(part->content_type)) {
        dify_error_set(err, DIFY_ERR_PROTOCOL,
                       "a part's name, file name or media type contains CR or LF");
        return -1;
    }
    curl_mimepart *mp = curl_mime_addpart(mime);
    if (!mp) {
        dify_error_set(err, DIFY_ERR_NOMEM, "out of memory");
        return -1;
    }
    part_source *src = open_source(part, err);
    if (!src) return -1;
    if (curl_mime_data_cb(mp, src->size, read_part, seek_part, free_part, src) != CURLE_OK) {
        free_part(src);
        dify_error_set(err, DIFY_ERR_NOMEM, "out of memory");
        return -1;
    }
    if (curl_mime_name(mp, part->name) != CURLE_OK ||
        (filename && curl_mime_filename(mp, filename) != CURLE_OK) ||
        (part->content_type && curl_mime_type(mp, part->content_type) != CURLE_OK)) {
        dify_error_set(err, DIFY_ERR_NOMEM, "out of memory");
        return -1;
    }
    return 0;
}

curl_mime *dify_multipart_build(CURL *curl, const dify_part *parts, size_t n, dify_error *err) {
    curl_mime *mime = curl_mime_init(curl);
    if (!mime) {
        dify_error_set(err, DIFY_ERR_NOMEM, "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        if (add_part(mime, &parts[i], err) != 0) {
            curl_mime_free(mime); /* frees the sources already attached */
            return NULL;
        }
    }
    return mime;
}
