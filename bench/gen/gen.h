/*
 * nvme_tcp_gen: a C NVMe/TCP load generator for the nvmetd benchmarks, meant never to be the
 * bottleneck. It takes the options of `nvmetd perf` and prints the same report (text or --json),
 * so bench/run.ts can drive a target with either.
 *
 * Files: options.c (command line), setup.c (blocking bring-up: ICReq, Connect, CC.EN, Identify,
 * Number of Queues, I/O queue Connects), engine.c (the per-thread I/O loop: epoll or busy poll,
 * batched writev, streaming PDU receive), verify.c (block tags), report.c (histogram, summary, JSON),
 * main.c (threads, the clock, progress).
 */
#ifndef NVMETD_BENCH_GEN_H
#define NVMETD_BENCH_GEN_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/uio.h>
#include <time.h>

/* ---- protocol constants (NVMe/TCP 1.0, NVMe base 2.0) ---- */
enum { PDU_ICREQ = 0x00, PDU_ICRESP = 0x01, PDU_H2C_TERM = 0x02, PDU_C2H_TERM = 0x03, PDU_CAPSULE_CMD = 0x04,
       PDU_CAPSULE_RESP = 0x05, PDU_H2C_DATA = 0x06, PDU_C2H_DATA = 0x07, PDU_R2T = 0x09 };
enum { PF_HDGST = 0x01, PF_DDGST = 0x02, PF_LAST = 0x04, PF_SUCCESS = 0x08 };
enum { SGL_IN_CAPSULE = 0x01, SGL_TRANSPORT = 0x5a, PSDT_SGL = 0x40 };
enum { OPC_WRITE = 0x01, OPC_READ = 0x02, OPC_IDENTIFY = 0x06, OPC_SET_FEATURES = 0x09, OPC_FABRICS = 0x7f };
enum { FCT_PROP_SET = 0x00, FCT_CONNECT = 0x01, FCT_PROP_GET = 0x04 };

static inline uint16_t g16(const uint8_t *p) { uint16_t v; __builtin_memcpy(&v, p, 2); return v; }
static inline uint32_t g32(const uint8_t *p) { uint32_t v; __builtin_memcpy(&v, p, 4); return v; }
static inline uint64_t g64(const uint8_t *p) { uint64_t v; __builtin_memcpy(&v, p, 8); return v; }
static inline void p16(uint8_t *p, uint16_t v) { __builtin_memcpy(p, &v, 2); }
static inline void p32(uint8_t *p, uint32_t v) { __builtin_memcpy(p, &v, 4); }
static inline void p64(uint8_t *p, uint64_t v) { __builtin_memcpy(p, &v, 8); }
/* CRC32C (crc.c over crc32c.h): SSE4.2 when the CPU has it, else a table. */
#define GEN_CRC_START 0xffffffffu
void gen_crc_init(void);
uint32_t gen_crc_update(uint32_t state, const uint8_t *p, size_t n);
static inline uint32_t gen_crc_final(uint32_t state) { return state ^ 0xffffffffu; }
uint32_t gen_crc(const uint8_t *p, size_t n);
const char *gen_crc_impl(void);

static inline uint32_t align_up(uint32_t n, uint32_t to) { return (n + to - 1) / to * to; }

/* ---- options (options.c): the names and defaults of `nvmetd perf`, plus --cpus and --poll ---- */
enum workload { W_READ, W_WRITE, W_RANDREAD, W_RANDWRITE, W_RANDRW, W_RW };
extern const char *const WORKLOAD_NAMES[6];

#define MAX_CPUS 256
/* Write payload pieces of at least this many bytes go out by reference when they can (ioq.by_reference). */
#define BY_REFERENCE_MIN (16u * 1024u)
/* Bytes per H2CData header place (ioq.h2c_hdrs): the header, its digest and padding to the data
 * offset (CPDA at most 31: 128 bytes). */
#define H2C_HDR_STRIDE 128u

struct opts {
  const char *address;
  int port;
  const char *nqn;
  char hostnqn[256];
  uint32_t nsid;
  int qd;
  uint32_t io_size;
  enum workload workload;
  int random;
  int rwmixread;
  double time, warmup;
  int connections, workers;
  int hdgst, ddgst, verify, disable_sqflow;
  uint64_t span;
  uint32_t seed;
  int json, progress;
  /* Thread i runs on cpus[i % ncpus] (sched_setaffinity); ncpus 0: not pinned. */
  int cpus[MAX_CPUS];
  int ncpus;
  /* Busy poll (epoll_wait with a zero timeout) instead of sleeping in epoll_wait. */
  int poll;
  /* Poll this many microseconds after the last event before sleeping (0: sleep at once). */
  int spin_us;
  /* Receive every payload byte into user space even when nothing looks at it (no MSG_TRUNC discard). */
  int copy_data;
  /* Copy every write payload into the socket (writev) even when nothing checks it (nothing by reference). */
  int copy_sends;
};

/* Exits with code 2 and a message on bad usage. */
void parse_options(int argc, char **argv, struct opts *o);
void describe_options(const struct opts *o, char *out, size_t n);

/* ---- latency histogram (report.c): the layout of src/perf/histogram.ts ---- */
#define HIST_LINEAR 256
#define HIST_SUB 128
#define HIST_MAX_EXP 46
#define HIST_BUCKETS (HIST_LINEAR + (HIST_MAX_EXP - 8 + 1) * HIST_SUB)

struct hist {
  uint64_t counts[HIST_BUCKETS];
  uint64_t count;
  double sum;
  uint64_t min, max;
};

void hist_reset(struct hist *h);
static inline uint32_t hist_bucket(uint64_t v) {
  if (v < HIST_LINEAR) return (uint32_t)v;
  int e = 63 - __builtin_clzll(v);
  if (e > HIST_MAX_EXP) return HIST_BUCKETS - 1;
  return HIST_LINEAR + (uint32_t)(e - 8) * HIST_SUB + (uint32_t)((v >> (e - 7)) - HIST_SUB);
}
static inline void hist_record(struct hist *h, uint64_t ns) {
  h->counts[hist_bucket(ns)]++;
  h->count++;
  h->sum += (double)ns;
  if (ns < h->min) h->min = ns;
  if (ns > h->max) h->max = ns;
}
void hist_add(struct hist *h, const struct hist *o);
double hist_percentile(const struct hist *h, double p);

/* ---- verify (verify.c): the block tags of src/perf/verify.ts ---- */
enum block_check { BC_OK, BC_UNWRITTEN, BC_BAD_MAGIC, BC_WRONG_LBA, BC_STALE, BC_CORRUPT };
extern const char *const CHECK_NAMES[6];
void fill_blocks(uint32_t *u32, uint32_t words, uint32_t blocks, uint64_t lba, uint32_t gen);
enum block_check check_block(const uint32_t *u32, uint32_t words, uint64_t lba, uint32_t expect_gen);

/* ---- one connection (setup.c brings it up, engine.c runs it) ---- */
struct slot {
  uint8_t *buf;     /* io_size bytes: write data, or read data with --verify (without --verify one
                     * buffer shared by all slots of the connection: ioq.shared_buf) */
  uint64_t start;   /* submit time, ns */
  uint64_t unit;    /* I/O unit (io_size) of the span */
  uint32_t received;
  uint8_t write, busy;
  /* an R2T that arrived while the connection's batch waited for the socket (send.c, on_r2t) */
  uint8_t r2t_pending;
  uint16_t r2t_ttag;
  uint32_t r2t_off, r2t_len;
};

struct ioq {
  int fd, qid;
  int hdgst, ddgst;
  uint32_t cpda_align;   /* host data starts at multiples of this (CPDA + 1) * 4 */
  uint32_t maxh2cdata;
  uint32_t icd;          /* in-capsule data bytes the controller takes (IOCCSZ * 16 - 64) */
  int sqflow_off;
  int dead;
  /* command slots; CID = slot index */
  struct slot *slots;
  int depth, inflight;
  uint16_t *free_cids;
  int nfree;
  uint64_t cursor;       /* sequential position (non-verify) */
  uint64_t *slot_cursor; /* per slot position within its stripe (verify, sequential) */
  uint64_t stripe_base;  /* first stripe of this queue's slots (verify) */
  uint32_t rng;
  /* receive: a streaming parser over whatever read() returned */
  uint8_t *rx;
  uint32_t rx_cap;
  int rst;               /* RX_* state */
  int discard;           /* drop C2HData payloads in the kernel (engine.c, on_readable) */
  uint8_t hdr[256];
  uint32_t hdr_have, hdr_need;
  uint32_t data_left;
  uint8_t *data_dst;
  uint32_t dcrc;
  uint8_t dd[4];
  uint32_t dd_have;
  uint16_t cur_cid;      /* the C2HData being received */
  uint8_t cur_flags;
  uint32_t cur_datal;
  uint64_t prefill_next, prefill_end; /* --verify of read workloads: units still to write once */
  /* Without --verify the write data never changes after set-up: every slot sends the connection's
   * one buffer (shared_buf, io_size bytes, which stays in cache), and the data digests of the ranges
   * it sends are computed once (dcache, keyed by offset and length). */
  uint8_t *shared_buf;
  uint32_t shared_len;   /* its mapped size */
  int by_reference;      /* 1: pieces of shared_buf of at least BY_REFERENCE_MIN bytes are sent by
                          * reference (vmsplice into splice_pipe, splice on to the socket), as a
                          * kernel host sends page-cache pages; 0: copied by sendmsg like the rest */
  int splice_pipe[2];
  uint32_t pipe_bytes;   /* bytes of the batch in splice_pipe, not yet taken by the socket */
  /* by_reference: the H2CData headers of pieces sent by reference, which go through the pipe with
   * their data (their pages, like the data): one H2C_HDR_STRIDE place per slot and piece of a
   * command, rewritten only when the slot is reused, once the target has had all of them */
  uint8_t *h2c_hdrs;
  uint32_t h2c_hdrs_len, h2c_pieces;
  struct { uint32_t off, len, crc; } dcache[8];
  int dcache_used;
  /* send: headers in the arena, data as views of slot buffers, one writev per pass */
  uint8_t *arena;
  uint32_t arena_pos, arena_cap;
  struct iovec *iov;
  int iov_n, iov_at, iov_cap;
  int want_out;
  int r2t_pending;       /* slots with an R2T noted while want_out */
  /* setup: next admin CID */
  uint16_t next_cid;
};

/* Bring-up of one thread's controller: admin queue and `o->connections` I/O queues (blocking). */
struct ctrl_info {
  char model[41];
  uint32_t block_size;
  uint64_t ns_blocks;
  uint32_t mdts_bytes;  /* 0: no limit */
  uint32_t icd;
  uint16_t cntlid;
};
/* Returns 0, or -1 with a message in err. */
int ctrl_setup(const struct opts *o, struct ioq *admin, struct ioq *io, int nio, struct ctrl_info *info,
               const uint8_t hostid[16], char *err, size_t errn);

/* ---- shared run state (main.c) ---- */
enum phase { PH_SETUP, PH_WARMUP, PH_MEASURE, PH_STOP };

struct layout {
  uint32_t io_size, block_size, nlb;
  uint64_t span_units;
  uint64_t stripe_units; /* --verify: units per command slot */
  uint32_t *last_gen;    /* --verify: generation last written to each unit (0 = never) */
};

struct thread_stats {
  uint64_t total_ios, total_bytes; /* warmup included (progress), read by the main thread */
  uint64_t ios, bytes, reads, writes, errors;
  uint64_t verified_blocks, verify_errors;
  char first_error[256];
  char first_verify_error[256];
  double elapsed_sec, cpu_sec;   /* this thread's measured window, and its CPU time in it */
  double run_delay_sec;          /* time in the window it was runnable but waited for a CPU */
  uint64_t drop_ns, lost;        /* the first connection lost (q_fail): when, and commands lost */
  char drop_reason[200];
  struct hist hist;
};

struct thread {
  int index;
  const struct opts *o;
  struct layout *l;
  struct ioq admin;
  struct ioq *io;
  struct ctrl_info info;
  int setup_failed;
  char setup_error[256];
  uint32_t gen;
  struct thread_stats st;
  /* engine state */
  int ep;
  int measuring, stopping, prefill;
  uint64_t now;    /* submit time of the commands issued in this pass */
  uint64_t rx_now; /* when the bytes being parsed were read */
};

extern volatile int g_phase;
extern volatile int g_ready;
extern uint64_t g_io_start_ns; /* when I/O started (warm-up included): the origin of "dropped" */
/* CLOCK_MONOTONIC in nanoseconds. */
static inline uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}
/* The I/O loop of one thread (engine.c): returns when the run ends. */

void engine_run(struct thread *t);
/* Sets up a connection's buffers for the I/O loop (engine.c). */
int ioq_prepare(struct ioq *q, const struct opts *o, const struct layout *l, uint64_t seed, uint64_t index, uint64_t runners);
void ioq_free(struct ioq *q);

/* ---- engine internals, shared by engine.c (receive, loop) and send.c ---- */
void error_once(struct thread *t, const char *msg);
/* A protocol error: keeps the first reason (printf format with three unsigned arguments), returns -1. */
int bad(const char *fmt, unsigned a, unsigned b, unsigned c);
/* Where bad() writes the reason (160 bytes) while a PDU is parsed; NULL: nowhere. */
void bad_reasons_into(char *buf);
void q_fail(struct thread *t, struct ioq *q, const char *why);
void q_flush(struct thread *t, struct ioq *q);
void refill(struct thread *t, struct ioq *q);
int on_r2t(struct thread *t, struct ioq *q, const uint8_t *h);
void r2t_backlog(struct ioq *q);

/* ---- report (report.c) ---- */
void print_report(FILE *f, const struct opts *o, struct thread *ts, int n, double user_sec, double sys_sec);

#endif
