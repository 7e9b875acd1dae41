/* Command line of nvme_tcp_gen: the options, defaults and checks of `nvmetd perf`
 * (src/perf/options.ts), plus --cpus LIST (pin thread i to the i-th CPU of the list) and --poll
 * (busy poll). Bad usage: a message and exit code 2. */
#define _GNU_SOURCE
#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "gen.h"

const char *const WORKLOAD_NAMES[6] = {"read", "write", "randread", "randwrite", "randrw", "rw"};

static void usage_error(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "nvme_tcp_gen: ");
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\n");
  va_end(ap);
  exit(2);
}

static long long whole(const char *name, const char *raw, long long min, long long max) {
  const char *s = raw;
  while (isspace((unsigned char)*s)) s++;
  if (!*s) usage_error("%s must be a whole number (got \"%s\")", name, raw);
  for (const char *c = s; *c && !isspace((unsigned char)*c); c++)
    if (!isdigit((unsigned char)*c)) usage_error("%s must be a whole number (got \"%s\")", name, raw);
  long long n = strtoll(s, NULL, 10);
  if (n < min || n > max) usage_error("%s must be from %lld to %lld (got %lld)", name, min, max, n);
  return n;
}

static double seconds(const char *name, const char *raw, double min) {
  char buf[64];
  snprintf(buf, sizeof buf, "%s", raw);
  size_t n = strlen(buf);
  if (n && buf[n - 1] == 's') buf[n - 1] = 0;
  char *end;
  double v = strtod(buf, &end);
  if (!buf[0] || *end || !isfinite(v) || v < min) usage_error("%s must be a number of seconds >= %g (got \"%s\")", name, min, raw);
  return v;
}

/* Sizes as src/config/units.ts reads them: 4096, 4k, 128KiB, 1MiB, 100MB (SI with B), 1.5G. */
static uint64_t size_arg(const char *name, const char *raw) {
  const char *s = raw;
  while (isspace((unsigned char)*s)) s++;
  char *end;
  double v = strtod(s, &end);
  if (end == s || v < 0 || *s == '-' || *s == '+') usage_error("%s: \"%s\" is not a size (examples: 4096, \"512MiB\", \"1G\", \"100MB\")", name, raw);
  char unit[8] = {0};
  int k = 0;
  while (isalpha((unsigned char)*end) && k < 7) unit[k++] = *end++;
  while (isspace((unsigned char)*end)) end++;
  if (*end) usage_error("%s: \"%s\" is not a size", name, raw);
  double mult = 1;
  if (k == 0 || (k == 1 && tolower((unsigned char)unit[0]) == 'b')) mult = 1;
  else {
    const char *pw = strchr("kmgtp", tolower((unsigned char)unit[0]));
    int ok = pw != NULL && (k == 1 || (k == 2 && tolower((unsigned char)unit[1]) == 'b') ||
                            (k == 3 && unit[1] == 'i' && tolower((unsigned char)unit[2]) == 'b'));
    if (!ok) usage_error("%s: \"%s\" is not a size", name, raw);
    double base = k == 2 ? 1000 : 1024;
    mult = pow(base, (double)(pw - "kmgtp" + 1));
  }
  double b = v * mult;
  if (b != floor(b) || b > 9007199254740991.0) usage_error("%s: \"%s\" is not a whole number of bytes", name, raw);
  return (uint64_t)b;
}

static void parse_cpus(struct opts *o, const char *raw) {
  /* "0,2,4-7" */
  const char *s = raw;
  o->ncpus = 0;
  while (*s) {
    char *end;
    long a = strtol(s, &end, 10), b;
    if (end == s || a < 0) usage_error("--cpus: \"%s\" is not a CPU list (example: 0,2-3)", raw);
    b = a;
    if (*end == '-') {
      s = end + 1;
      b = strtol(s, &end, 10);
      if (end == s || b < a) usage_error("--cpus: \"%s\" is not a CPU list", raw);
    }
    for (long c = a; c <= b; c++) {
      if (o->ncpus == MAX_CPUS || c >= 1024) usage_error("--cpus: too many CPUs");
      o->cpus[o->ncpus++] = (int)c;
    }
    if (*end == ',') end++;
    else if (*end) usage_error("--cpus: \"%s\" is not a CPU list", raw);
    s = end;
  }
}

static const char *HELP =
    "usage: nvme_tcp_gen [options]   (the options of `nvmetd perf`)\n"
    "  -a, --address ADDR     target address (127.0.0.1)\n"
    "  -s, --port PORT        target port (4420)\n"
    "  -n, --nqn NQN          subsystem NQN (nqn.2026-11.io.nvmetd:default)\n"
    "  --hostnqn NQN          host NQN (a uuid NQN per run)\n"
    "  --nsid N               namespace (1)\n"
    "  -q, --queue-depth N    commands outstanding per connection (32)\n"
    "  -o, --io-size SIZE     bytes per command (4k)\n"
    "  -w, --workload KIND    read, write, randread, randwrite, randrw, rw (randread)\n"
    "  -M, --rwmixread PCT    reads in percent for randrw and rw (50)\n"
    "  -t, --time S           measured seconds (10)\n"
    "  --warmup S             seconds of I/O before measuring (1)\n"
    "  --connections N        I/O queues (TCP connections) per thread (1)\n"
    "  --workers N            threads, each with its own controller and connections (1)\n"
    "  --span SIZE            I/O covers the first SIZE bytes (whole namespace)\n"
    "  --hdgst, --ddgst       header / data digests (CRC32C)\n"
    "  --verify               tag every block written, check every block read\n"
    "  --disable-sqflow       ask the controller to disable SQ flow control\n"
    "  --seed N               seed of the offset generator (1)\n"
    "  --json                 one JSON report on stdout\n"
    "  --quiet                summary only\n"
    "  --cpus LIST            pin thread i to the i-th CPU of LIST (e.g. 0,2-3); default not pinned\n"
    "  --poll                 busy poll instead of sleeping in epoll_wait\n"
    "  --spin-us N            poll N microseconds after the last event before sleeping (0)\n"
    "  --copy-data            read every payload byte (by default reads of 16 KiB and more whose data\n"
    "                         nothing checks, no --verify and no --ddgst, are dropped in the kernel)\n"
    "  --copy-sends           copy every write payload into the socket (by default, without --verify,\n"
    "                         write data of 16 KiB and more is sent by reference: vmsplice + splice)\n";

static int opt_is(const char *a, const char *s1, const char *s2) { return !strcmp(a, s1) || (s2 && !strcmp(a, s2)); }

void parse_options(int argc, char **argv, struct opts *o) {
  memset(o, 0, sizeof *o);
  o->address = "127.0.0.1";
  o->port = 4420;
  o->nqn = "nqn.2026-11.io.nvmetd:default";
  o->nsid = 1;
  o->qd = 32;
  o->io_size = 4096;
  o->workload = W_RANDREAD;
  o->time = 10;
  o->warmup = 1;
  o->connections = 1;
  o->workers = 1;
  o->seed = 1;
  const char *rwmix = NULL, *span = NULL, *hostnqn = NULL;
  int quiet = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define FLAG(s) (!strcmp(a, s))
#define VAL(s1, s2) (opt_is(a, s1, s2) && (v ? (i++, 1) : (usage_error("%s needs a value", a), 0)))
    if (FLAG("-h") || FLAG("--help")) { fputs(HELP, stdout); exit(0); }
    else if (VAL("-a", "--address")) o->address = v;
    else if (VAL("-s", "--port")) o->port = (int)whole("--port", v, 1, 65535);
    else if (VAL("-n", "--nqn")) o->nqn = v;
    else if (VAL("--hostnqn", NULL)) hostnqn = v;
    else if (VAL("--nsid", NULL)) o->nsid = (uint32_t)whole("--nsid", v, 1, 0xfffffffeLL);
    else if (VAL("-q", "--queue-depth")) o->qd = (int)whole("--queue-depth", v, 1, 4095);
    else if (VAL("-o", "--io-size")) {
      uint64_t s = size_arg("--io-size", v);
      if (s < 512 || s % 512) usage_error("--io-size must be a positive multiple of 512 bytes (got %llu)", (unsigned long long)s);
      if (s > 64ull << 20) usage_error("--io-size must be at most 64MiB (got %llu)", (unsigned long long)s);
      o->io_size = (uint32_t)s;
    } else if (VAL("-w", "--workload")) {
      int k = -1;
      for (int w = 0; w < 6; w++) if (!strcmp(v, WORKLOAD_NAMES[w])) k = w;
      if (k < 0) usage_error("--workload must be one of read, write, randread, randwrite, randrw, rw (got \"%s\")", v);
      o->workload = (enum workload)k;
    } else if (VAL("-M", "--rwmixread")) rwmix = v;
    else if (VAL("-t", "--time")) o->time = seconds("--time", v, 0.1);
    else if (VAL("--warmup", NULL)) o->warmup = seconds("--warmup", v, 0);
    else if (VAL("--connections", NULL)) o->connections = (int)whole("--connections", v, 1, 256);
    else if (VAL("--workers", NULL)) o->workers = (int)whole("--workers", v, 1, 64);
    else if (VAL("--span", NULL)) span = v;
    else if (FLAG("--hdgst")) o->hdgst = 1;
    else if (FLAG("--ddgst")) o->ddgst = 1;
    else if (FLAG("--verify")) o->verify = 1;
    else if (FLAG("--disable-sqflow")) o->disable_sqflow = 1;
    else if (VAL("--seed", NULL)) o->seed = (uint32_t)whole("--seed", v, 1, 0xffffffffLL);
    else if (FLAG("--json")) o->json = 1;
    else if (FLAG("--quiet")) quiet = 1;
    else if (VAL("--cpus", NULL)) parse_cpus(o, v);
    else if (FLAG("--poll")) o->poll = 1;
    else if (FLAG("--copy-data")) o->copy_data = 1;
    else if (FLAG("--copy-sends")) o->copy_sends = 1;
    else if (VAL("--spin-us", NULL)) o->spin_us = (int)whole("--spin-us", v, 0, 1000000);
    else usage_error("unknown option %s (see --help)", a);
#undef FLAG
#undef VAL
  }
  int mixed = o->workload == W_RANDRW || o->workload == W_RW;
  o->random = o->workload == W_RANDREAD || o->workload == W_RANDWRITE || o->workload == W_RANDRW;
  if (mixed) o->rwmixread = rwmix ? (int)whole("--rwmixread", rwmix, 0, 100) : 50;
  else {
    if (rwmix) usage_error("--rwmixread applies to the randrw and rw workloads only");
    o->rwmixread = (o->workload == W_READ || o->workload == W_RANDREAD) ? 100 : 0;
  }
  if (span) {
    o->span = size_arg("--span", span);
    if (o->span != 0 && o->span < o->io_size) usage_error("--span (%llu) must hold at least one I/O of %u bytes", (unsigned long long)o->span, o->io_size);
  }
  if (hostnqn) snprintf(o->hostnqn, sizeof o->hostnqn, "%s", hostnqn);
  else {
    uint8_t u[16];
    if (getrandom(u, 16, 0) != 16) for (int i = 0; i < 16; i++) u[i] = (uint8_t)rand();
    u[6] = (u[6] & 0x0f) | 0x40;
    u[8] = (u[8] & 0x3f) | 0x80;
    snprintf(o->hostnqn, sizeof o->hostnqn,
             "nqn.2014-08.org.nvmexpress:uuid:%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
             u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14], u[15]);
  }
  o->progress = !o->json && !quiet;
}

void describe_options(const struct opts *o, char *out, size_t n) {
  char mix[32] = "", dg[32] = "";
  if (o->workload == W_RANDRW || o->workload == W_RW) snprintf(mix, sizeof mix, " rwmixread=%d", o->rwmixread);
  if (o->hdgst || o->ddgst) snprintf(dg, sizeof dg, " digests=%s%s", o->hdgst ? "h" : "", o->ddgst ? "d" : "");
  snprintf(out, n, "%s%s io=%u qd=%d conns=%dx%d%s%s -> %s:%d %s ns %u", WORKLOAD_NAMES[o->workload], mix, o->io_size, o->qd,
           o->connections, o->workers, dg, o->verify ? " verify" : "", o->address, o->port, o->nqn, o->nsid);
}
