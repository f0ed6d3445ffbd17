/* multipart/form-data bodies for uploads, built on curl_mime. */
#ifndef DIFY_MULTIPART_H
#define DIFY_MULTIPART_H

#include <curl/curl.h>
#include <stddef.h>

#include "error.h"

typedef struct dify_part {
    const char *name;
    const char *path; /* streamed from this file when set */
    const char *data; /* else these bytes, which must outlive the transfer */
    size_t data_len;
    const char *filename;     /* NULL: the path's base name, or none */
    const char *content_type; /* NULL: none (a plain form field) */
} dify_part;

/* Returns NULL with err set (DIFY_ERR_IO when a file cannot be opened). */
curl_mime *dify_multipart_build(CURL *curl, const dify_part *parts, size_t n, dify_error *err);

#endif
