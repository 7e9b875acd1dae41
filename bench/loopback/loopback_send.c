/*
 * loopback_send: what one 128 KiB send costs the sending thread on loopback TCP, by send method, with a
 * receiver that sleeps in recv() between arrivals or one that busy-polls (MSG_DONTWAIT).
 *
 * Why: at 128 KiB writes the generator (bench/gen) spends about as much CPU per command as the C floor
 * target, all of it in the kernel. On loopback the sender's send call also runs the receiver's TCP
 * receive (softirq) and wakes the receiving thread when it sleeps. This separates the two: the sending
 * method (copy, sendfile from a memfd, vmsplice + splice, tee from a filled pipe + splice) against the
 * receiver's sleeping. docs/perf.md "Generator headroom at 128 KiB writes" has the figures.
 *
 * Build: cc -O2 -o loopback_send loopback_send.c
 * Usage: loopback_send METHOD RECEIVER [COUNT]
 *   METHOD: copy | sendfile | vmsplice | tee;  RECEIVER: sleep | poll;  COUNT: sends (40000)
 *   The sender runs on CPU 1, the receiver (a child process) on CPU 0. Each send is a 24-byte header
 *   (MSG_MORE) and 128 KiB of data, as an H2CData PDU. Prints the sender's CPU microseconds per send.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define DATA_BYTES (128 * 1024)

enum method { COPY, SENDFILE, VMSPLICE, TEE };

static void die(const char *what) {
  perror(what);
  exit(1);
}

static void pin(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (sched_setaffinity(0, sizeof set, &set) != 0) die("sched_setaffinity");
}

static double cpu_seconds(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static double wall_seconds(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

/* The receiver: reads and drops everything until the sender closes. */
static void receive(int listener, int poll) {
  pin(0);
  int fd = accept(listener, NULL, NULL);
  if (fd < 0) die("accept");
  static char buf[1 << 20];
  for (;;) {
    ssize_t n = recv(fd, buf, sizeof buf, poll ? MSG_DONTWAIT : 0);
    if (n == 0) _exit(0);
    if (n < 0 && !poll) die("recv");
  }
}

/* Moves n bytes out of a pipe into the socket. */
static void splice_out(int pipe_rd, int sock, size_t n) {
  while (n) {
    ssize_t w = splice(pipe_rd, NULL, sock, NULL, n, 0);
    if (w <= 0) die("splice");
    n -= (size_t)w;
  }
}

static void send_data(enum method m, int sock, char *buf, int memfd, int pipe_fds[2], int filled_rd) {
  size_t left = DATA_BYTES;
  if (m == COPY) {
    while (left) {
      ssize_t w = send(sock, buf + DATA_BYTES - left, left, 0);
      if (w <= 0) die("send");
      left -= (size_t)w;
    }
  } else if (m == SENDFILE) {
    off_t off = 0;
    while (left) {
      ssize_t w = sendfile(sock, memfd, &off, left);
      if (w <= 0) die("sendfile");
      left -= (size_t)w;
    }
  } else if (m == VMSPLICE) {
    struct iovec v = { buf, DATA_BYTES };
    while (v.iov_len) {
      ssize_t w = vmsplice(pipe_fds[1], &v, 1, 0);
      if (w <= 0) die("vmsplice");
      v.iov_base = (char *)v.iov_base + w;
      v.iov_len -= (size_t)w;
      splice_out(pipe_fds[0], sock, (size_t)w);
    }
  } else {
    /* tee duplicates the filled pipe's page references (it does not consume them). */
    ssize_t t = tee(filled_rd, pipe_fds[1], DATA_BYTES, 0);
    if (t != DATA_BYTES) die("tee");
    splice_out(pipe_fds[0], sock, DATA_BYTES);
  }
}

int main(int argc, char **argv) {
  static const char *names[] = { "copy", "sendfile", "vmsplice", "tee" };
  enum method m = COPY;
  int found = 0;
  for (int i = 0; argc > 1 && i < 4; i++)
    if (strcmp(argv[1], names[i]) == 0) m = (enum method)i, found = 1;
  if (argc < 3 || !found || (strcmp(argv[2], "sleep") != 0 && strcmp(argv[2], "poll") != 0)) {
    fprintf(stderr, "usage: loopback_send copy|sendfile|vmsplice|tee sleep|poll [COUNT]\n");
    return 2;
  }
  int poll = strcmp(argv[2], "poll") == 0;
  long count = argc > 3 ? atol(argv[3]) : 40000;

  int one = 1;
  struct sockaddr_in addr = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
  socklen_t len = sizeof addr;
  int listener = socket(AF_INET, SOCK_STREAM, 0);
  if (listener < 0 || bind(listener, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(listener, 1) != 0 ||
      getsockname(listener, (struct sockaddr *)&addr, &len) != 0)
    die("listen");
  pid_t child = fork();
  if (child < 0) die("fork");
  if (child == 0) receive(listener, poll);

  pin(1);
  int sock = socket(AF_INET, SOCK_STREAM, 0);
  if (sock < 0 || connect(sock, (struct sockaddr *)&addr, sizeof addr) != 0) die("connect");
  setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);

  char *buf = aligned_alloc(4096, DATA_BYTES);
  memset(buf, 0x5a, DATA_BYTES);
  int memfd = memfd_create("loopback_send", 0);
  if (memfd < 0 || ftruncate(memfd, DATA_BYTES) != 0 || pwrite(memfd, buf, DATA_BYTES, 0) != DATA_BYTES) die("memfd");
  int pipe_fds[2], filled[2];
  if (pipe(pipe_fds) != 0 || pipe(filled) != 0) die("pipe");
  if (fcntl(pipe_fds[0], F_SETPIPE_SZ, 1 << 20) < 0 || fcntl(filled[0], F_SETPIPE_SZ, 1 << 20) < 0) die("F_SETPIPE_SZ");
  if (m == TEE) {
    struct iovec v = { buf, DATA_BYTES };
    if (vmsplice(filled[1], &v, 1, 0) != DATA_BYTES) die("vmsplice (fill)");
  }

  char header[24] = { 0x07 }; /* H2CData's PDU type; the receiver does not parse it */
  double cpu0 = cpu_seconds(), wall0 = wall_seconds();
  for (long i = 0; i < count; i++) {
    if (send(sock, header, sizeof header, MSG_MORE) != sizeof header) die("send header");
    send_data(m, sock, buf, memfd, pipe_fds, filled[0]);
  }
  double cpu = cpu_seconds() - cpu0, wall = wall_seconds() - wall0;
  printf("%-8s receiver %-5s sender CPU %.1f us per 128 KiB, %.2f GB/s\n", names[m], argv[2], cpu * 1e6 / count,
         count * (double)DATA_BYTES / wall / 1e9);
  close(sock);
  waitpid(child, NULL, 0);
  return 0;
}
