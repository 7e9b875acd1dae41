/*
 * null_target: the raw-TCP floor of the nvmetd benchmarks.
 *
 * A minimal NVMe/TCP target in one C file and one thread: epoll, non-blocking sockets, every response
 * of one receive pass gathered and sent with writev. It speaks just enough of the protocol for
 * `nvmetd perf` (and a Linux host) to connect and run I/O against one namespace:
 *   ICReq/ICResp (header and data digests as asked), admin Connect, Property Get/Set, Identify
 *   (controller, namespace, active namespace list, empty descriptor list), Set/Get Features
 *   (Number of Queues), Keep Alive, Get Log Page (zeros); on I/O queues Connect, Read (C2HData from a
 *   static buffer), Write (in-capsule, or R2T + H2CData; the data is discarded), Flush.
 * With -m the namespace is memory (the RAM-backed floor: what storing the data costs a C target): an
 * anonymous private mapping of NS_BYTES with MADV_HUGEPAGE, not touched up front (so, like nvmetd's
 * RAM namespace, unwritten ranges read as zeroes from a hot page and a first write faults its pages
 * in). Reads send the bytes at SLBA x block size straight from the mapping (an iovec into it, no
 * copy); writes copy the data into place: in-capsule data from the capsule, H2CData from the receive
 * buffer it arrived in. A range past the end gets LBA Out of Range.
 * Digests are computed for every PDU, as a real target must, with the SSE4.2 crc32 instruction
 * (bench/gen/crc32c.h; a slicing-by-8 table on CPUs without it, or with CRC32C_FORCE_TABLE=1).
 * It does not check much: it is a measuring stick, not a target.
 *
 * Build: cc -O2 -o null_target null_target.c
 * Usage: null_target [-a ADDR] [-p PORT] [-s NS_BYTES] [-b BLOCK_SIZE] [-n NQN] [-P] [-m]
 *   prints "listening ADDR:PORT" on stdout once ready; SIGINT/SIGTERM stop it.
 *   -P: busy poll while a connection is open (epoll_wait with a zero timeout: the thread never sleeps
 *       and takes a whole core); with none open it sleeps, so an idle -P floor costs nothing.
 *   -m: the namespace is memory that holds the data (see above); without it reads return a static
 *       buffer and writes are discarded.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

/* ---- protocol constants (NVMe/TCP 1.0, NVMe base 2.0) ---- */
enum { ICREQ = 0x00, ICRESP = 0x01, H2C_TERM = 0x02, C2H_TERM = 0x03, CAPSULE_CMD = 0x04,
       CAPSULE_RESP = 0x05, H2C_DATA = 0x06, C2H_DATA = 0x07, R2T = 0x09 };
enum { F_HDGST = 0x01, F_DDGST = 0x02, F_LAST = 0x04, F_SUCCESS = 0x08 };
enum { SGL_IN_CAPSULE = 0x01 };

#define MAXQ 128            /* entries per queue (CAP.MQES + 1) */
#define MAX_H2C_DATA 131072 /* ICResp MAXH2CDATA, as nvmetd's default */
#define INLINE_DATA 8192    /* in-capsule data (IOCCSZ), as nvmetd's default */
#define MDTS_SHIFT 8        /* 4 KiB << 8 = 1 MiB, as nvmetd's default */
#define READ_BUF (1u << 20)
#define RX_BUF (2u << 20)
#define ARENA 65536
#define MAX_IOV 1024
#define MAX_CONNS 1024

/* ---- CRC32C: SSE4.2 instructions where the CPU has them, else a slicing-by-8 table ---- */
#include "../gen/crc32c.h"

/* ---- little-endian field access ---- */
static inline uint16_t g16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return v; }
static inline uint32_t g32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static inline uint64_t g64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }
static inline void p16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }
static inline void p32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static inline void p64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }

/* ---- state ---- */
static uint8_t read_buf[READ_BUF];   /* what every read returns */
static uint64_t ns_bytes = 256ull << 20;
static uint32_t block_size = 512;
static uint8_t *ns_mem;              /* -m: the namespace's memory; NULL: reads from read_buf, writes discarded */
static const char *subnqn = "nqn.2026-11.io.nvmetd:null";
static volatile sig_atomic_t stopping;

struct conn {
  int fd;
  int hdgst, ddgst, hpda;
  int qid;
  int sqflow_off;
  uint32_t cc;
  /* receive */
  uint8_t *rx;
  size_t rx_len;
  /* send: headers and digests in the arena, payloads as views of read_buf */
  uint8_t arena[ARENA];
  size_t arena_pos;
  struct iovec iov[MAX_IOV];
  int iov_n, iov_at;
  int want_out;
  /* writes waiting for H2CData, by CID: bytes still expected (0 = none) */
  uint32_t h2c_left[65536];
  /* -m: where each such write's data goes in ns_mem, and its length */
  uint64_t h2c_off[65536];
  uint32_t h2c_len[65536];
};

static struct conn *conns[MAX_CONNS];
static int epfd;
static int busy_poll;
static int nconns; /* open connections: -P polls only while there are some */

static void die(const char *what) { perror(what); exit(1); }

/* ---- send path ---- */
static uint8_t *hdr_space(struct conn *c, size_t n) {
  /* Adjacent headers share one iovec. Responses per pass are bounded by the queue size, so the arena
   * and iovec array cannot run out before the flush at the end of the pass. */
  uint8_t *p = c->arena + c->arena_pos;
  struct iovec *last = c->iov_n ? &c->iov[c->iov_n - 1] : NULL;
  if (last && (uint8_t *)last->iov_base + last->iov_len == p) last->iov_len += n;
  else { c->iov[c->iov_n].iov_base = p; c->iov[c->iov_n].iov_len = n; c->iov_n++; }
  c->arena_pos += n;
  return p;
}

static void data_view(struct conn *c, const uint8_t *d, size_t n) {
  c->iov[c->iov_n].iov_base = (void *)d;
  c->iov[c->iov_n].iov_len = n;
  c->iov_n++;
}

static void ch(uint8_t *h, int type, int flags, int hlen, int pdo, uint32_t plen) {
  h[0] = type; h[1] = flags; h[2] = hlen; h[3] = pdo; p32(h + 4, plen);
}

static void capsule_resp(struct conn *c, uint16_t cid, uint16_t status, uint32_t dw0, uint32_t dw1) {
  int tot = 24 + (c->hdgst ? 4 : 0);
  uint8_t *h = hdr_space(c, tot);
  memset(h, 0, 24);
  ch(h, CAPSULE_RESP, c->hdgst ? F_HDGST : 0, 24, 0, tot);
  p32(h + 8, dw0);
  p32(h + 12, dw1);
  p16(h + 16, c->sqflow_off ? 0xffff : 0);
  p16(h + 18, c->qid);
  p16(h + 20, cid);
  p16(h + 22, (uint16_t)(status << 1));
  if (c->hdgst) p32(h + 24, crc32c(h, 24));
}

/* C2HData for `len` bytes of `data`, then a CapsuleResp unless SQ flow control is off. */
static void c2h_data(struct conn *c, uint16_t cid, const uint8_t *data, uint32_t len) {
  int hl = 24 + (c->hdgst ? 4 : 0);
  int align = (c->hpda + 1) * 4;
  int pdo = (hl + align - 1) / align * align;
  uint32_t plen = pdo + len + (c->ddgst ? 4 : 0);
  int success = c->sqflow_off;
  uint8_t *h = hdr_space(c, pdo);
  memset(h, 0, pdo);
  ch(h, C2H_DATA, F_LAST | (success ? F_SUCCESS : 0) | (c->hdgst ? F_HDGST : 0) | (c->ddgst ? F_DDGST : 0), 24, pdo, plen);
  p16(h + 8, cid);
  p32(h + 12, 0);
  p32(h + 16, len);
  if (c->hdgst) p32(h + 24, crc32c(h, 24));
  data_view(c, data, len);
  if (c->ddgst) p32(hdr_space(c, 4), crc32c(data, len));
  if (!success) capsule_resp(c, cid, 0, 0, 0);
}

static void r2t(struct conn *c, uint16_t cid, uint32_t len) {
  int tot = 24 + (c->hdgst ? 4 : 0);
  uint8_t *h = hdr_space(c, tot);
  memset(h, 0, 24);
  ch(h, R2T, c->hdgst ? F_HDGST : 0, 24, 0, tot);
  p16(h + 8, cid);
  p16(h + 10, cid); /* TTAG = CID */
  p32(h + 12, 0);
  p32(h + 16, len);
  if (c->hdgst) p32(h + 24, crc32c(h, 24));
  c->h2c_left[cid] = len;
}

static void set_out_interest(struct conn *c, int want) {
  if (c->want_out == want) return;
  c->want_out = want;
  struct epoll_event ev = {.events = want ? EPOLLOUT : EPOLLIN, .data.ptr = c};
  epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Writes what is queued; returns -1 on a broken connection. Leftovers wait for EPOLLOUT, and the
 * connection is not read meanwhile (backpressure). */
static int flush(struct conn *c) {
  while (c->iov_at < c->iov_n) {
    int cnt = c->iov_n - c->iov_at;
    if (cnt > IOV_MAX) cnt = IOV_MAX;
    ssize_t w = writev(c->fd, c->iov + c->iov_at, cnt);
    if (w < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) { set_out_interest(c, 1); return 0; }
      if (errno == EINTR) continue;
      return -1;
    }
    while (w > 0) {
      struct iovec *v = &c->iov[c->iov_at];
      if ((size_t)w >= v->iov_len) { w -= v->iov_len; c->iov_at++; }
      else { v->iov_base = (uint8_t *)v->iov_base + w; v->iov_len -= w; w = 0; }
    }
  }
  c->iov_n = c->iov_at = 0;
  c->arena_pos = 0;
  set_out_interest(c, 0);
  return 0;
}

/* ---- admin commands ---- */
static void identify(struct conn *c, uint16_t cid, const uint8_t *sqe) {
  static uint8_t id[4096];
  uint8_t cns = sqe[40];
  uint32_t nsid = g32(sqe + 4);
  memset(id, 0, sizeof id);
  if (cns == 0x01) {
    p16(id + 0, 0x1b36);
    memcpy(id + 4, "NULLTARGET0001      ", 20);
    memcpy(id + 24, "nvmetd null target                      ", 40);
    memcpy(id + 64, "0.1.0   ", 8);
    id[77] = MDTS_SHIFT;
    p16(id + 78, 1);            /* CNTLID */
    p32(id + 80, 0x00020000);   /* VER 2.0 */
    id[111] = 1;                /* CNTRLTYPE: I/O controller */
    id[512] = 0x66;             /* SQES */
    id[513] = 0x44;             /* CQES */
    p16(id + 514, MAXQ);        /* MAXCMD */
    p32(id + 516, 1);           /* NN */
    p32(id + 536, (1u << 0) | (1u << 2) | (1u << 20)); /* SGLS: supported, keyed, offset */
    snprintf((char *)id + 768, 256, "%s", subnqn);
    p32(id + 1792, (64 + INLINE_DATA) / 16); /* IOCCSZ */
    p32(id + 1796, 1);                       /* IORCSZ */
  } else if (cns == 0x00) {
    if (nsid == 1) {
      uint64_t nlb = ns_bytes / block_size;
      p64(id + 0, nlb);
      p64(id + 8, nlb);
      p64(id + 16, nlb);
      id[128 + 2] = (uint8_t)__builtin_ctz(block_size); /* LBAF0 LBADS */
    }
  } else if (cns == 0x02) {
    if (nsid < 1) p32(id, 1);
  } /* other CNS (descriptors, ...): zeros */
  c2h_data(c, cid, id, 4096);
}

static void admin_cmd(struct conn *c, uint16_t cid, const uint8_t *sqe) {
  uint8_t opc = sqe[0];
  uint32_t cdw10 = g32(sqe + 40), cdw11 = g32(sqe + 44);
  switch (opc) {
  case 0x06: identify(c, cid, sqe); return;
  case 0x09: /* Set Features */
    if ((cdw10 & 0xff) == 0x07) { capsule_resp(c, cid, 0, ((MAXQ - 1u) << 16) | (MAXQ - 1u), 0); return; }
    capsule_resp(c, cid, 0, 0, 0);
    return;
  case 0x0a: /* Get Features */
    capsule_resp(c, cid, 0, (cdw10 & 0xff) == 0x07 ? ((MAXQ - 1u) << 16) | (MAXQ - 1u) : 0, 0);
    return;
  case 0x02: { /* Get Log Page: zeros */
    uint32_t numd = ((cdw10 >> 16) | ((cdw11 & 0xffff) << 16)) + 1;
    uint32_t len = numd * 4;
    if (len > READ_BUF) len = READ_BUF;
    static uint8_t zeros[4096];
    if (len <= sizeof zeros) c2h_data(c, cid, zeros, len);
    else capsule_resp(c, cid, 0x02, 0, 0); /* Invalid Field */
    return;
  }
  case 0x18: capsule_resp(c, cid, 0, 0, 0); return; /* Keep Alive */
  case 0x0c: return;                                 /* AER: never completes */
  default: capsule_resp(c, cid, 0x01, 0, 0); return; /* Invalid Opcode */
  }
}

static void fabrics_cmd(struct conn *c, uint16_t cid, const uint8_t *sqe) {
  uint8_t fct = sqe[4];
  switch (fct) {
  case 0x01: /* Connect */
    c->qid = g16(sqe + 42);
    if (g16(sqe + 44) >= MAXQ) { capsule_resp(c, cid, 0x182, 0, 0); return; } /* Connect Invalid Parameters */
    c->sqflow_off = (sqe[46] & 0x04) != 0;
    capsule_resp(c, cid, 0, 1, 0);
    return;
  case 0x04: { /* Property Get */
    uint32_t off = g32(sqe + 44);
    uint64_t v = 0;
    if (off == 0x00) v = (MAXQ - 1) | (1u << 16) | (2u << 24) | (1ull << 37); /* MQES, CQR, TO 1 s, CSS NVM */
    else if (off == 0x08) v = 0x00020000;
    else if (off == 0x14) v = c->cc;
    else if (off == 0x1c) v = (c->cc & 1) | ((c->cc >> 14) & 3 ? 2u << 2 : 0); /* RDY, SHST complete */
    capsule_resp(c, cid, 0, (uint32_t)v, (uint32_t)(v >> 32));
    return;
  }
  case 0x00: /* Property Set */
    if (g32(sqe + 44) == 0x14) c->cc = g32(sqe + 48);
    capsule_resp(c, cid, 0, 0, 0);
    return;
  default: capsule_resp(c, cid, 0, 0, 0); return; /* Disconnect, auth...: accept */
  }
}

/* ---- I/O commands ---- */
/* -m: the byte offset of the command's SLBA, or UINT64_MAX when SLBA + `len` bytes run past the end. */
static uint64_t ns_offset(const uint8_t *sqe, uint32_t len) {
  uint64_t slba = g64(sqe + 40);
  if (slba >= ns_bytes / block_size) return UINT64_MAX;
  uint64_t off = slba * block_size;
  return len <= ns_bytes - off ? off : UINT64_MAX;
}

static void io_cmd(struct conn *c, uint16_t cid, const uint8_t *sqe, const uint8_t *icd, uint32_t icd_len) {
  uint8_t opc = sqe[0];
  uint32_t sgl_len = g32(sqe + 24 + 8);
  uint8_t sgl_id = sqe[24 + 15];
  uint64_t off = 0;
  if (ns_mem && (opc == 0x01 || opc == 0x02) && (off = ns_offset(sqe, sgl_len)) == UINT64_MAX) {
    capsule_resp(c, cid, 0x80, 0, 0); /* LBA Out of Range */
    return;
  }
  switch (opc) {
  case 0x02: { /* Read */
    uint32_t len = sgl_len;
    if (len > READ_BUF) { capsule_resp(c, cid, 0x02, 0, 0); return; }
    c2h_data(c, cid, ns_mem ? ns_mem + off : read_buf, len);
    return;
  }
  case 0x01: /* Write */
    if (sgl_id == SGL_IN_CAPSULE || sgl_len == 0) {
      if (ns_mem) {
        if (icd_len < sgl_len) { capsule_resp(c, cid, 0x02, 0, 0); return; } /* Invalid Field */
        memcpy(ns_mem + off, icd, sgl_len);
      }
      capsule_resp(c, cid, 0, 0, 0);
    } else {
      c->h2c_off[cid] = off;
      c->h2c_len[cid] = sgl_len;
      r2t(c, cid, sgl_len);
    }
    return;
  default: capsule_resp(c, cid, 0, 0, 0); return; /* Flush and the rest: done */
  }
}

/* ---- receive path ---- */
/* Handles one complete PDU; returns -1 to close the connection. */
static int on_pdu(struct conn *c, uint8_t *p, uint32_t plen) {
  uint8_t type = p[0], flags = p[1], hlen = p[2], pdo = p[3];
  int hd = (flags & F_HDGST) != 0, dd = (flags & F_DDGST) != 0;
  uint32_t dstart = pdo ? pdo : hlen + (hd ? 4 : 0);
  uint32_t dlen = plen > dstart ? plen - dstart - (dd ? 4 : 0) : 0;
  if (hd && g32(p + hlen) != crc32c(p, hlen)) return -1;
  if (dd && dlen && g32(p + dstart + dlen) != crc32c(p + dstart, dlen)) return -1;
  switch (type) {
  case ICREQ: {
    c->hpda = p[10];
    c->hdgst = (p[11] & 1) != 0;
    c->ddgst = (p[11] & 2) != 0;
    uint8_t *h = hdr_space(c, 128);
    memset(h, 0, 128);
    ch(h, ICRESP, 0, 128, 0, 128);
    h[10] = 0; /* CPDA */
    h[11] = (c->hdgst ? 1 : 0) | (c->ddgst ? 2 : 0);
    p32(h + 12, MAX_H2C_DATA);
    return 0;
  }
  case CAPSULE_CMD: {
    const uint8_t *sqe = p + 8;
    uint16_t cid = g16(sqe + 2);
    if (sqe[0] == 0x7f) fabrics_cmd(c, cid, sqe);
    else if (c->qid == 0) admin_cmd(c, cid, sqe);
    else io_cmd(c, cid, sqe, p + dstart, dlen);
    return 0;
  }
  case H2C_DATA: {
    uint16_t cid = g16(p + 8);
    uint32_t datal = g32(p + 16);
    if (c->h2c_left[cid] < datal) return -1;
    if (ns_mem) {
      uint32_t datao = g32(p + 12);
      if (dlen < datal || datao > c->h2c_len[cid] || datal > c->h2c_len[cid] - datao) return -1;
      memcpy(ns_mem + c->h2c_off[cid] + datao, p + dstart, datal);
    }
    c->h2c_left[cid] -= datal;
    if (c->h2c_left[cid] == 0) capsule_resp(c, cid, 0, 0, 0);
    return 0;
  }
  case H2C_TERM: return -1;
  default: return -1;
  }
}

static void close_conn(struct conn *c) {
  epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
  close(c->fd);
  for (int i = 0; i < MAX_CONNS; i++) if (conns[i] == c) conns[i] = NULL;
  nconns--;
  free(c->rx);
  free(c);
}

/* Reads everything available, handles every complete PDU, then sends all responses at once. */
static void on_readable(struct conn *c) {
  for (;;) {
    size_t cap = RX_BUF - c->rx_len;
    ssize_t r = read(c->fd, c->rx + c->rx_len, cap);
    if (r == 0) { close_conn(c); return; }
    if (r < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      close_conn(c);
      return;
    }
    c->rx_len += r;
    size_t at = 0;
    while (c->rx_len - at >= 8) {
      uint32_t plen = g32(c->rx + at + 4);
      if (plen < 8 || plen > RX_BUF) { close_conn(c); return; }
      if (c->rx_len - at < plen) break;
      if (on_pdu(c, c->rx + at, plen) < 0) { flush(c); close_conn(c); return; }
      at += plen;
    }
    if (at > 0) {
      memmove(c->rx, c->rx + at, c->rx_len - at);
      c->rx_len -= at;
    }
    if ((size_t)r < cap) break; /* short read: nothing more right now */
  }
  if (flush(c) < 0) close_conn(c);
}

static void on_signal(int s) { (void)s; stopping = 1; }

int main(int argc, char **argv) {
  const char *addr = "127.0.0.1";
  int port = 4420, mem = 0;
  for (int i = 1; i < argc; i += 2) {
    if (!strcmp(argv[i], "-P")) { busy_poll = 1; i--; continue; }
    if (!strcmp(argv[i], "-m")) { mem = 1; i--; continue; }
    if (i + 1 >= argc) { fprintf(stderr, "%s needs a value\n", argv[i]); return 2; }
    if (!strcmp(argv[i], "-a")) addr = argv[i + 1];
    else if (!strcmp(argv[i], "-p")) port = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "-s")) ns_bytes = strtoull(argv[i + 1], NULL, 0);
    else if (!strcmp(argv[i], "-b")) block_size = (uint32_t)atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "-n")) subnqn = argv[i + 1];
    else { fprintf(stderr, "usage: %s [-a ADDR] [-p PORT] [-s NS_BYTES] [-b BLOCK_SIZE] [-n NQN] [-P] [-m]\n", argv[0]); return 2; }
  }
  if (block_size < 512 || (block_size & (block_size - 1)) || ns_bytes < block_size) { fprintf(stderr, "bad -s or -b\n"); return 2; }
  if (mem) {
    /* Not touched here: like nvmetd's RAM namespace, a page is backed when first written. */
    ns_mem = mmap(NULL, ns_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (ns_mem == MAP_FAILED) die("mmap");
#ifdef MADV_HUGEPAGE
    madvise(ns_mem, ns_bytes, MADV_HUGEPAGE);
#endif
  }
  crc32c_init();
  for (size_t i = 0; i < READ_BUF; i++) read_buf[i] = (uint8_t)(i * 7 + 1);
  struct sigaction sa = {.sa_handler = on_signal};
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);

  int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  if (lfd < 0) die("socket");
  int one = 1;
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(port)};
  if (inet_pton(AF_INET, addr, &sin.sin_addr) != 1) { fprintf(stderr, "bad address %s\n", addr); return 2; }
  if (bind(lfd, (struct sockaddr *)&sin, sizeof sin) < 0) die("bind");
  if (listen(lfd, 128) < 0) die("listen");
  socklen_t sl = sizeof sin;
  getsockname(lfd, (struct sockaddr *)&sin, &sl);
  epfd = epoll_create1(0);
  struct epoll_event lev = {.events = EPOLLIN, .data.ptr = NULL};
  epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &lev);
  printf("listening %s:%d\n", addr, ntohs(sin.sin_port));
  fflush(stdout);

  struct epoll_event evs[64];
  while (!stopping) {
    int n = epoll_wait(epfd, evs, 64, busy_poll && nconns > 0 ? 0 : 500);
    if (n < 0) { if (errno == EINTR) continue; die("epoll_wait"); }
    for (int i = 0; i < n; i++) {
      struct conn *c = evs[i].data.ptr;
      if (c == NULL) {
        int fd;
        while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
          setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          struct conn *nc = calloc(1, sizeof *nc);
          if (!nc || !(nc->rx = malloc(RX_BUF))) die("malloc");
          nc->fd = fd;
          int slot = -1;
          for (int k = 0; k < MAX_CONNS; k++) if (!conns[k]) { slot = k; break; }
          if (slot < 0) { close(fd); free(nc->rx); free(nc); continue; }
          conns[slot] = nc;
          nconns++;
          struct epoll_event ev = {.events = EPOLLIN, .data.ptr = nc};
          epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
        }
        continue;
      }
      if (evs[i].events & EPOLLOUT) {
        if (flush(c) < 0) { close_conn(c); continue; }
        if (c->want_out) continue;
        on_readable(c); /* resume reading what waited */
        continue;
      }
      if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) on_readable(c);
    }
  }
  for (int k = 0; k < MAX_CONNS; k++) if (conns[k]) close_conn(conns[k]);
  close(lfd);
  return 0;
}
