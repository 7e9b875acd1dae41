/* The latency histogram (the layout of src/perf/histogram.ts) and the report: the summary of
 * `nvmetd perf`, or its JSON fields with a "generator" object added. */
#include <math.h>
#include <string.h>

#include "gen.h"

void hist_reset(struct hist *h) {
  memset(h, 0, sizeof *h);
  h->min = UINT64_MAX;
}

void hist_add(struct hist *h, const struct hist *o) {
  for (int i = 0; i < HIST_BUCKETS; i++) h->counts[i] += o->counts[i];
  h->count += o->count;
  h->sum += o->sum;
  if (o->count) {
    if (o->min < h->min) h->min = o->min;
    if (o->max > h->max) h->max = o->max;
  }
}

static uint64_t bucket_low(int i) {
  if (i < HIST_LINEAR) return (uint64_t)i;
  int k = i - HIST_LINEAR, e = 8 + k / HIST_SUB, sub = k % HIST_SUB;
  return (uint64_t)(HIST_SUB + sub) << (e - 7);
}

/* The highest value of the bucket holding the ceil(p% of count)-th value, clamped to min and max. */
double hist_percentile(const struct hist *h, double p) {
  if (h->count == 0) return 0;
  if (p <= 0) return (double)h->min;
  double r = ceil((p > 100 ? 100 : p) / 100 * (double)h->count);
  uint64_t rank = r < 1 ? 1 : (uint64_t)r, seen = 0;
  for (int i = 0; i < HIST_BUCKETS; i++) {
    seen += h->counts[i];
    if (seen >= rank) {
      uint64_t hi = i >= HIST_BUCKETS - 1 ? h->max : bucket_low(i + 1) - 1;
      if (hi > h->max) hi = h->max;
      if (hi < h->min) hi = h->min;
      return (double)hi;
    }
  }
  return (double)h->max;
}

static void json_str(FILE *f, const char *s) {
  if (!s || !*s) { fputs("null", f); return; }
  fputc('"', f);
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
    else if (c < 0x20) fprintf(f, "\\u%04x", c);
    else fputc(c, f);
  }
  fputc('"', f);
}

static double us(double ns) { return round(ns / 10) / 100; }

void print_report(FILE *f, const struct opts *o, struct thread *ts, int n, double user_sec, double sys_sec) {
  static struct hist h;
  hist_reset(&h);
  uint64_t ios = 0, reads = 0, writes = 0, errors = 0, vblocks = 0, verrs = 0;
  double iops = 0, bps = 0, elapsed = 0;
  const char *first_error = NULL, *first_verify = NULL;
  for (int i = 0; i < n; i++) {
    struct thread_stats *s = &ts[i].st;
    hist_add(&h, &s->hist);
    ios += s->ios;
    reads += s->reads;
    writes += s->writes;
    errors += s->errors;
    vblocks += s->verified_blocks;
    verrs += s->verify_errors;
    if (!first_error && s->first_error[0]) first_error = s->first_error;
    if (!first_verify && s->first_verify_error[0]) first_verify = s->first_verify_error;
    if (s->elapsed_sec > 0) {
      iops += (double)s->ios / s->elapsed_sec;
      bps += (double)s->bytes / s->elapsed_sec;
    }
    if (s->elapsed_sec > elapsed) elapsed = s->elapsed_sec;
  }
  double mean = h.count ? h.sum / (double)h.count : 0;
  double lat[7] = {us(mean), us(h.count ? (double)h.min : 0), us(hist_percentile(&h, 50)), us(hist_percentile(&h, 90)),
                   us(hist_percentile(&h, 99)), us(hist_percentile(&h, 99.9)), us((double)h.max)};
  double mibps = round(bps / 1048576 * 100) / 100;
  double pct = elapsed > 0 ? round((user_sec + sys_sec) / elapsed * 1000) / 10 : 0;
  const struct ctrl_info *ci = &ts[0].info;
  if (!o->json) {
    const char *dg = o->hdgst || o->ddgst ? (o->hdgst && o->ddgst ? " digests HD" : o->hdgst ? " digests H" : " digests D") : "";
    fprintf(f, "Summary: %s %u B x QD %d x %d connection(s) x %d worker(s)%s, %.2f s measured (nvme_tcp_gen, crc32c %s%s)\n",
            WORKLOAD_NAMES[o->workload], o->io_size, o->qd, o->connections, o->workers, dg, elapsed, gen_crc_impl(), o->poll ? ", busy poll" : "");
    fprintf(f, "  IOPS        %.0f  (reads %llu, writes %llu)\n", round(iops), (unsigned long long)reads, (unsigned long long)writes);
    fprintf(f, "  throughput  %.2f MiB/s\n", mibps);
    fprintf(f, "  latency us  avg %.1f  min %.1f  p50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f  max %.1f\n", lat[0], lat[1], lat[2], lat[3], lat[4], lat[5], lat[6]);
    fprintf(f, "  cpu         user %.2f s  sys %.2f s  (%.0f%% of one core); thread busy", user_sec, sys_sec, pct);
    for (int i = 0; i < n; i++) fprintf(f, " %.0f%%", ts[i].st.elapsed_sec > 0 ? ts[i].st.cpu_sec / ts[i].st.elapsed_sec * 100 : 0);
    fprintf(f, ", waiting for a CPU");
    for (int i = 0; i < n; i++) fprintf(f, " %.0f%%", ts[i].st.elapsed_sec > 0 ? ts[i].st.run_delay_sec / ts[i].st.elapsed_sec * 100 : 0);
    fprintf(f, "\n  errors      %llu", (unsigned long long)errors);
    if (first_error) fprintf(f, " (first: %s)", first_error);
    fputc('\n', f);
    if (o->verify) {
      fprintf(f, "  verify      %llu blocks checked, %llu wrong", (unsigned long long)vblocks, (unsigned long long)verrs);
      if (first_verify) fprintf(f, " (first: %s)", first_verify);
      fputc('\n', f);
    }
    return;
  }
  fprintf(f, "{\n  \"workload\": \"%s\",\n  \"ioSize\": %u,\n  \"queueDepth\": %d,\n  \"connections\": %d,\n  \"workers\": %d,\n",
          WORKLOAD_NAMES[o->workload], o->io_size, o->qd, o->connections, o->workers);
  fprintf(f, "  \"hdgst\": %s,\n  \"ddgst\": %s,\n  \"verify\": %s,\n", o->hdgst ? "true" : "false", o->ddgst ? "true" : "false", o->verify ? "true" : "false");
  fprintf(f, "  \"target\": {\n    \"address\": ");
  json_str(f, o->address);
  fprintf(f, ",\n    \"port\": %d,\n    \"nqn\": ", o->port);
  json_str(f, o->nqn);
  fprintf(f, ",\n    \"nsid\": %u,\n    \"model\": ", o->nsid);
  json_str(f, ci->model);
  fprintf(f, ",\n    \"blockSize\": %u,\n    \"nsBlocks\": %llu\n  },\n", ci->block_size, (unsigned long long)ci->ns_blocks);
  fprintf(f, "  \"elapsedSec\": %.3f,\n  \"ios\": %llu,\n  \"reads\": %llu,\n  \"writes\": %llu,\n  \"iops\": %.0f,\n  \"mibps\": %.2f,\n",
          elapsed, (unsigned long long)ios, (unsigned long long)reads, (unsigned long long)writes, round(iops), mibps);
  fprintf(f, "  \"latencyUs\": {\n    \"avg\": %.2f,\n    \"min\": %.2f,\n    \"p50\": %.2f,\n    \"p90\": %.2f,\n    \"p99\": %.2f,\n    \"p999\": %.2f,\n    \"max\": %.2f\n  },\n",
          lat[0], lat[1], lat[2], lat[3], lat[4], lat[5], lat[6]);
  fprintf(f, "  \"cpu\": {\n    \"userSec\": %.3f,\n    \"systemSec\": %.3f,\n    \"percent\": %.1f\n  },\n  \"jobs\": [", user_sec, sys_sec, pct);
  for (int i = 0; i < n; i++) {
    double elu = ts[i].st.elapsed_sec > 0 ? ts[i].st.cpu_sec / ts[i].st.elapsed_sec : 0;
    double wait = ts[i].st.elapsed_sec > 0 ? ts[i].st.run_delay_sec / ts[i].st.elapsed_sec : 0;
    fprintf(f, "%s\n    { \"worker\": %d, \"ios\": %llu, \"elu\": %.3f, \"runDelay\": %.3f }", i ? "," : "", i, (unsigned long long)ts[i].st.ios,
            elu > 1 ? 1.0 : elu, wait);
  }
  fprintf(f, "\n  ],\n  \"errors\": %llu,\n  \"firstError\": ", (unsigned long long)errors);
  json_str(f, first_error);
  /* As `nvmetd perf`: the first connection lost, seconds after I/O started, and the commands lost. */
  const struct thread_stats *drop = NULL;
  uint64_t lost = 0;
  for (int i = 0; i < n; i++) {
    lost += ts[i].st.lost;
    if (ts[i].st.drop_ns && (!drop || ts[i].st.drop_ns < drop->drop_ns)) drop = &ts[i].st;
  }
  fprintf(f, ",\n  \"dropped\": ");
  if (drop) {
    double at = drop->drop_ns > g_io_start_ns && g_io_start_ns ? (double)(drop->drop_ns - g_io_start_ns) / 1e9 : 0;
    fprintf(f, "{ \"atSec\": %.3f, \"reason\": ", at);
    json_str(f, drop->drop_reason);
    fprintf(f, ", \"lost\": %llu }", (unsigned long long)lost);
  } else {
    fprintf(f, "null");
  }
  fprintf(f, ",\n  \"verifiedBlocks\": %llu,\n  \"verifyErrors\": %llu,\n  \"firstVerifyError\": ", (unsigned long long)vblocks, (unsigned long long)verrs);
  json_str(f, first_verify);
  fprintf(f, ",\n  \"generator\": {\n    \"name\": \"nvme_tcp_gen\",\n    \"crc32c\": \"%s\",\n    \"poll\": %s,\n    \"spinUs\": %d,\n    \"discardData\": %s,\n    \"dataByReference\": %s,\n    \"cpus\": [", gen_crc_impl(),
          o->poll ? "true" : "false", o->spin_us, ts[0].io && ts[0].io[0].discard ? "true" : "false",
          ts[0].io && ts[0].io[0].by_reference ? "true" : "false");
  for (int i = 0; i < o->ncpus; i++) fprintf(f, "%s%d", i ? ", " : "", o->cpus[i]);
  fprintf(f, "]\n  }\n}\n");
}
