/*
 * blkbench: a tiny O_DIRECT block benchmark for the guest of bench/virtio_blk.py (fio is not
 * in the lab's busybox initramfs). Built static on the host (gcc -static -O2) and put into an
 * extra initramfs archive beside the lab's initrd-l2.gz.
 *
 * usage: blkbench DEV MODE BS QD SECONDS
 *   MODE  randread  BS-aligned random offsets over the whole device (xorshift64*)
 *         read      sequential, wrapping at the end of the device
 *         write     sequential, wrapping (overwrites the device!)
 *   QD    requests in flight, through Linux native AIO (io_setup/io_submit/io_getevents as raw
 *         syscalls: no libaio needed); every completion is refilled at once, as fio's libaio
 *         engine does with iodepth_batch_complete=1
 * Runs for SECONDS of CLOCK_MONOTONIC (kvm-clock in the guest), then drains and prints one line:
 *   BLKBENCH-RESULT mode=M bs=B qd=Q ios=N bytes=N secs=S iops=X mibps=Y
 * Exit status 1 on any error (message on stderr), so a failing device shows.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/aio_abi.h>
#include <linux/fs.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define MAX_QD 256

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint64_t rng_next(void)
{
    /* xorshift64* (Vigna): cheap and good enough to defeat read-ahead and the host cache's
     * locality; fixed seed so every run and every VMM issues the same offsets. */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ull;
}

static struct {
    aio_context_t ctx;
    int fd, random, write;
    long bs;
    uint64_t blocks, next_block;
    struct iocb cbs[MAX_QD];
    void *bufs[MAX_QD];
} g;

static int fail(const char *what)
{
    fprintf(stderr, "blkbench: %s: %s\n", what, strerror(errno));
    return 1;
}

/* (re)arm request i at the next offset and submit it; 0 on success */
static int submit(long i)
{
    struct iocb *cb = &g.cbs[i];
    memset(cb, 0, sizeof(*cb));
    const uint64_t blk = g.random ? rng_next() % g.blocks : g.next_block++ % g.blocks;
    cb->aio_data = (uint64_t)i;
    cb->aio_lio_opcode = g.write ? IOCB_CMD_PWRITE : IOCB_CMD_PREAD;
    cb->aio_fildes = (uint32_t)g.fd;
    cb->aio_buf = (uint64_t)(uintptr_t)g.bufs[i];
    cb->aio_nbytes = (uint64_t)g.bs;
    cb->aio_offset = (int64_t)(blk * (uint64_t)g.bs);
    struct iocb *one = cb;
    return syscall(SYS_io_submit, g.ctx, 1, &one) == 1 ? 0 : fail("io_submit");
}

int main(int argc, char **argv)
{
    if (argc != 6) {
        fprintf(stderr, "usage: blkbench DEV randread|read|write BS QD SECONDS\n");
        return 2;
    }
    const char *dev = argv[1], *mode = argv[2];
    const long bs = atol(argv[3]), qd = atol(argv[4]);
    const double secs = atof(argv[5]);
    const int random = strcmp(mode, "randread") == 0;
    const int write = strcmp(mode, "write") == 0;
    if (!random && !write && strcmp(mode, "read") != 0) {
        fprintf(stderr, "blkbench: unknown mode %s\n", mode);
        return 2;
    }
    if (bs < 512 || bs % 512 != 0 || qd < 1 || qd > MAX_QD || secs <= 0) {
        fprintf(stderr, "blkbench: bad BS/QD/SECONDS\n");
        return 2;
    }

    int fd = open(dev, (write ? O_RDWR : O_RDONLY) | O_DIRECT);
    if (fd < 0)
        return fail(dev);
    uint64_t size = 0;
    struct stat st;
    if (fstat(fd, &st) != 0)
        return fail("fstat");
    if (S_ISREG(st.st_mode))
        size = (uint64_t)st.st_size; /* a file: lets the tool be tried on the host */
    else if (ioctl(fd, BLKGETSIZE64, &size) != 0)
        return fail("BLKGETSIZE64");
    const uint64_t blocks = size / (uint64_t)bs;
    if (blocks == 0) {
        fprintf(stderr, "blkbench: device smaller than one block\n");
        return 1;
    }

    g.fd = fd;
    g.random = random;
    g.write = write;
    g.bs = bs;
    g.blocks = blocks;
    if (syscall(SYS_io_setup, qd, &g.ctx) != 0)
        return fail("io_setup");
    static struct io_event events[MAX_QD];
    for (long i = 0; i < qd; i++) {
        if (posix_memalign(&g.bufs[i], 4096, (size_t)bs) != 0)
            return fail("posix_memalign");
        memset(g.bufs[i], 0x5a ^ (int)i, (size_t)bs);
    }
    uint64_t ios = 0;
    long inflight = 0;

    const double t0 = now();
    const double deadline = t0 + secs;
    for (long i = 0; i < qd; i++, inflight++)
        if (submit(i) != 0)
            return 1;
    int stopping = 0;
    while (inflight > 0) {
        long n = syscall(SYS_io_getevents, g.ctx, 1, qd, events, NULL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return fail("io_getevents");
        }
        if (!stopping && now() >= deadline)
            stopping = 1;
        for (long e = 0; e < n; e++) {
            inflight--;
            if (events[e].res != bs) {
                errno = events[e].res < 0 ? (int)-events[e].res : EIO;
                return fail("short or failed request");
            }
            ios++;
            if (!stopping) {
                if (submit((long)events[e].data) != 0)
                    return 1;
                inflight++;
            }
        }
    }
    const double elapsed = now() - t0;
    const double bytes = (double)ios * (double)bs;
    printf("BLKBENCH-RESULT mode=%s bs=%ld qd=%ld ios=%llu bytes=%.0f secs=%.3f iops=%.1f "
           "mibps=%.2f\n",
           mode, bs, qd, (unsigned long long)ios, bytes, elapsed, (double)ios / elapsed,
           bytes / elapsed / 1048576.0);
    syscall(SYS_io_destroy, g.ctx);
    close(fd);
    return 0;
}
