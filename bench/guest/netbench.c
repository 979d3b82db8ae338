/* netbench: the guest side of bench/virtio_net.py's TCP throughput workload.
 *
 *   netbench send HOST PORT SECONDS [CHUNK]
 *
 * Connects to HOST:PORT and writes zeros in CHUNK-byte write(2)s (default 256 KiB) until
 * SECONDS of the guest's CLOCK_MONOTONIC have passed, then shuts the connection down and
 * prints one line:
 *   NETBENCH-SEND bytes=N secs=S mibps=M
 * The host's receiver times first byte -> EOF itself; this line is the guest's view. Static,
 * no libc beyond POSIX: it runs in the lab's busybox initramfs. Big writes instead of
 * busybox nc's small read/write loop, so the guest's syscalls are not what is measured.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int usage(void)
{
    fprintf(stderr, "usage: netbench send HOST PORT SECONDS [CHUNK]\n");
    return 2;
}

int main(int argc, char **argv)
{
    if (argc < 5 || strcmp(argv[1], "send") != 0)
        return usage();
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((unsigned short)atoi(argv[3]));
    if (inet_pton(AF_INET, argv[2], &addr.sin_addr) != 1)
        return usage();
    double seconds = atof(argv[4]);
    size_t chunk = argc > 5 ? (size_t)atol(argv[5]) : 256 * 1024;
    if (seconds <= 0 || chunk == 0)
        return usage();
    char *buf = calloc(1, chunk);
    if (!buf) {
        perror("netbench: calloc");
        return 1;
    }
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        perror("netbench: connect");
        return 1;
    }
    unsigned long long total = 0;
    double t0 = now(), t = t0;
    while (t - t0 < seconds) {
        ssize_t n = write(fd, buf, chunk);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            perror("netbench: write");
            return 1;
        }
        total += (unsigned long long)n;
        t = now();
    }
    /* FIN after everything queued: the receiver's EOF ends its clock */
    shutdown(fd, SHUT_WR);
    char sink[256];
    while (read(fd, sink, sizeof sink) > 0) {
    }
    close(fd);
    t = now();
    printf("NETBENCH-SEND bytes=%llu secs=%.3f mibps=%.2f\n", total, t - t0,
           (double)total / (t - t0) / (1024.0 * 1024.0));
    return 0;
}
