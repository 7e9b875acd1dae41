/* The I/O loop of one generator thread: its connections in one epoll set (or busy-polled), every
 * socket read parsed in place by a streaming PDU parser (C2HData payloads are skipped, or copied
 * into the slot's buffer with --verify; data digests computed incrementally), completions refilled
 * at the end of the pass, and every connection's new capsules and H2CData sent together (send.c).
 * Nothing is allocated per I/O. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "gen.h"

enum { RX_HDR, RX_DATA, RX_DDGST };
#define RX_BUF_SIZE (256u * 1024u)
#define DISCARD_HEADER_READ 512u
#define DISCARD_MIN_IO (16u * 1024u)
#define STOP_DRAIN_NS (5ull * 1000000000ull)


static double thread_cpu_sec(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Seconds this thread has waited on a run queue (runnable, not running): /proc/thread-self/schedstat. */
static double run_delay_sec(void) {
  FILE *f = fopen("/proc/thread-self/schedstat", "r");
  unsigned long long run = 0, wait = 0;
  if (!f) return 0;
  if (fscanf(f, "%llu %llu", &run, &wait) != 2) wait = 0;
  fclose(f);
  return (double)wait / 1e9;
}

int ioq_prepare(struct ioq *q, const struct opts *o, const struct layout *l, uint64_t seed, uint64_t index, uint64_t runners) {
  q->depth = o->qd;
  q->slots = calloc((size_t)q->depth, sizeof *q->slots);
  q->free_cids = calloc((size_t)q->depth, sizeof *q->free_cids);
  q->slot_cursor = calloc((size_t)q->depth, sizeof *q->slot_cursor);
  if (!q->slots || !q->free_cids || !q->slot_cursor) return -1;
  q->by_reference = 0;
  q->splice_pipe[0] = q->splice_pipe[1] = -1;
  q->pipe_bytes = 0;
  if (!o->verify) {
    q->shared_len = align_up(l->io_size, 4096);
    q->shared_buf = aligned_alloc(4096, q->shared_len);
    if (!q->shared_buf) return -1;
    if (!o->copy_sends && l->io_size >= BY_REFERENCE_MIN) {
      /* vmsplice hands the pages of a piece's header (h2c_hdrs) and data to a pipe and splice moves
       * them on to the socket (send.c, send_by_reference): no copy, and on loopback less CPU per 128
       * KiB than sendfile from a memfd, which looks every page up in the file (docs/perf.md,
       * "Generator headroom at 128 KiB writes"). The pipe holds the largest piece and its header
       * (MAXH2CDATA is at most the I/O size); a smaller one (a user's pipe quota) takes each piece
       * in several rounds. */
      if (pipe2(q->splice_pipe, O_CLOEXEC) != 0) return -1;
      (void)fcntl(q->splice_pipe[1], F_SETPIPE_SZ, (int)(q->shared_len < (1u << 19) ? 2 * q->shared_len : 1u << 20));
      q->by_reference = 1;
    }
    uint32_t *u = (uint32_t *)q->shared_buf;
    for (uint32_t w = 0; w < l->io_size / 4; w++) u[w] = w * 0x01000193u + (uint32_t)index; /* non-zero pattern */
  }
  for (int i = 0; i < q->depth; i++) {
    struct slot *s = &q->slots[i];
    if (q->shared_buf) {
      s->buf = q->shared_buf;
    } else {
      s->buf = aligned_alloc(4096, align_up(l->io_size, 4096));
      if (!s->buf) return -1;
      uint32_t *u = (uint32_t *)s->buf;
      for (uint32_t w = 0; w < l->io_size / 4; w++) u[w] = w * 0x01000193u + (uint32_t)i; /* non-zero pattern */
    }
    q->free_cids[i] = (uint16_t)(q->depth - 1 - i);
  }
  q->nfree = q->depth;
  q->rng = (uint32_t)seed ? (uint32_t)seed : 0x9e3779b9u;
  q->cursor = index * l->span_units / runners;
  q->stripe_base = index * (uint64_t)o->qd;
  q->rx_cap = RX_BUF_SIZE;
  /* Testing aid: smaller reads split PDU headers, data and digests at every possible place. */
  const char *mr = getenv("NVME_TCP_GEN_MAX_READ");
  if (mr && atoi(mr) > 0 && (uint32_t)atoi(mr) < RX_BUF_SIZE) q->rx_cap = (uint32_t)atoi(mr);
  q->rx = malloc(q->rx_cap);
  uint32_t chunks = (l->io_size + q->maxh2cdata - 1) / q->maxh2cdata;
  /* Per slot and pass at most one capsule (<= 136 header bytes) and one R2T's H2CData headers
   * (<= 132 bytes each): the arena and the iovec array never run out before the flush. */
  q->arena_cap = (uint32_t)q->depth * (160u + chunks * 160u) + 4096u;
  q->arena = malloc(q->arena_cap);
  q->iov_cap = q->depth * (4 + (int)chunks * 3) + 16;
  q->iov = malloc((size_t)q->iov_cap * sizeof *q->iov);
  if (!q->rx || !q->arena || !q->iov) return -1;
  q->h2c_hdrs = NULL;
  if (q->by_reference) {
    q->h2c_pieces = chunks;
    q->h2c_hdrs_len = align_up((uint32_t)q->depth * chunks * H2C_HDR_STRIDE, 4096);
    q->h2c_hdrs = aligned_alloc(4096, q->h2c_hdrs_len);
    if (!q->h2c_hdrs) return -1;
  }
  q->rst = RX_HDR;
  q->discard = !o->verify && !o->ddgst && l->io_size >= DISCARD_MIN_IO && !o->copy_data;
  int fl = fcntl(q->fd, F_GETFL);
  return fcntl(q->fd, F_SETFL, fl | O_NONBLOCK);
}

void ioq_free(struct ioq *q) {
  if (q->fd > 0) close(q->fd);
  q->fd = -1;
  if (q->slots && !q->shared_buf) for (int i = 0; i < q->depth; i++) free(q->slots[i].buf);
  if (q->by_reference) {
    close(q->splice_pipe[0]);
    close(q->splice_pipe[1]);
  }
  free(q->shared_buf);
  q->shared_buf = NULL;
  free(q->h2c_hdrs);
  q->h2c_hdrs = NULL;
  q->by_reference = 0;
  free(q->slots);
  free(q->free_cids);
  free(q->slot_cursor);
  free(q->rx);
  free(q->arena);
  free(q->iov);
  q->slots = NULL;
}

/* ---- completions ---- */
static void verify_read(struct thread *t, struct slot *s) {
  const struct layout *l = t->l;
  uint32_t words = l->block_size / 4;
  uint32_t expect = l->last_gen[s->unit];
  for (uint32_t b = 0; b < l->nlb; b++) {
    uint64_t lba = s->unit * l->nlb + b;
    const uint32_t *u = (const uint32_t *)s->buf + (size_t)b * words;
    enum block_check r = check_block(u, words, lba, expect);
    t->st.verified_blocks++;
    if (r != BC_OK && r != BC_UNWRITTEN) {
      t->st.verify_errors++;
      if (!t->st.first_verify_error[0])
        snprintf(t->st.first_verify_error, sizeof t->st.first_verify_error,
                 "LBA %llu: %s (expected generation %u, block has magic 0x%x LBA %u generation %u)", (unsigned long long)lba,
                 CHECK_NAMES[r], expect, u[0], u[1], u[3]);
    }
  }
}

static int complete(struct thread *t, struct ioq *q, uint16_t cid, uint16_t status) {
  if (cid >= q->depth || !q->slots[cid].busy) return bad("completion for CID %u, which is not outstanding%.0u%.0u", cid, 0, 0);
  struct slot *s = &q->slots[cid];
  const struct layout *l = t->l;
  uint64_t lat = t->rx_now > s->start ? t->rx_now - s->start : 0;
  s->busy = 0;
  if (s->r2t_pending) { /* failed before its data went out */
    s->r2t_pending = 0;
    q->r2t_pending--;
  }
  q->inflight--;
  q->free_cids[q->nfree++] = cid;
  if (status & 0x7ff) {
    char msg[120];
    snprintf(msg, sizeof msg, "%s of unit %llu failed with status 0x%x", s->write ? "write" : "read", (unsigned long long)s->unit, status);
    error_once(t, msg);
    return 0;
  }
  if (!s->write && s->received != l->io_size) {
    char msg[120];
    snprintf(msg, sizeof msg, "read of unit %llu completed with %u of %u bytes", (unsigned long long)s->unit, s->received, l->io_size);
    error_once(t, msg);
    return 0;
  }
  if (t->o->verify && !s->write && !t->prefill) verify_read(t, s);
  __atomic_store_n(&t->st.total_ios, t->st.total_ios + 1, __ATOMIC_RELAXED);
  __atomic_store_n(&t->st.total_bytes, t->st.total_bytes + l->io_size, __ATOMIC_RELAXED);
  if (t->measuring) {
    hist_record(&t->st.hist, lat);
    t->st.ios++;
    t->st.bytes += l->io_size;
    if (s->write) t->st.writes++;
    else t->st.reads++;
  }
  return 0;
}

/* Bytes of the header part of the PDU whose common header is at ch (up to the data), 0 if invalid. */
static uint32_t header_bytes(const struct ioq *q, const uint8_t *ch) {
  uint8_t type = ch[0], flags = ch[1], hlen = ch[2], pdo = ch[3];
  uint32_t plen = g32(ch + 4);
  uint32_t hd = (flags & PF_HDGST) ? 4 : 0, dd = (flags & PF_DDGST) ? 4 : 0;
  if (hlen != 24 || !!hd != q->hdgst) return 0;
  if (type == PDU_C2H_DATA) {
    if (!!dd != q->ddgst || pdo < hlen + hd || plen < pdo + 1u + dd) return 0;
    return pdo;
  }
  if (type == PDU_CAPSULE_RESP || type == PDU_R2T) return plen == hlen + hd ? plen : 0;
  if (type == PDU_C2H_TERM) return plen >= hlen && plen <= 256 ? plen : 0;
  return 0;
}

static int on_header(struct thread *t, struct ioq *q, const uint8_t *h) {
  uint8_t type = h[0], flags = h[1], pdo = h[3];
  if ((flags & PF_HDGST) && g32(h + 24) != gen_crc(h, 24)) return bad("header digest error in a PDU of type 0x%x%.0u%.0u", type, 0, 0);
  switch (type) {
  case PDU_CAPSULE_RESP:
    return complete(t, q, g16(h + 8 + 12), (g16(h + 8 + 14) >> 1) & 0x7fff);
  case PDU_C2H_DATA: {
    uint16_t cid = g16(h + 8);
    uint32_t datao = g32(h + 12), datal = g32(h + 16);
    uint32_t dlen = g32(h + 4) - pdo - ((flags & PF_DDGST) ? 4 : 0);
    if (cid >= q->depth || !q->slots[cid].busy || q->slots[cid].write || datal != dlen || (uint64_t)datao + datal > t->l->io_size)
      return bad("C2HData for CID %u (offset %u, %u bytes) matches no outstanding read", cid, datao, datal);
    if ((flags & PF_SUCCESS) && !(flags & PF_LAST)) return bad("C2HData SUCCESS without LAST (CID %u)%.0u%.0u", cid, 0, 0);
    q->cur_cid = cid;
    q->cur_flags = flags;
    q->cur_datal = datal;
    q->data_left = datal;
    q->data_dst = t->o->verify ? q->slots[cid].buf + datao : NULL;
    q->dcrc = GEN_CRC_START;
    q->rst = RX_DATA;
    return 0;
  }
  case PDU_R2T:
    return on_r2t(t, q, h);
  default: /* C2HTermReq */
    return bad("C2HTermReq from the target (FES %u)%.0u%.0u", g16(h + 8), 0, 0);
  }
}

static int data_done(struct thread *t, struct ioq *q) {
  struct slot *s = &q->slots[q->cur_cid];
  s->received += q->cur_datal;
  q->rst = RX_HDR;
  if (q->cur_flags & PF_SUCCESS) return complete(t, q, q->cur_cid, 0);
  return 0;
}

/* Parses n received bytes; -1 on a protocol error. */
static int rx_consume(struct thread *t, struct ioq *q, uint8_t *p, uint32_t n) {
  while (n) {
    if (q->rst == RX_HDR) {
      const uint8_t *h = NULL;
      if (q->hdr_have == 0 && n >= 8) {
        uint32_t need = header_bytes(q, p);
        if (need == 0) return bad("bad PDU header (type 0x%x, hlen %u, %u bytes)", p[0], p[2], g32(p + 4));
        if (n >= need) { /* the whole header is in this read: parse it in place */
          h = p;
          p += need;
          n -= need;
        }
      }
      if (h == NULL) { /* a header split across reads: gather it */
        if (q->hdr_have < 8) {
          uint32_t k = 8 - q->hdr_have < n ? 8 - q->hdr_have : n;
          memcpy(q->hdr + q->hdr_have, p, k);
          q->hdr_have += k;
          p += k;
          n -= k;
          if (q->hdr_have < 8) return 0;
          if ((q->hdr_need = header_bytes(q, q->hdr)) == 0) return bad("bad PDU header (type 0x%x, hlen %u, %u bytes)", q->hdr[0], q->hdr[2], g32(q->hdr + 4));
        }
        uint32_t k = q->hdr_need - q->hdr_have < n ? q->hdr_need - q->hdr_have : n;
        memcpy(q->hdr + q->hdr_have, p, k);
        q->hdr_have += k;
        p += k;
        n -= k;
        if (q->hdr_have < q->hdr_need) return 0;
        h = q->hdr;
        q->hdr_have = 0;
      }
      if (on_header(t, q, h) < 0) return -1;
    } else if (q->rst == RX_DATA) {
      uint32_t k = q->data_left < n ? q->data_left : n;
      if (q->data_dst) { memcpy(q->data_dst, p, k); q->data_dst += k; }
      if (q->cur_flags & PF_DDGST) q->dcrc = gen_crc_update(q->dcrc, p, k);
      q->data_left -= k;
      p += k;
      n -= k;
      if (q->data_left == 0) {
        if (q->cur_flags & PF_DDGST) { q->rst = RX_DDGST; q->dd_have = 0; }
        else if (data_done(t, q) < 0) return -1;
      }
    } else {
      uint32_t k = 4 - q->dd_have < n ? 4 - q->dd_have : n;
      memcpy(q->dd + q->dd_have, p, k);
      q->dd_have += k;
      p += k;
      n -= k;
      if (q->dd_have == 4) {
        if (g32(q->dd) != gen_crc_final(q->dcrc)) return bad("data digest error (CID %u, %u bytes)%.0u", q->cur_cid, q->cur_datal, 0);
        if (data_done(t, q) < 0) return -1;
      }
    }
  }
  return 0;
}

static int parse(struct thread *t, struct ioq *q, uint8_t *p, uint32_t n, int data_end) {
  char why[160] = "protocol error";
  bad_reasons_into(why);
  int rc = data_end ? data_done(t, q) : rx_consume(t, q, p, n);
  bad_reasons_into(NULL);
  if (rc < 0) q_fail(t, q, why);
  return rc;
}

/* Reads and parses what the socket holds. In discard mode (q->discard: large reads whose data
 * nobody looks at, no --verify and no data digest) C2HData payloads are dropped in the kernel with
 * recv(MSG_TRUNC), which TCP implements as "skip without copying", and headers are read in small
 * pieces so that a read copies few payload bytes: the generator then costs a few syscalls per
 * command instead of a copy of the payload. */
static void on_readable(struct thread *t, struct ioq *q) {
  for (;;) {
    ssize_t r;
    if (q->discard && q->rst == RX_DATA && !q->data_dst && !(q->cur_flags & PF_DDGST)) {
      r = recv(q->fd, NULL, q->data_left, MSG_TRUNC | MSG_DONTWAIT);
      if (r > 0) {
        t->rx_now = now_ns();
        q->data_left -= (uint32_t)r;
        if (q->data_left > 0) return; /* the rest is not here yet */
        if (parse(t, q, NULL, 0, 1) < 0) return;
        continue;
      }
    } else {
      uint32_t want = q->discard && DISCARD_HEADER_READ < q->rx_cap ? DISCARD_HEADER_READ : q->rx_cap;
      r = read(q->fd, q->rx, want);
      if (r > 0) {
        t->rx_now = now_ns();
        if (parse(t, q, q->rx, (uint32_t)r, 0) < 0) return;
        if ((uint32_t)r < want) return;
        continue;
      }
    }
    if (r == 0) { q_fail(t, q, "connection closed by the target"); return; }
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) q_fail(t, q, strerror(errno));
    return;
  }
}

/* One pass: wait (or poll), read and parse what arrived, refill, send. Returns the number of
 * connections that had events. */
static int pass(struct thread *t, int timeout_ms) {
  struct epoll_event evs[64];
  int n = epoll_wait(t->ep, evs, 64, timeout_ms);
  for (int i = 0; i < n; i++) {
    struct ioq *q = evs[i].data.ptr;
    if (q->dead) continue;
    if (evs[i].events & EPOLLOUT) q_flush(t, q);
    if (!q->dead && (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))) on_readable(t, q);
  }
  t->now = now_ns();
  for (int i = 0; i < t->o->connections; i++) {
    struct ioq *q = &t->io[i];
    r2t_backlog(q);
    refill(t, q);
    if (!q->dead && !q->want_out && q->iov_n > q->iov_at) q_flush(t, q);
  }
  return n;
}

static int alive(const struct thread *t, int *inflight) {
  int a = 0, f = 0;
  for (int i = 0; i < t->o->connections; i++) if (!t->io[i].dead) { a++; f += t->io[i].inflight; }
  *inflight = f;
  return a;
}

void engine_run(struct thread *t) {
  const struct opts *o = t->o;
  int inflight;
  t->ep = epoll_create1(EPOLL_CLOEXEC);
  for (int i = 0; i < o->connections; i++) {
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &t->io[i]};
    epoll_ctl(t->ep, EPOLL_CTL_ADD, t->io[i].fd, &ev);
  }
  /* --verify of workloads that read: each queue writes every unit of its stripes once. */
  if (o->verify && o->rwmixread > 0) {
    t->prefill = 1;
    for (int i = 0; i < o->connections; i++) {
      struct ioq *q = &t->io[i];
      q->prefill_next = q->stripe_base * t->l->stripe_units;
      q->prefill_end = (q->stripe_base + (uint64_t)q->depth) * t->l->stripe_units;
    }
    for (;;) {
      int left = 0;
      for (int i = 0; i < o->connections; i++) left += !t->io[i].dead && t->io[i].prefill_next < t->io[i].prefill_end;
      if (alive(t, &inflight) == 0 || (left == 0 && inflight == 0)) break;
      pass(t, 100);
    }
    t->prefill = 0;
    for (int i = 0; i < o->connections; i++) memset(t->io[i].slot_cursor, 0, (size_t)t->io[i].depth * sizeof(uint64_t));
  }
  __atomic_add_fetch(&g_ready, 1, __ATOMIC_ACQ_REL);
  while (__atomic_load_n(&g_phase, __ATOMIC_ACQUIRE) == PH_SETUP) nanosleep(&(struct timespec){0, 200000}, NULL);

  uint64_t w0 = 0, stop_at = 0, last_event = 0;
  const uint64_t spin_ns = (uint64_t)o->spin_us * 1000u;
  double cpu0 = 0, delay0 = 0;
  int measured = 0;
  for (;;) {
    int ph = __atomic_load_n(&g_phase, __ATOMIC_ACQUIRE);
    if (ph >= PH_MEASURE && !measured) {
      measured = 1;
      t->measuring = 1;
      t->st.ios = t->st.bytes = t->st.reads = t->st.writes = 0;
      hist_reset(&t->st.hist);
      w0 = now_ns();
      cpu0 = thread_cpu_sec();
      delay0 = run_delay_sec();
    }
    if ((ph == PH_STOP || alive(t, &inflight) == 0) && !t->stopping) {
      if (t->measuring) {
        t->measuring = 0;
        t->st.elapsed_sec = (double)(now_ns() - w0) / 1e9;
        t->st.cpu_sec = thread_cpu_sec() - cpu0;
        t->st.run_delay_sec = run_delay_sec() - delay0;
      }
      t->stopping = 1;
      stop_at = now_ns();
    }
    if (t->stopping) {
      alive(t, &inflight);
      if (inflight == 0) break;
      if (now_ns() - stop_at > STOP_DRAIN_NS) {
        /* A command that never completes is a failed command (a stuck connection, a lost PDU). */
        for (int i = 0; i < o->connections; i++) {
          struct ioq *q = &t->io[i];
          char msg[120];
          snprintf(msg, sizeof msg, "I/O queue %d: %d command(s) not completed 5 s after the end of the run", q->qid, q->inflight);
          for (int k = 0; !q->dead && k < q->inflight; k++) error_once(t, msg);
        }
        break;
      }
    }
    /* --poll never sleeps; --spin-us polls that long after the last event before sleeping. */
    int timeout = o->poll || (spin_ns && t->now - last_event < spin_ns) ? 0 : 10;
    if (pass(t, timeout) > 0) last_event = t->now;
  }
  close(t->ep);
}
