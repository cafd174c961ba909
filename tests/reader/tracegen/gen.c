/* Emits test/bench events: gen [all|op] THREADS COUNT_PER_THREAD [WRITE_EVERY]
 * `all`: gen:all_types and gen:empty events; `op`: gen:op events. With WRITE_EVERY > 0 a
 * thread also write(2)s 1 byte to /dev/null every WRITE_EVERY events (kernel events to
 * correlate). */
#define LTTNG_UST_TRACEPOINT_CREATE_PROBES
#define LTTNG_UST_TRACEPOINT_DEFINE
#include "gen_tp.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *mode;
static long count, write_every;
static int devnull;

static void *run(void *arg)
{
    long t = (long) arg;
    static const char *keys[] = {"alpha", "beta", "gamma", "", "a longer key with spaces é"};
    uint16_t seq[8];
    char s[32];
    for (long i = 0; i < count; i++) {
        long v = t * 1000000 + i;
        if (strcmp(mode, "all") == 0) {
            unsigned int n = (unsigned int) (i % 6);
            for (unsigned int k = 0; k < n; k++)
                seq[k] = (uint16_t) (v + k);
            snprintf(s, sizeof s, "s%ld-%s", v, keys[i % 5]);
            lttng_ust_tracepoint(gen, all_types, v, s, seq, n);
            if (i % 3 == 0)
                lttng_ust_tracepoint(gen, empty);
        } else {
            lttng_ust_tracepoint(gen, op, v, (uint32_t) (i * 13 % 4096), (double) i * 0.25,
                                 keys[i % 5], (int) (i % 4));
        }
        if (write_every > 0 && i % write_every == 0) {
            if (write(devnull, "x", 1) < 0)
                perror("write");
        }
    }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: gen all|op THREADS COUNT [WRITE_EVERY]\n");
        return 2;
    }
    mode = argv[1];
    int nthreads = atoi(argv[2]);
    count = atol(argv[3]);
    write_every = argc > 4 ? atol(argv[4]) : 0;
    devnull = open("/dev/null", O_WRONLY);
    pthread_t th[64];
    if (nthreads > 64)
        nthreads = 64;
    for (long t = 0; t < nthreads; t++)
        pthread_create(&th[t], NULL, run, (void *) t);
    for (int t = 0; t < nthreads; t++)
        pthread_join(th[t], NULL);
    return 0;
}
