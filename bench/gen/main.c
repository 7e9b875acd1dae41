/* nvme_tcp_gen: threads, the clock and the report. The main thread brings every controller up
 * (blocking, one after the other), checks the geometry as `nvmetd perf` does, starts one pinned
 * thread per worker, then runs the warmup and the measured window (progress each second; with
 * NVMETD_PERF_MARKERS=1, "@window-start" and "@window-end" lines on stderr at the window's edges,
 * for bench/run.ts) and prints the report.
 *
 * Build: cc -O2 -pthread -o nvme_tcp_gen, every .c file of bench/gen, -lm
 * (bench/targets.ts does it).
 * Exit code: 0, 1 when a command failed or --verify found wrong data, 2 on bad usage. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "gen.h"

#define MAX_VERIFY_UNITS (64ull * 1024 * 1024)

volatile int g_phase = PH_SETUP;
uint64_t g_io_start_ns;
volatile int g_ready = 0;
static volatile sig_atomic_t g_interrupted;

static void on_signal(int s) { (void)s; g_interrupted = 1; }

static void die(const char *fmt, const char *arg) {
  fprintf(stderr, "nvme_tcp_gen: ");
  fprintf(stderr, fmt, arg);
  fprintf(stderr, "\n");
  exit(1);
}

static void *thread_main(void *arg) {
  struct thread *t = arg;
  const struct opts *o = t->o;
  if (o->ncpus > 0) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(o->cpus[t->index % o->ncpus], &set);
    if (sched_setaffinity(0, sizeof set, &set) != 0) fprintf(stderr, "nvme_tcp_gen: pinning thread %d to CPU %d: %s\n", t->index, o->cpus[t->index % o->ncpus], strerror(errno));
  }
  engine_run(t);
  return NULL;
}

static double rusage_sec(const struct timeval *tv) { return (double)tv->tv_sec + (double)tv->tv_usec / 1e6; }

/* Sleeps until `until` (ns), printing a progress line at each whole second since t0. */
static void wait_until(const struct opts *o, struct thread *ts, uint64_t t0, uint64_t until, const char *phase, uint64_t *last_t, uint64_t *last_ios, uint64_t *last_bytes) {
  for (;;) {
    uint64_t now = now_ns();
    if (now >= until || g_interrupted) return;
    uint64_t next_tick = t0 + ((now - t0) / 1000000000ull + 1) * 1000000000ull;
    uint64_t wake = next_tick < until ? next_tick : until;
    struct timespec d = {(time_t)((wake - now) / 1000000000ull), (long)((wake - now) % 1000000000ull)};
    nanosleep(&d, NULL);
    if (o->progress && wake == next_tick) {
      uint64_t ios = 0, bytes = 0, errors = 0;
      for (int i = 0; i < o->workers; i++) {
        ios += __atomic_load_n(&ts[i].st.total_ios, __ATOMIC_RELAXED);
        bytes += __atomic_load_n(&ts[i].st.total_bytes, __ATOMIC_RELAXED);
        errors += ts[i].st.errors;
      }
      double dt = (double)(next_tick - *last_t) / 1e9;
      printf("[%4.0f s %s] %9.0f IOPS %9.1f MiB/s", (double)(next_tick - t0) / 1e9, phase, (double)(ios - *last_ios) / dt,
             (double)(bytes - *last_bytes) / 1048576 / dt);
      if (errors) printf("  errors %llu", (unsigned long long)errors);
      printf("\n");
      fflush(stdout);
      *last_t = next_tick;
      *last_ios = ios;
      *last_bytes = bytes;
    }
  }
}

int main(int argc, char **argv) {
  static struct opts o;
  parse_options(argc, argv, &o);
  gen_crc_init();
  signal(SIGPIPE, SIG_IGN);
  struct sigaction sa = {.sa_handler = on_signal};
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);

  uint8_t hostid[16];
  if (getrandom(hostid, 16, 0) != 16) memset(hostid, 0x5a, 16);
  struct thread *ts = calloc((size_t)o.workers, sizeof *ts);
  static struct layout l;
  if (!ts) die("%s", "out of memory");
  for (int i = 0; i < o.workers; i++) {
    struct thread *t = &ts[i];
    t->index = i;
    t->o = &o;
    t->l = &l;
    t->io = calloc((size_t)o.connections, sizeof *t->io);
    if (!t->io) die("%s", "out of memory");
    char err[256];
    if (ctrl_setup(&o, &t->admin, t->io, o.connections, &t->info, hostid, err, sizeof err) < 0) die("%s", err);
  }
  /* The geometry checks of src/perf/job.ts. */
  char msg[256];
  const struct ctrl_info *ci = &ts[0].info;
  uint64_t ns_bytes = ci->ns_blocks * ci->block_size;
  if (o.io_size % ci->block_size) { snprintf(msg, sizeof msg, "--io-size %u is not a multiple of the namespace's %u-byte blocks", o.io_size, ci->block_size); die("%s", msg); }
  if (ci->mdts_bytes && o.io_size > ci->mdts_bytes) { snprintf(msg, sizeof msg, "--io-size %u is beyond the controller's MDTS (%u bytes)", o.io_size, ci->mdts_bytes); die("%s", msg); }
  if (o.span > ns_bytes) { snprintf(msg, sizeof msg, "--span %llu is beyond the namespace (%llu bytes)", (unsigned long long)o.span, (unsigned long long)ns_bytes); die("%s", msg); }
  l.io_size = o.io_size;
  l.block_size = ci->block_size;
  l.nlb = o.io_size / ci->block_size;
  l.span_units = (o.span ? o.span : ns_bytes) / o.io_size;
  if (l.span_units < 1) die("%s", "the namespace is smaller than one I/O");
  uint64_t slots = (uint64_t)o.workers * o.connections * o.qd;
  if (o.verify) {
    l.stripe_units = l.span_units / slots;
    if (l.stripe_units < 1) { snprintf(msg, sizeof msg, "--verify gives each outstanding command its own part of the span: %llu I/O units for %llu commands is too few", (unsigned long long)l.span_units, (unsigned long long)slots); die("%s", msg); }
    if (l.span_units > MAX_VERIFY_UNITS) die("%s", "--verify tracks every I/O unit: limit the span with --span (at most 67108864 units)");
    l.last_gen = calloc(l.span_units, sizeof *l.last_gen);
    if (!l.last_gen) die("%s", "out of memory");
  }
  uint64_t runners = (uint64_t)o.workers * o.connections;
  for (int i = 0; i < o.workers; i++)
    for (int c = 0; c < o.connections; c++) {
      uint64_t index = (uint64_t)i * o.connections + c;
      if (ioq_prepare(&ts[i].io[c], &o, &l, (o.seed + index * 0x632be5abull) & 0xffffffffu, index, runners) < 0) die("%s", "out of memory");
    }

  char desc[512];
  describe_options(&o, desc, sizeof desc);
  if (o.progress) { printf("nvme_tcp_gen: %s, %g s warmup + %g s\n", desc, o.warmup, o.time); fflush(stdout); }
  pthread_t *th = calloc((size_t)o.workers, sizeof *th);
  if (!th) die("%s", "out of memory");
  for (int i = 0; i < o.workers; i++)
    if (pthread_create(&th[i], NULL, thread_main, &ts[i]) != 0) die("%s", "pthread_create failed");
  while (__atomic_load_n(&g_ready, __ATOMIC_ACQUIRE) < o.workers) nanosleep(&(struct timespec){0, 1000000}, NULL);

  int markers = getenv("NVMETD_PERF_MARKERS") && !strcmp(getenv("NVMETD_PERF_MARKERS"), "1");
  uint64_t t0 = now_ns(), last_t = t0, last_ios = 0, last_bytes = 0;
  g_io_start_ns = t0;
  __atomic_store_n(&g_phase, o.warmup > 0 ? PH_WARMUP : PH_MEASURE, __ATOMIC_RELEASE);
  wait_until(&o, ts, t0, t0 + (uint64_t)(o.warmup * 1e9), "warmup ", &last_t, &last_ios, &last_bytes);
  if (markers) { fputs("@window-start\n", stderr); fflush(stderr); }
  struct rusage r0, r1;
  getrusage(RUSAGE_SELF, &r0);
  __atomic_store_n(&g_phase, PH_MEASURE, __ATOMIC_RELEASE);
  uint64_t m0 = now_ns();
  wait_until(&o, ts, t0, m0 + (uint64_t)(o.time * 1e9), "", &last_t, &last_ios, &last_bytes);
  __atomic_store_n(&g_phase, PH_STOP, __ATOMIC_RELEASE);
  getrusage(RUSAGE_SELF, &r1);
  if (markers) { fputs("@window-end\n", stderr); fflush(stderr); }
  for (int i = 0; i < o.workers; i++) pthread_join(th[i], NULL);

  print_report(stdout, &o, ts, o.workers, rusage_sec(&r1.ru_utime) - rusage_sec(&r0.ru_utime), rusage_sec(&r1.ru_stime) - rusage_sec(&r0.ru_stime));
  int bad = 0;
  for (int i = 0; i < o.workers; i++) {
    bad |= ts[i].st.errors > 0 || ts[i].st.verify_errors > 0;
    for (int c = 0; c < o.connections; c++) ioq_free(&ts[i].io[c]);
    ioq_free(&ts[i].admin);
  }
  return bad ? 1 : 0;
}
