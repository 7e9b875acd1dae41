/* Bring-up of one controller, blocking, before the I/O loop starts: per connection ICReq/ICResp,
 * then on the admin queue Connect, Property Get CAP, Property Set CC.EN=1, Property Get CSTS until
 * RDY, Identify controller and namespace, Set Features Number of Queues, and the I/O queues'
 * Connects. Every answer is checked; a failure is one message in `err`. */
#define _GNU_SOURCE
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "gen.h"

#define ADMIN_QSIZE 32

static int fail(char *err, size_t n, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, n, fmt, ap);
  va_end(ap);
  return -1;
}

static int send_iov(int fd, struct iovec *iov, int cnt) {
  while (cnt > 0) {
    ssize_t w = writev(fd, iov, cnt);
    if (w < 0) { if (errno == EINTR) continue; return -1; }
    while (cnt > 0 && (size_t)w >= iov->iov_len) { w -= (ssize_t)iov->iov_len; iov++; cnt--; }
    if (cnt > 0) { iov->iov_base = (uint8_t *)iov->iov_base + w; iov->iov_len -= (size_t)w; }
  }
  return 0;
}

static int recv_all(int fd, uint8_t *p, size_t n) {
  while (n) {
    ssize_t r = read(fd, p, n);
    if (r == 0) { errno = ECONNRESET; return -1; }
    if (r < 0) { if (errno == EINTR) continue; return -1; }
    p += r;
    n -= (size_t)r;
  }
  return 0;
}

/* TCP connect and ICReq/ICResp; fills the link parameters of q. */
static int q_open(struct ioq *q, const struct opts *o, int qid, char *err, size_t errn) {
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *ai;
  char port[16];
  snprintf(port, sizeof port, "%d", o->port);
  int rc = getaddrinfo(o->address, port, &hints, &ai);
  if (rc) return fail(err, errn, "%s: %s", o->address, gai_strerror(rc));
  q->fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (q->fd < 0 || connect(q->fd, ai->ai_addr, ai->ai_addrlen) < 0) {
    int e = errno;
    freeaddrinfo(ai);
    return fail(err, errn, "connect %s:%d: %s", o->address, o->port, strerror(e));
  }
  freeaddrinfo(ai);
  int one = 1;
  setsockopt(q->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  q->qid = qid;
  uint8_t ic[128] = {0};
  ic[0] = PDU_ICREQ;
  ic[2] = 128;
  p32(ic + 4, 128);
  ic[11] = (o->hdgst ? 1 : 0) | (o->ddgst ? 2 : 0); /* PFV 0, HPDA 0, MAXR2T 0 */
  struct iovec v = {ic, 128};
  if (send_iov(q->fd, &v, 1) < 0) return fail(err, errn, "queue %d: sending ICReq: %s", qid, strerror(errno));
  if (recv_all(q->fd, ic, 8) < 0) return fail(err, errn, "queue %d: no ICResp: %s", qid, strerror(errno));
  if (ic[0] != PDU_ICRESP || g32(ic + 4) != 128) return fail(err, errn, "queue %d: expected ICResp, got PDU type 0x%x of %u bytes", qid, ic[0], g32(ic + 4));
  if (recv_all(q->fd, ic + 8, 120) < 0) return fail(err, errn, "queue %d: short ICResp", qid);
  if (g16(ic + 8) != 0) return fail(err, errn, "queue %d: ICResp PFV %u", qid, g16(ic + 8));
  q->cpda_align = (ic[10] + 1u) * 4u;
  q->hdgst = (ic[11] & 1) != 0;
  q->ddgst = (ic[11] & 2) != 0;
  if (q->hdgst != o->hdgst || q->ddgst != o->ddgst) return fail(err, errn, "queue %d: the controller answered digests %d/%d to a request for %d/%d", qid, q->hdgst, q->ddgst, o->hdgst, o->ddgst);
  q->maxh2cdata = g32(ic + 12);
  if (q->maxh2cdata < 4096) return fail(err, errn, "queue %d: ICResp MAXH2CDATA %u is below 4096", qid, q->maxh2cdata);
  return 0;
}

/* One command with optional in-capsule data out or data in (C2HData); waits for its completion.
 * The 16-byte CQE goes to cqe. */
static int sync_cmd(struct ioq *q, uint8_t sqe[64], const uint8_t *out, uint32_t out_len, uint8_t *in, uint32_t in_len,
                    uint8_t cqe[16], const char *what, char *err, size_t errn) {
  uint16_t cid = q->next_cid++;
  p16(sqe + 2, cid);
  sqe[1] = PSDT_SGL;
  memset(sqe + 24, 0, 16);
  p32(sqe + 24 + 8, out ? out_len : in_len);
  sqe[24 + 15] = out ? SGL_IN_CAPSULE : SGL_TRANSPORT;
  uint8_t hdr[256] = {0}, ddg[4];
  uint32_t hl = 72 + (q->hdgst ? 4 : 0), pdo = 0, plen = hl;
  if (out) {
    pdo = align_up(hl, q->cpda_align);
    plen = pdo + out_len + (q->ddgst ? 4 : 0);
  }
  hdr[0] = PDU_CAPSULE_CMD;
  hdr[1] = (q->hdgst ? PF_HDGST : 0) | (out && q->ddgst ? PF_DDGST : 0);
  hdr[2] = 72;
  hdr[3] = (uint8_t)pdo;
  p32(hdr + 4, plen);
  memcpy(hdr + 8, sqe, 64);
  if (q->hdgst) p32(hdr + 72, gen_crc(hdr, 72));
  struct iovec v[3] = {{hdr, out ? pdo : hl}, {(void *)out, out_len}, {ddg, 4}};
  int cnt = 1;
  if (out) {
    cnt = 2;
    if (q->ddgst) { p32(ddg, gen_crc(out, out_len)); cnt = 3; }
  }
  if (send_iov(q->fd, v, cnt) < 0) return fail(err, errn, "%s: send: %s", what, strerror(errno));
  uint8_t *pdu = malloc(in_len + 512);
  if (!pdu) return fail(err, errn, "out of memory");
  int rc = -1;
  for (;;) {
    if (recv_all(q->fd, pdu, 8) < 0) { fail(err, errn, "%s: connection lost: %s", what, strerror(errno)); break; }
    uint32_t len = g32(pdu + 4);
    uint8_t type = pdu[0], flags = pdu[1], phl = pdu[2], ppdo = pdu[3];
    if (len < 8 || len > in_len + 512 || phl < 8 || phl > len) { fail(err, errn, "%s: bad PDU (type 0x%x, %u bytes)", what, type, len); break; }
    if (recv_all(q->fd, pdu + 8, len - 8) < 0) { fail(err, errn, "%s: connection lost", what); break; }
    int hd = (flags & PF_HDGST) != 0, dd = (flags & PF_DDGST) != 0;
    if (hd && (len < phl + 4u || g32(pdu + phl) != gen_crc(pdu, phl))) { fail(err, errn, "%s: header digest error", what); break; }
    if (type == PDU_CAPSULE_RESP && phl == 24) {
      memcpy(cqe, pdu + 8, 16);
      if (g16(cqe + 12) != cid) { fail(err, errn, "%s: completion for CID %u, expected %u", what, g16(cqe + 12), cid); break; }
      rc = 0;
      break;
    }
    if (type == PDU_C2H_DATA && phl == 24) {
      uint32_t datao = g32(pdu + 12), datal = g32(pdu + 16);
      uint32_t dstart = ppdo ? ppdo : phl + (hd ? 4u : 0u);
      if (g16(pdu + 8) != cid || !in || datao + (uint64_t)datal > in_len || dstart + (uint64_t)datal + (dd ? 4 : 0) != len) {
        fail(err, errn, "%s: unexpected C2HData (offset %u, %u bytes)", what, datao, datal);
        break;
      }
      if (dd && g32(pdu + dstart + datal) != gen_crc(pdu + dstart, datal)) { fail(err, errn, "%s: data digest error", what); break; }
      memcpy(in + datao, pdu + dstart, datal);
      if (flags & PF_SUCCESS) { memset(cqe, 0, 16); p16(cqe + 12, cid); rc = 0; break; }
      continue;
    }
    if (type == PDU_C2H_TERM) fail(err, errn, "%s: the controller ended the connection (C2HTermReq, FES %u)", what, g16(pdu + 8));
    else fail(err, errn, "%s: unexpected PDU type 0x%x", what, type);
    break;
  }
  free(pdu);
  return rc;
}

static int status_of(const uint8_t cqe[16]) { return (g16(cqe + 14) >> 1) & 0x7fff; }

static int connect_cmd(struct ioq *q, const struct opts *o, uint16_t sqsize, uint16_t cntlid, const uint8_t hostid[16],
                       uint8_t cqe[16], char *err, size_t errn) {
  uint8_t sqe[64] = {0}, data[1024] = {0};
  sqe[0] = OPC_FABRICS;
  sqe[4] = FCT_CONNECT;
  p16(sqe + 42, (uint16_t)q->qid);
  p16(sqe + 44, sqsize);
  sqe[46] = o->disable_sqflow ? 0x04 : 0;
  memcpy(data, hostid, 16);
  p16(data + 16, cntlid);
  snprintf((char *)data + 256, 256, "%s", o->nqn);
  snprintf((char *)data + 512, 256, "%s", o->hostnqn);
  char what[48];
  snprintf(what, sizeof what, q->qid ? "I/O queue %d Connect" : "admin Connect", q->qid);
  if (sync_cmd(q, sqe, data, 1024, NULL, 0, cqe, what, err, errn) < 0) return -1;
  if (status_of(cqe)) return fail(err, errn, "%s failed with status 0x%x", what, status_of(cqe));
  q->sqflow_off = g16(cqe + 8) == 0xffff;
  return 0;
}

static int prop(struct ioq *q, int set, uint32_t off, int size8, uint64_t val, uint64_t *got, char *err, size_t errn) {
  uint8_t sqe[64] = {0}, cqe[16];
  sqe[0] = OPC_FABRICS;
  sqe[4] = set ? FCT_PROP_SET : FCT_PROP_GET;
  sqe[40] = size8 ? 1 : 0;
  p32(sqe + 44, off);
  if (set) p64(sqe + 48, val);
  char what[48];
  snprintf(what, sizeof what, "Property %s 0x%x", set ? "Set" : "Get", off);
  if (sync_cmd(q, sqe, NULL, 0, NULL, 0, cqe, what, err, errn) < 0) return -1;
  if (status_of(cqe)) return fail(err, errn, "%s failed with status 0x%x", what, status_of(cqe));
  if (got) *got = g32(cqe) | ((uint64_t)g32(cqe + 4) << 32);
  return 0;
}

static int admin(struct ioq *q, uint8_t opc, uint32_t nsid, uint32_t cdw10, uint32_t cdw11, uint8_t *in, uint32_t in_len,
                 uint8_t cqe[16], const char *what, char *err, size_t errn) {
  uint8_t sqe[64] = {0};
  sqe[0] = opc;
  p32(sqe + 4, nsid);
  p32(sqe + 40, cdw10);
  p32(sqe + 44, cdw11);
  if (sync_cmd(q, sqe, NULL, 0, in, in_len, cqe, what, err, errn) < 0) return -1;
  if (status_of(cqe)) return fail(err, errn, "%s failed with status 0x%x", what, status_of(cqe));
  return 0;
}

int ctrl_setup(const struct opts *o, struct ioq *aq, struct ioq *io, int nio, struct ctrl_info *info, const uint8_t hostid[16],
               char *err, size_t errn) {
  uint8_t cqe[16];
  if (q_open(aq, o, 0, err, errn) < 0) return -1;
  if (connect_cmd(aq, o, ADMIN_QSIZE - 1, 0xffff, hostid, cqe, err, errn) < 0) return -1;
  info->cntlid = (uint16_t)g32(cqe);
  uint64_t cap, csts;
  if (prop(aq, 0, 0x00, 1, 0, &cap, err, errn) < 0) return -1;
  if (prop(aq, 1, 0x14, 0, 1u | (6u << 16) | (4u << 20), NULL, err, errn) < 0) return -1; /* CC: EN, IOSQES 6, IOCQES 4 */
  long to_ms = (long)((cap >> 24) & 0xff) * 500;
  if (to_ms < 500) to_ms = 500;
  for (long waited = 0;; waited += 10) {
    if (prop(aq, 0, 0x1c, 0, 0, &csts, err, errn) < 0) return -1;
    if (csts & 2) return fail(err, errn, "controller fatal status (CSTS.CFS) while enabling");
    if (csts & 1) break;
    if (waited > to_ms) return fail(err, errn, "CSTS.RDY not set within CAP.TO (%ld ms)", to_ms);
    nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
  }
  static __thread uint8_t id[4096];
  if (admin(aq, OPC_IDENTIFY, 0, 0x01, 0, id, 4096, cqe, "Identify controller", err, errn) < 0) return -1;
  memcpy(info->model, id + 24, 40);
  info->model[40] = 0;
  for (int i = 39; i >= 0 && info->model[i] == ' '; i--) info->model[i] = 0;
  info->mdts_bytes = id[77] ? 4096u << id[77] : 0;
  uint32_t ioccsz = g32(id + 1792);
  info->icd = ioccsz * 16 > 64 ? ioccsz * 16 - 64 : 0;
  if (admin(aq, OPC_IDENTIFY, o->nsid, 0x00, 0, id, 4096, cqe, "Identify namespace", err, errn) < 0) return -1;
  info->ns_blocks = g64(id);
  uint8_t f = id[26] & 0x0f;
  info->block_size = 1u << id[128 + 4 * f + 2];
  if (info->ns_blocks == 0) return fail(err, errn, "namespace %u is not active on %s", o->nsid, o->nqn);
  uint32_t n1 = (uint32_t)nio - 1;
  if (admin(aq, OPC_SET_FEATURES, 0, 0x07, n1 | (n1 << 16), NULL, 0, cqe, "Set Features (Number of Queues)", err, errn) < 0) return -1;
  uint32_t dw0 = g32(cqe), granted = (dw0 & 0xffff) + 1;
  if ((dw0 >> 16) + 1 < granted) granted = (dw0 >> 16) + 1;
  if (granted < (uint32_t)nio) return fail(err, errn, "the controller granted %u I/O queues, %d were asked for", granted, nio);
  for (int i = 0; i < nio; i++) {
    if (q_open(&io[i], o, i + 1, err, errn) < 0) return -1;
    io[i].icd = info->icd;
    if (connect_cmd(&io[i], o, (uint16_t)o->qd, info->cntlid, hostid, cqe, err, errn) < 0) return -1;
  }
  return 0;
}
