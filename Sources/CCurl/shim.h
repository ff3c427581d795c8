#include <curl/curl.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

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

/* OPENSOCKETFUNCTION: libcurl asks for each socket it connects, with the peer address it will
   connect to (after every look-up, for every attempt and redirect): where a connection guard decides. */
static inline CURLcode tm_curl_setopt_opensocket_callback(CURL *handle, curl_opensocket_callback value) {
    return curl_easy_setopt(handle, CURLOPT_OPENSOCKETFUNCTION, value);
}

/* The peer address in `address` as 4 (IPv4) or 16 (IPv6) bytes into `out`; returns the count, 0 for
   another family. (curl_sockaddr's `addr` is as long as `addrlen` says, longer than struct sockaddr.) */
static inline int tm_curl_sockaddr_bytes(const struct curl_sockaddr *address, unsigned char *out) {
    if (address->family == AF_INET && address->addrlen >= sizeof(struct sockaddr_in)) {
        memcpy(out, &((const struct sockaddr_in *)(const void *)&address->addr)->sin_addr, 4);
        return 4;
    }
    if (address->family == AF_INET6 && address->addrlen >= sizeof(struct sockaddr_in6)) {
        memcpy(out, &((const struct sockaddr_in6 *)(const void *)&address->addr)->sin6_addr, 16);
        return 16;
    }
    return 0;
}

/* The socket libcurl would have opened itself for `address`. */
static inline curl_socket_t tm_curl_open_socket(const struct curl_sockaddr *address) {
    return socket(address->family, address->socktype, address->protocol);
}

/* A numeric IPv4 or IPv6 address (as libcurl reports CURLINFO_PRIMARY_IP) as 4 or 16 bytes; 0 if it is neither. */
static inline int tm_parse_ip(const char *text, unsigned char *out) {
    if (inet_pton(AF_INET, text, out) == 1) return 4;
    if (inet_pton(AF_INET6, text, out) == 1) return 16;
    return 0;
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
