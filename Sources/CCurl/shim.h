#include <curl/curl.h>

/*
 * curl_easy_setopt and curl_easy_getinfo are variadic, and Swift cannot call variadic C functions.
 * These typed, non-variadic wrappers fix the argument type per call, which is also what libcurl
 * requires: a `long` option must receive a `long`, a `curl_off_t` option a `curl_off_t`.
 */

static inline CURLcode tm_curl_global_init(void) {
    return curl_global_init(CURL_GLOBAL_DEFAULT);
}

static inline CURLcode tm_curl_setopt_long(CURL *handle, CURLoption option, long value) {
    return curl_easy_setopt(handle, option, value);
}

static inline CURLcode tm_curl_setopt_off_t(CURL *handle, CURLoption option, curl_off_t value) {
    return curl_easy_setopt(handle, option, value);
}

/* String options: libcurl copies the string (except CURLOPT_POSTFIELDS, which callers must not use with this). */
static inline CURLcode tm_curl_setopt_string(CURL *handle, CURLoption option, const char *value) {
    return curl_easy_setopt(handle, option, value);
}

/* Pointer options: WRITEDATA, HEADERDATA, ERRORBUFFER, COPYPOSTFIELDS, ... */
static inline CURLcode tm_curl_setopt_ptr(CURL *handle, CURLoption option, void *value) {
    return curl_easy_setopt(handle, option, value);
}

static inline CURLcode tm_curl_setopt_slist(CURL *handle, CURLoption option, struct curl_slist *value) {
    return curl_easy_setopt(handle, option, value);
}

/* WRITEFUNCTION and HEADERFUNCTION share this signature. */
static inline CURLcode tm_curl_setopt_write_callback(CURL *handle, CURLoption option, curl_write_callback value) {
    return curl_easy_setopt(handle, option, value);
}

/* PREREQFUNCTION (libcurl >= 7.80): called once per attempt, when a connection is ready and before
   the request is written on it. */
static inline CURLcode tm_curl_setopt_prereq_callback(CURL *handle, curl_prereq_callback value) {
    return curl_easy_setopt(handle, CURLOPT_PREREQFUNCTION, value);
}

static inline CURLcode tm_curl_getinfo_long(CURL *handle, CURLINFO info, long *value) {
    return curl_easy_getinfo(handle, info, value);
}

static inline CURLcode tm_curl_getinfo_off_t(CURL *handle, CURLINFO info, curl_off_t *value) {
    return curl_easy_getinfo(handle, info, value);
}

static inline CURLcode tm_curl_getinfo_string(CURL *handle, CURLINFO info, char **value) {
    return curl_easy_getinfo(handle, info, value);
}
