#define _GNU_SOURCE
#include <signal.h>
#include <dlfcn.h>
/* valgrind 3.19 writes to sigsuspend's mask; libdispatch passes one in read-only memory. */
int sigsuspend(const sigset_t *mask) {
    sigset_t copy = *mask;
    int (*real)(const sigset_t *) = (int (*)(const sigset_t *))dlsym(RTLD_NEXT, "sigsuspend");
    return real(&copy);
}
