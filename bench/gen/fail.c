/* Failures of the generator's queues: counted once per command, the first reason kept. Shared by the
 * receive engine (engine.c) and the send side (send.c). */
#include <stdio.h>
#include <sys/epoll.h>

#include "gen.h"

void error_once(struct thread *t, const char *msg) {
  t->st.errors++;
  if (!t->st.first_error[0]) snprintf(t->st.first_error, sizeof t->st.first_error, "%s", msg);
}

/* A protocol error on q: remembers the first reason (with the PDU's details) and returns -1. */
static __thread char *why_buf;

void bad_reasons_into(char *buf) {
  why_buf = buf;
}

int bad(const char *fmt, unsigned a, unsigned b, unsigned c) {
  if (why_buf) snprintf(why_buf, 160, fmt, a, b, c);
  return -1;
}

/* The connection is gone or the target broke the protocol: its outstanding commands fail. */
void q_fail(struct thread *t, struct ioq *q, const char *why) {
  if (q->dead) return;
  char msg[200];
  snprintf(msg, sizeof msg, "I/O queue %d: %s", q->qid, why);
  if (!t->st.drop_ns) {
    t->st.drop_ns = now_ns();
    snprintf(t->st.drop_reason, sizeof t->st.drop_reason, "%s", msg);
  }
  t->st.lost += (uint64_t)q->inflight;
  if (q->inflight == 0) error_once(t, msg);
  for (int i = 0; i < q->inflight; i++) error_once(t, msg);
  q->inflight = 0;
  q->dead = 1;
  epoll_ctl(t->ep, EPOLL_CTL_DEL, q->fd, NULL);
}
