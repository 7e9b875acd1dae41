/* The send side of a generator connection: capsules for new commands (in-capsule write data when
 * it fits the controller's in-capsule size, else R2T + H2CData) and H2CData answering R2Ts, built in
 * the connection's arena with payloads as views of the slot buffers, all sent together
 * once per pass (q_flush). Nothing is allocated per I/O. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gen.h"

/* xorshift32, as src/perf/job.ts: uniform in [0, 1). */
static inline double rng_next(uint32_t *s) {
  uint32_t x = *s;
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  *s = x;
  return (double)x / 4294967296.0;
}

/* ---- send path ---- */
static inline uint8_t *hdr_space(struct ioq *q, uint32_t n) {
  uint8_t *p = q->arena + q->arena_pos;
  struct iovec *last = q->iov_n ? &q->iov[q->iov_n - 1] : NULL;
  if (last && (uint8_t *)last->iov_base + last->iov_len == p) last->iov_len += n;
  else { q->iov[q->iov_n].iov_base = p; q->iov[q->iov_n].iov_len = n; q->iov_n++; }
  q->arena_pos += n;
  return p;
}

static inline void data_view(struct ioq *q, uint8_t *d, uint32_t n) {
  q->iov[q->iov_n].iov_base = d;
  q->iov[q->iov_n].iov_len = n;
  q->iov_n++;
}

static void set_out_interest(struct thread *t, struct ioq *q, int want) {
  if (q->want_out == want) return;
  q->want_out = want;
  struct epoll_event ev = {.events = want ? EPOLLIN | EPOLLOUT : EPOLLIN, .data.ptr = q};
  epoll_ctl(t->ep, EPOLL_CTL_MOD, q->fd, &ev);
}

/* A piece of the batch that goes by reference: write data of the connection's shared buffer, or the
 * H2CData header placed for such data in h2c_hdrs. */
static inline int by_reference(const struct ioq *q, const struct iovec *v) {
  const uint8_t *p = v->iov_base;
  return q->by_reference && ((v->iov_len >= BY_REFERENCE_MIN && p >= q->shared_buf && p < q->shared_buf + q->shared_len) ||
                             (p >= q->h2c_hdrs && p < q->h2c_hdrs + q->h2c_hdrs_len));
}

/* Consumes n bytes of the batch from iov_at on. */
static void advance(struct ioq *q, size_t n) {
  while (n > 0) {
    struct iovec *v = &q->iov[q->iov_at];
    if (n >= v->iov_len) { n -= v->iov_len; q->iov_at++; }
    else { v->iov_base = (uint8_t *)v->iov_base + n; v->iov_len -= n; n = 0; }
  }
}

/* A failed send: EAGAIN waits for EPOLLOUT, EINTR retries (returns 1), anything else fails the queue. */
static int send_error(struct thread *t, struct ioq *q) {
  if (errno == EAGAIN || errno == EWOULDBLOCK) { set_out_interest(t, q, 1); return 0; }
  if (errno == EINTR) return 1;
  q_fail(t, q, strerror(errno));
  return 0;
}

/* Sends by reference the run at v (cnt pieces: a header in h2c_hdrs and its data, or what is left of
 * them): the bytes not yet in the pipe are vmspliced in (their pages, not their bytes: neither changes
 * while the target may still read them), then the pipe is spliced into the socket. Bytes the socket
 * did not take stay in the pipe: they are the run's next bytes and go first on the next call.
 * One header and its data per splice, without SPLICE_F_MORE: with it the socket held back the tail
 * of each piece and a 128 KiB write cost the generator a third or more extra CPU, and whole batches
 * per splice (headers written into the pipe) cost more too (docs/perf.md). */
static ssize_t send_by_reference(struct ioq *q, const struct iovec *v, int cnt) {
  if (q->pipe_bytes == 0) {
    ssize_t n = vmsplice(q->splice_pipe[1], v, (unsigned long)cnt, SPLICE_F_NONBLOCK);
    if (n <= 0) return n;
    q->pipe_bytes = (uint32_t)n;
  }
  ssize_t w = splice(q->splice_pipe[0], NULL, q->fd, NULL, q->pipe_bytes, SPLICE_F_NONBLOCK);
  if (w > 0) q->pipe_bytes -= (uint32_t)w;
  return w;
}

/* Sends what is queued: runs of copied pieces with one sendmsg each (MSG_MORE while more follows),
 * pieces of the shared buffer with their H2CData headers by reference (send_by_reference).
 * What the socket does not take waits for EPOLLOUT. The connection is still read meanwhile (the
 * target may itself wait for us to read before it reads again), but nothing new is added to the
 * batch: no new commands, and R2Ts wait on their slots (on_r2t). */
void q_flush(struct thread *t, struct ioq *q) {
  while (q->iov_at < q->iov_n) {
    struct iovec *v = &q->iov[q->iov_at];
    ssize_t w;
    if (q->pipe_bytes > 0 || by_reference(q, v)) {
      /* A header and its data, or the data alone; or what of them waits in the pipe (the next bytes
       * at iov_at, whatever their length now: they must not also go by sendmsg). */
      int pair = v->iov_len < BY_REFERENCE_MIN && q->iov_at + 1 < q->iov_n && by_reference(q, v + 1);
      w = send_by_reference(q, v, pair ? 2 : 1);
    } else {
      int cnt = 1;
      while (cnt < IOV_MAX && q->iov_at + cnt < q->iov_n && !by_reference(q, &q->iov[q->iov_at + cnt])) cnt++;
      struct msghdr m = {.msg_iov = v, .msg_iovlen = (size_t)cnt};
      w = sendmsg(q->fd, &m, MSG_NOSIGNAL | (q->iov_at + cnt < q->iov_n ? MSG_MORE : 0));
    }
    if (w < 0) { if (send_error(t, q)) continue; return; }
    if (w == 0) { q_fail(t, q, "the socket took no bytes"); return; }
    advance(q, (size_t)w);
  }
  q->iov_n = q->iov_at = 0;
  q->arena_pos = 0;
  set_out_interest(t, q, 0);
}

/* The data digest of buf[off, off + len): from the connection's cache when the buffer is the shared
 * one, whose bytes never change. */
static uint32_t data_digest(struct ioq *q, const uint8_t *buf, uint32_t off, uint32_t len) {
  if (buf != q->shared_buf) return gen_crc(buf + off, len);
  int n = q->dcache_used < 8 ? q->dcache_used : 8;
  for (int i = 0; i < n; i++)
    if (q->dcache[i].off == off && q->dcache[i].len == len) return q->dcache[i].crc;
  uint32_t crc = gen_crc(buf + off, len);
  int i = q->dcache_used++ % 8;
  q->dcache[i].off = off;
  q->dcache[i].len = len;
  q->dcache[i].crc = crc;
  return crc;
}

/* One command into the send batch: picks the unit and direction, fills the capsule. */
static void issue(struct thread *t, struct ioq *q) {
  const struct opts *o = t->o;
  const struct layout *l = t->l;
  uint16_t cid = q->free_cids[--q->nfree];
  struct slot *s = &q->slots[cid];
  uint64_t unit;
  int write;
  if (t->prefill) {
    unit = q->prefill_next++;
    write = 1;
  } else {
    write = o->rwmixread == 100 ? 0 : o->rwmixread == 0 ? 1 : rng_next(&q->rng) * 100 >= o->rwmixread;
    if (o->verify) {
      uint64_t off = o->random ? (uint64_t)(rng_next(&q->rng) * (double)l->stripe_units) : q->slot_cursor[cid]++ % l->stripe_units;
      unit = (q->stripe_base + cid) * l->stripe_units + off;
    } else if (o->random) {
      unit = (uint64_t)(rng_next(&q->rng) * (double)l->span_units);
    } else {
      unit = q->cursor;
      if (++q->cursor == l->span_units) q->cursor = 0;
    }
  }
  uint64_t slba = unit * l->nlb;
  if (o->verify) {
    uint32_t words = l->block_size / 4;
    uint32_t *u = (uint32_t *)s->buf;
    if (write) {
      t->gen = t->gen % 0xffffffffu + 1;
      fill_blocks(u, words, l->nlb, slba, t->gen);
      l->last_gen[unit] = t->gen;
    } else {
      /* Clear the tags so bytes left from this slot's previous I/O cannot pass as new data. */
      for (uint32_t b = 0; b < l->nlb; b++) memset(u + (size_t)b * words, 0xff, 16);
    }
  }
  int incap = write && l->io_size <= q->icd;
  uint32_t hl = 72 + (q->hdgst ? 4 : 0);
  uint32_t pdo = incap ? align_up(hl, q->cpda_align) : 0;
  uint32_t hbytes = incap ? pdo : hl;
  uint8_t *h = hdr_space(q, hbytes);
  memset(h, 0, hbytes);
  h[0] = PDU_CAPSULE_CMD;
  h[1] = (q->hdgst ? PF_HDGST : 0) | (incap && q->ddgst ? PF_DDGST : 0);
  h[2] = 72;
  h[3] = (uint8_t)pdo;
  p32(h + 4, incap ? pdo + l->io_size + (q->ddgst ? 4 : 0) : hl);
  uint8_t *sqe = h + 8;
  sqe[0] = write ? OPC_WRITE : OPC_READ;
  sqe[1] = PSDT_SGL;
  p16(sqe + 2, cid);
  p32(sqe + 4, o->nsid);
  p32(sqe + 24 + 8, l->io_size);
  sqe[24 + 15] = incap ? SGL_IN_CAPSULE : SGL_TRANSPORT;
  p64(sqe + 40, slba);
  p32(sqe + 48, l->nlb - 1);
  if (q->hdgst) p32(h + 72, gen_crc(h, 72));
  if (incap) {
    data_view(q, s->buf, l->io_size);
    if (q->ddgst) p32(hdr_space(q, 4), data_digest(q, s->buf, 0, l->io_size));
  }
  s->busy = 1;
  s->write = (uint8_t)write;
  s->unit = unit;
  s->received = 0;
  s->start = t->now;
  q->inflight++;
}

void refill(struct thread *t, struct ioq *q) {
  if (q->dead || q->want_out || t->stopping) return;
  if (t->prefill) {
    while (q->nfree > 0 && q->prefill_next < q->prefill_end) issue(t, q);
  } else {
    while (q->nfree > 0) issue(t, q);
  }
}

/* H2CData for the R2T's range, split at MAXH2CDATA. */
/* H2CData PDUs for bytes [off, end) of the slot's buffer, split at MAXH2CDATA. */
static void h2c_data(struct ioq *q, uint16_t cid, uint16_t ttag, uint32_t off, uint32_t end) {
  struct slot *s = &q->slots[cid];
  uint32_t hl = 24 + (q->hdgst ? 4 : 0), pdo = align_up(hl, q->cpda_align);
  for (uint32_t piece = 0; off < end; piece++) {
    uint32_t n = end - off < q->maxh2cdata ? end - off : q->maxh2cdata;
    uint8_t *d;
    if (q->h2c_hdrs && !q->ddgst && n >= BY_REFERENCE_MIN && s->buf == q->shared_buf && pdo <= H2C_HDR_STRIDE && piece < q->h2c_pieces) {
      /* Data by reference: its header too, from the slot's place for this piece (send_by_reference).
       * Not with data digests: the digest after the data still takes a sendmsg of its own, and with
       * them a header by reference cost a 128 KiB write 50% more generator CPU than a copied one
       * (docs/perf.md). */
      d = q->h2c_hdrs + ((size_t)cid * q->h2c_pieces + piece) * H2C_HDR_STRIDE;
      data_view(q, d, pdo);
    } else {
      d = hdr_space(q, pdo);
    }
    memset(d, 0, pdo);
    d[0] = PDU_H2C_DATA;
    d[1] = (q->hdgst ? PF_HDGST : 0) | (q->ddgst ? PF_DDGST : 0) | (off + n == end ? PF_LAST : 0);
    d[2] = 24;
    d[3] = (uint8_t)pdo;
    p32(d + 4, pdo + n + (q->ddgst ? 4 : 0));
    p16(d + 8, cid);
    p16(d + 10, ttag);
    p32(d + 12, off);
    p32(d + 16, n);
    if (q->hdgst) p32(d + 24, gen_crc(d, 24));
    data_view(q, s->buf + off, n);
    if (q->ddgst) p32(hdr_space(q, 4), data_digest(q, s->buf, off, n));
    off += n;
  }
}

/* An R2T: its H2CData go into this pass's batch, or, while the connection waits to send what it
 * has (EPOLLOUT), are noted on the slot and built once the socket has taken the rest (r2t_backlog),
 * so that the connection keeps reading meanwhile without outgrowing its arena. */
int on_r2t(struct thread *t, struct ioq *q, const uint8_t *h) {
  uint16_t cid = g16(h + 8), ttag = g16(h + 10);
  uint32_t r2to = g32(h + 12), r2tl = g32(h + 16);
  const struct layout *l = t->l;
  if (cid >= q->depth || !q->slots[cid].busy || !q->slots[cid].write || r2tl == 0 || (uint64_t)r2to + r2tl > l->io_size)
    return bad("R2T for CID %u (offset %u, %u bytes) matches no outstanding write", cid, r2to, r2tl);
  struct slot *s = &q->slots[cid];
  if (s->r2t_pending) return bad("a second R2T for CID %u (offset %u) before the data of the first%.0u", cid, r2to, 0);
  if (!q->want_out) {
    h2c_data(q, cid, ttag, r2to, r2to + r2tl);
    return 0;
  }
  s->r2t_pending = 1;
  s->r2t_ttag = ttag;
  s->r2t_off = r2to;
  s->r2t_len = r2tl;
  q->r2t_pending++;
  return 0;
}

void r2t_backlog(struct ioq *q) {
  if (q->r2t_pending == 0 || q->want_out || q->dead) return;
  for (int i = 0; i < q->depth && q->r2t_pending > 0; i++) {
    struct slot *s = &q->slots[i];
    if (!s->r2t_pending) continue;
    s->r2t_pending = 0;
    q->r2t_pending--;
    h2c_data(q, (uint16_t)i, s->r2t_ttag, s->r2t_off, s->r2t_off + s->r2t_len);
  }
}
