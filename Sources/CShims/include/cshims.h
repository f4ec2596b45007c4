#ifndef S3A_CSHIMS_H
#define S3A_CSHIMS_H
// Typed, non-variadic doors to curl_easy_setopt and curl_easy_getinfo, which Swift cannot call.
#include <curl/curl.h>
#include <stddef.h>
#include <stdint.h>

typedef size_t (*s3a_data_callback)(char *buffer, size_t size, size_t nitems, void *userdata);

CURLcode s3a_setopt_long(CURL *handle, CURLoption option, long value);
CURLcode s3a_setopt_off(CURL *handle, CURLoption option, curl_off_t value);
CURLcode s3a_setopt_string(CURL *handle, CURLoption option, const char *value);
CURLcode s3a_setopt_pointer(CURL *handle, CURLoption option, void *value);
CURLcode s3a_setopt_slist(CURL *handle, CURLoption option, struct curl_slist *value);
CURLcode s3a_setopt_callback(CURL *handle, CURLoption option, s3a_data_callback value);
CURLcode s3a_getinfo_long(CURL *handle, CURLINFO info, long *value);
CURLcode s3a_getinfo_off(CURL *handle, CURLINFO info, curl_off_t *value);

/// syncfs(2) is a GNU extension the Swift Glibc module does not show.
int s3a_syncfs(int fd);

/// Asks for a pipe's buffer to hold `size` bytes (fcntl F_SETPIPE_SZ, Linux); the new size, or -1 with errno.
int s3a_grow_pipe(int fd, int size);

/// CRC-64/NVME (S3's CRC64NVME) of `count` bytes, continuing from `crc` (0 to start). Thread-safe.
uint64_t s3a_crc64nvme_update(uint64_t crc, const void *bytes, size_t count);
/// The same by tables only, whatever the CPU: for the tests and the benchmark.
uint64_t s3a_crc64nvme_update_portable(uint64_t crc, const void *bytes, size_t count);
/// 1 when this CPU takes the carry-less multiply path.
int s3a_crc64nvme_uses_clmul(void);
/// The CRC of A followed by B, from the CRC of each and B's length in bytes.
uint64_t s3a_crc64nvme_combine(uint64_t first, uint64_t second, uint64_t second_length);

#endif
