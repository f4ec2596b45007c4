#define _GNU_SOURCE
#include <unistd.h>
#include <fcntl.h>
#include "cshims.h"

CURLcode s3a_setopt_long(CURL *h, CURLoption o, long v) { return curl_easy_setopt(h, o, v); }
CURLcode s3a_setopt_off(CURL *h, CURLoption o, curl_off_t v) { return curl_easy_setopt(h, o, v); }
CURLcode s3a_setopt_string(CURL *h, CURLoption o, const char *v) { return curl_easy_setopt(h, o, v); }
CURLcode s3a_setopt_pointer(CURL *h, CURLoption o, void *v) { return curl_easy_setopt(h, o, v); }
CURLcode s3a_setopt_slist(CURL *h, CURLoption o, struct curl_slist *v) { return curl_easy_setopt(h, o, v); }
CURLcode s3a_setopt_callback(CURL *h, CURLoption o, s3a_data_callback v) { return curl_easy_setopt(h, o, v); }
CURLcode s3a_getinfo_long(CURL *h, CURLINFO i, long *v) { return curl_easy_getinfo(h, i, v); }
CURLcode s3a_getinfo_off(CURL *h, CURLINFO i, curl_off_t *v) { return curl_easy_getinfo(h, i, v); }
int s3a_syncfs(int fd) { return syncfs(fd); }
int s3a_grow_pipe(int fd, int size) { return fcntl(fd, F_SETPIPE_SZ, size); }
