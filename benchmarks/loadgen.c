/* A small closed-loop HTTP/1.1 load generator for `make bench` (benchmarks/run.py builds it with
 * the system C compiler into a temporary folder).
 *
 * Why not wrk or a Python client: wrk is not installed and nothing is installed by hand; a Python
 * client spends tens of microseconds of CPU per request, which on a 2-core machine is taken from
 * the server under test. Here each connection is one thread blocked in send()/recv() on a
 * pre-built request, so the client costs a couple of system calls per request.
 *
 * usage: loadgen HOST PORT SECONDS CONNECTIONS REQUEST_FILE [TIMEOUT_SECONDS]
 *   REQUEST_FILE holds one complete request (headers and body), sent as is, again and again,
 *   on keep-alive connections. With TIMEOUT_SECONDS, a request not answered within that time
 *   counts as an error and its connection is replaced (`run.py --only stall`).
 * output (stdout): "requests <n> seconds <s> errors <e>" then one latency in microseconds a line.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static const char *host;
static int port;
static double seconds;
static char *request;
static size_t request_len;
static struct timeval timeout; /* zero: wait as long as it takes */

struct worker {
    pthread_t thread;
    unsigned *latency_us;
    size_t count, cap;
    long errors;
};

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int connect_to(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, host, &addr.sin_addr);
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* One request/response exchange; 0 on a 200 answer read whole, -1 otherwise. */
static int exchange(int fd, char *buf, size_t cap) {
    size_t sent = 0;
    while (sent < request_len) {
        ssize_t n = send(fd, request + sent, request_len - sent, MSG_NOSIGNAL);
        if (n <= 0) return -1;
        sent += (size_t)n;
    }
    size_t have = 0;
    char *end = NULL;
    while (!end) {
        if (have == cap - 1) return -1;
        ssize_t n = recv(fd, buf + have, cap - 1 - have, 0);
        if (n <= 0) return -1;
        have += (size_t)n;
        buf[have] = 0;
        end = strstr(buf, "\r\n\r\n");
    }
    int ok = strncmp(buf, "HTTP/1.1 200", 12) == 0;
    size_t length = 0;
    for (char *line = strstr(buf, "\r\n"); line && line < end; line = strstr(line + 2, "\r\n")) {
        if (strncasecmp(line + 2, "Content-Length:", 15) == 0) length = strtoul(line + 17, NULL, 10);
    }
    size_t body = have - (size_t)(end + 4 - buf);
    while (body < length) {
        ssize_t n = recv(fd, buf, cap - 1, 0);
        if (n <= 0) return -1;
        body += (size_t)n;
    }
    return ok ? 0 : -1;
}

static void *run(void *arg) {
    struct worker *w = arg;
    size_t cap = 1 << 20;
    char *buf = malloc(cap);
    int fd = connect_to();
    double stop = now() + seconds;
    while (fd >= 0) {
        double start = now();
        if (start >= stop) break;
        if (exchange(fd, buf, cap) < 0) {
            w->errors++;
            close(fd);
            fd = connect_to();
            continue;
        }
        if (w->count == w->cap) {
            w->cap = w->cap ? w->cap * 2 : 4096;
            w->latency_us = realloc(w->latency_us, w->cap * sizeof *w->latency_us);
        }
        w->latency_us[w->count++] = (unsigned)((now() - start) * 1e6);
    }
    if (fd >= 0) close(fd);
    free(buf);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 6 && argc != 7) {
        fprintf(stderr, "usage: %s HOST PORT SECONDS CONNECTIONS REQUEST_FILE [TIMEOUT_SECONDS]\n",
                argv[0]);
        return 2;
    }
    if (argc == 7) {
        double t = atof(argv[6]);
        timeout.tv_sec = (time_t)t;
        timeout.tv_usec = (suseconds_t)((t - (double)timeout.tv_sec) * 1e6);
    }
    host = argv[1];
    port = atoi(argv[2]);
    seconds = atof(argv[3]);
    int connections = atoi(argv[4]);
    FILE *f = fopen(argv[5], "rb");
    if (!f) {
        perror(argv[5]);
        return 2;
    }
    fseek(f, 0, SEEK_END);
    request_len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    request = malloc(request_len);
    if (fread(request, 1, request_len, f) != request_len) return 2;
    fclose(f);

    struct worker *workers = calloc((size_t)connections, sizeof *workers);
    double start = now();
    for (int i = 0; i < connections; i++) pthread_create(&workers[i].thread, NULL, run, &workers[i]);
    size_t total = 0;
    long errors = 0;
    for (int i = 0; i < connections; i++) {
        pthread_join(workers[i].thread, NULL);
        total += workers[i].count;
        errors += workers[i].errors;
    }
    printf("requests %zu seconds %.3f errors %ld\n", total, now() - start, errors);
    for (int i = 0; i < connections; i++)
        for (size_t j = 0; j < workers[i].count; j++) printf("%u\n", workers[i].latency_us[j]);
    return 0;
}
