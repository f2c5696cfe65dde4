/* store/spool.c: the durable spool of spool.h, between the service and the
 * database.
 *
 * On disk: a directory of append-only segment files, seg-<16 hex>.log, each
 * a run of frames
 *     magic u32 | payload length u32 | append time (Unix ms) u64 | crc32c u32 |
 *     reserved u32 | payload
 * (little-endian; the CRC covers length, time and payload), the payload
 * being one record and its optional compressed tree (encode/decode below).
 * A LOCK file (flock) keeps a second process out; dead-letter.log collects,
 * framed the same way, records the database refused while it was up.
 *
 * Appending encodes the frames of a group of records (one for
 * mctx_spool_append) outside the lock, writes them with one pwrite under the
 * spool's mutex, then waits until an fdatasync covers them. Appenders share those syncs (group commit): whoever
 * finds no sync running becomes the leader, syncs everything written so far
 * with the mutex released, and wakes the others; frames written meanwhile
 * ride on the next sync. A record counts as appended once synced; a failed
 * write or sync truncates the segment back to what was synced, fails those
 * appends with MCTX_EIO and counts them in `dropped`, as does going over
 * max_bytes. A segment is closed (synced, then a new one started) once it
 * reaches its size limit.
 *
 * The writer thread reads synced frames in order and writes them to the
 * store in batches (lingering up to 20 ms after a batch while records
 * trickle in, so that the database commits a few large batches rather than
 * one per record); the store writes idempotently by request id, so a batch
 * retried or replayed after a crash lands once. Failures are retried with
 * exponential backoff and jitter, capped at retry_max_ms; when the database
 * answers pings but keeps refusing a batch, its records are tried one by one
 * and any it still refuses goes to dead-letter.log (counted in `dropped`,
 * named in last_error). A closed segment is deleted once all its records
 * landed; at open, the segments left by an earlier process are checked
 * (a torn frame at a tail is cut off) and replayed. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store/spool.h"
#include "store/store-impl.h"

#define FRAME_MAGIC 0x5854434Du /* "MCTX" */
#define HDR 24
#define MAX_FRAME ((size_t)1 << 30)
#define READ_CHUNK ((size_t)8 << 20)
#define PING_MS 5000
#define PING_DOWN_MS 1000
#define POISON_AFTER 3
#define LINGER_MS 20

/* ==== CRC-32C ==== */

static uint32_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void) {
  for (uint32_t i = 0; i < 256; i++) {
    uint32_t c = i;
    for (int k = 0; k < 8; k++) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    crc_table[i] = c;
  }
}

static uint32_t crc32c(uint32_t crc, const void *data, size_t n) {
  const unsigned char *p = data;
  crc = ~crc;
  while (n--) crc = crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
  return ~crc;
}

/* ==== Little-endian fields ==== */

static void put_u32(unsigned char *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}
static void put_u64(unsigned char *p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}
static uint32_t get_u32(const unsigned char *p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; i--) v = (v << 8) | p[i];
  return v;
}
static uint64_t get_u64(const unsigned char *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
  return v;
}

/* ==== Record payloads ==== */

#define PAYLOAD_VERSION 1
#define NO_TEXT 0xFFFFFFFFu

static void enc_u32(mctx_buf *b, uint32_t v) { unsigned char t[4]; put_u32(t, v); mctx_buf_append(b, t, 4); }
static void enc_u64(mctx_buf *b, uint64_t v) { unsigned char t[8]; put_u64(t, v); mctx_buf_append(b, t, 8); }
static void enc_str(mctx_buf *b, const char *s, size_t cap) {
  size_t n = strnlen(s, cap);
  enc_u32(b, (uint32_t)n);
  mctx_buf_append(b, s, n);
}
/* Text with its NUL, so that a decoded record can point into the payload. */
static void enc_text(mctx_buf *b, const char *s) {
  if (!s) { enc_u32(b, NO_TEXT); return; }
  size_t n = strlen(s) + 1;
  enc_u32(b, (uint32_t)n);
  mctx_buf_append(b, s, n);
}

/* The length of rec's frame (header + payload) with a tree of tree_len
 * bytes: what encode_frame appends. */
static uint64_t frame_size(const mctx_search_record *r, size_t tree_len) {
  uint64_t n = HDR + 1;
  n += 4 + strnlen(r->request_id, sizeof r->request_id) + 8;
  n += 4 + strnlen(r->user, sizeof r->user);
  n += 4 + strnlen(r->search_type, sizeof r->search_type);
  n += 12;
  n += 4 + (r->config_json ? strlen(r->config_json) + 1 : 0);
  n += 8 + 8 + 4;
  n += 4 + strnlen(r->device, sizeof r->device);
  n += 4 + (r->summary_json ? strlen(r->summary_json) + 1 : 0);
  n += 2 + 4 + 4 + (uint64_t)tree_len;
  return n;
}

/* Appends a whole frame (header + payload) for rec and tree to b, after
 * what b holds. */
static int encode_frame(mctx_buf *b, const mctx_search_record *r, const void *tree, size_t tree_len, int64_t ts) {
  size_t start = b->len;
  mctx_buf_append(b, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", HDR);
  mctx_buf_putc(b, PAYLOAD_VERSION);
  enc_str(b, r->request_id, sizeof r->request_id);
  enc_u64(b, (uint64_t)r->time_ms);
  enc_str(b, r->user, sizeof r->user);
  enc_str(b, r->search_type, sizeof r->search_type);
  enc_u32(b, (uint32_t)r->batch_size);
  enc_u32(b, (uint32_t)r->num_simulations);
  enc_u32(b, (uint32_t)r->max_depth);
  enc_text(b, r->config_json);
  uint64_t dbits;
  memcpy(&dbits, &r->duration_ms, 8);
  enc_u64(b, dbits);
  enc_u64(b, (uint64_t)r->num_expanded_nodes);
  enc_u32(b, (uint32_t)r->max_depth_reached);
  enc_str(b, r->device, sizeof r->device);
  enc_text(b, r->summary_json);
  mctx_buf_putc(b, (char)(r->gpu_optimized != 0));
  mctx_buf_putc(b, (char)(r->distributed != 0));
  enc_u32(b, (uint32_t)r->num_devices);
  enc_u32(b, (uint32_t)tree_len);
  if (tree_len) mctx_buf_append(b, tree, tree_len);
  if (b->failed) return MCTX_ELIMIT;
  unsigned char *h = (unsigned char *)b->data + start;
  size_t plen = b->len - start - HDR;
  put_u32(h, FRAME_MAGIC);
  put_u32(h + 4, (uint32_t)plen);
  put_u64(h + 8, (uint64_t)ts);
  uint32_t crc = crc32c(0, h + 4, 12);
  crc = crc32c(crc, h + HDR, plen);
  put_u32(h + 16, crc);
  return 0;
}

typedef struct decoded {
  mctx_search_record rec;     /* config_json / summary_json point into the payload */
  const void *tree;
  size_t tree_len;
} decoded;

typedef struct rd {
  const unsigned char *p, *end;
  int bad;
} rd;

static uint32_t rd_u32(rd *r) {
  if (r->end - r->p < 4) { r->bad = 1; return 0; }
  uint32_t v = get_u32(r->p);
  r->p += 4;
  return v;
}
static uint64_t rd_u64(rd *r) {
  if (r->end - r->p < 8) { r->bad = 1; return 0; }
  uint64_t v = get_u64(r->p);
  r->p += 8;
  return v;
}
static uint8_t rd_u8(rd *r) {
  if (r->end - r->p < 1) { r->bad = 1; return 0; }
  return *r->p++;
}
static void rd_str(rd *r, char *dst, size_t cap) {
  uint32_t n = rd_u32(r);
  if (r->bad || n >= cap || (size_t)(r->end - r->p) < n) { r->bad = 1; dst[0] = '\0'; return; }
  memcpy(dst, r->p, n);
  dst[n] = '\0';
  r->p += n;
}
static const char *rd_text(rd *r) {
  uint32_t n = rd_u32(r);
  if (r->bad || n == NO_TEXT) return NULL;
  if (n == 0 || (size_t)(r->end - r->p) < n || r->p[n - 1] != '\0') { r->bad = 1; return NULL; }
  const char *s = (const char *)r->p;
  r->p += n;
  return s;
}

static int decode_payload(const unsigned char *p, size_t n, decoded *d) {
  rd r = {p, p + n, 0};
  memset(d, 0, sizeof *d);
  if (rd_u8(&r) != PAYLOAD_VERSION) return -1;
  mctx_search_record *x = &d->rec;
  rd_str(&r, x->request_id, sizeof x->request_id);
  x->time_ms = (int64_t)rd_u64(&r);
  rd_str(&r, x->user, sizeof x->user);
  rd_str(&r, x->search_type, sizeof x->search_type);
  x->batch_size = (int32_t)rd_u32(&r);
  x->num_simulations = (int32_t)rd_u32(&r);
  x->max_depth = (int32_t)rd_u32(&r);
  x->config_json = rd_text(&r);
  uint64_t dbits = rd_u64(&r);
  memcpy(&x->duration_ms, &dbits, 8);
  x->num_expanded_nodes = (int64_t)rd_u64(&r);
  x->max_depth_reached = (int32_t)rd_u32(&r);
  rd_str(&r, x->device, sizeof x->device);
  x->summary_json = rd_text(&r);
  x->gpu_optimized = rd_u8(&r);
  x->distributed = rd_u8(&r);
  x->num_devices = (int32_t)rd_u32(&r);
  uint32_t tl = rd_u32(&r);
  if (r.bad || (size_t)(r.end - r.p) != tl) return -1;
  d->tree = tl ? r.p : NULL;
  d->tree_len = tl;
  return 0;
}

/* Checks the frame at p (avail bytes). Returns its total length, 0 when it
 * is incomplete or corrupt. */
static size_t frame_check(const unsigned char *p, size_t avail, int64_t *ts) {
  if (avail < HDR || get_u32(p) != FRAME_MAGIC) return 0;
  size_t plen = get_u32(p + 4);
  if (plen > MAX_FRAME || avail - HDR < plen) return 0;
  uint32_t crc = crc32c(0, p + 4, 12);
  crc = crc32c(crc, p + HDR, plen);
  if (crc != get_u32(p + 16)) return 0;
  if (ts) *ts = (int64_t)get_u64(p + 8);
  return HDR + plen;
}

/* ==== The spool ==== */

typedef struct seg {
  uint64_t seq;
  int wfd, rfd;
  uint64_t size, synced_size, landed_off;
  uint64_t frames_written, frames_synced, frames_landed;
  int closed;
  struct seg *next;
} seg;

#define FAIL_RING 16

struct mctx_spool {
  char dir[PATH_MAX - 64];
  mctx_store *store;
  size_t max_bytes, seg_max;
  int batch_max, retry_base_ms, retry_max_ms;
  int lock_fd, dir_fd;

  pthread_mutex_t mu;
  pthread_cond_t sync_cv, work_cv, drain_cv;
  seg *head, *tail;          /* tail: the active segment (appends) */
  uint64_t next_seq;
  int syncing;
  uint64_t write_ticket, synced_ticket;
  uint64_t fail_lo[FAIL_RING], fail_hi[FAIL_RING];
  unsigned nfail;
  uint64_t disk_bytes;

  uint64_t appended, written, dropped, retries, depth;
  int64_t oldest_ts;
  int db_ok;
  char last_error[256];

  pthread_t thread;
  int thread_started, closing;
  int64_t drain_deadline;
  uint64_t rng;
};

static int64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* snprintf for messages, truncating quietly. */
static void msgf(char *dst, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void msgf(char *dst, size_t cap, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(dst, cap, fmt, ap);
  va_end(ap);
}

static void seg_path(const mctx_spool *sp, uint64_t seq, char *out, size_t cap) {
  snprintf(out, cap, "%s/seg-%016" PRIx64 ".log", sp->dir, seq);
}

static void set_error(mctx_spool *sp, const char *fmt, const char *a, const char *b) {
  msgf(sp->last_error, sizeof sp->last_error, fmt, a, b);
}

/* Creates the next active segment (mutex held). */
static int seg_start(mctx_spool *sp, mctx_status *st) {
  seg *s = calloc(1, sizeof *s);
  if (!s) return mctx_status_set(st, MCTX_ENOMEM, "spool", "out of memory");
  s->seq = sp->next_seq++;
  s->rfd = -1;
  char path[PATH_MAX];
  seg_path(sp, s->seq, path, sizeof path);
  s->wfd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (s->wfd < 0 || fsync(sp->dir_fd) != 0) {
    int e = errno;
    if (s->wfd >= 0) { close(s->wfd); unlink(path); }
    free(s);
    return mctx_status_set(st, MCTX_EIO, "spool", "cannot create %s: %s", path, strerror(e));
  }
  if (sp->tail) sp->tail->next = s;
  else sp->head = s;
  sp->tail = s;
  return 0;
}

/* Records that tickets (synced_ticket, write_ticket] failed and cuts the
 * active segment back to what was synced (mutex held). */
static void sync_failed(mctx_spool *sp, int err) {
  seg *a = sp->tail;
  /* Every unsynced frame is in the active segment (rotate syncs the old
   * one first); a group append is one ticket for many frames. */
  uint64_t lost = a ? a->frames_written - a->frames_synced : 0;
  unsigned k = sp->nfail++ % FAIL_RING;
  sp->fail_lo[k] = sp->synced_ticket;
  sp->fail_hi[k] = sp->write_ticket;
  sp->synced_ticket = sp->write_ticket;
  sp->dropped += lost;
  if (a && a->wfd >= 0) {
    if (ftruncate(a->wfd, (off_t)a->synced_size) != 0) { /* the CRC check at replay catches what remains */ }
    sp->disk_bytes -= a->size - a->synced_size;
    a->size = a->synced_size;
    a->frames_written = a->frames_synced;
    a->closed = 1;
    close(a->wfd);
    a->wfd = -1;
  }
  set_error(sp, "spool: fdatasync failed (%s); %s appends failed", strerror(err), "the unsynced");
  seg_start(sp, NULL);  /* when this fails too, the next append reports it */
}

/* Counts the frames of the active segment up to (size, frames) as synced. */
static void sync_done(mctx_spool *sp, uint64_t ticket, uint64_t size, uint64_t frames) {
  seg *a = sp->tail;
  uint64_t newly = frames - a->frames_synced;
  if (sp->depth == 0 && newly) sp->oldest_ts = mctx__now_ms();
  a->synced_size = size;
  a->frames_synced = frames;
  sp->synced_ticket = ticket;
  sp->appended += newly;
  sp->depth += newly;
  if (newly) pthread_cond_signal(&sp->work_cv);
}

/* Closes the active segment, synced, and starts a new one (mutex held). */
static int rotate(mctx_spool *sp, mctx_status *st) {
  while (sp->syncing) pthread_cond_wait(&sp->sync_cv, &sp->mu);
  seg *a = sp->tail;
  if (a && a->wfd >= 0) {
    if (sp->write_ticket > sp->synced_ticket) {
      if (fdatasync(a->wfd) != 0) {
        sync_failed(sp, errno);
        pthread_cond_broadcast(&sp->sync_cv);
        return sp->tail && sp->tail->wfd >= 0 ? 0 : mctx_status_set(st, MCTX_EIO, "spool", "%s", sp->last_error);
      }
      sync_done(sp, sp->write_ticket, a->size, a->frames_written);
      pthread_cond_broadcast(&sp->sync_cv);
    }
    close(a->wfd);
    a->wfd = -1;
    a->closed = 1;
  }
  return seg_start(sp, st);
}

static int ticket_failed(const mctx_spool *sp, uint64_t t) {
  unsigned n = sp->nfail < FAIL_RING ? sp->nfail : FAIL_RING;
  for (unsigned i = 0; i < n; i++)
    if (t > sp->fail_lo[i] && t <= sp->fail_hi[i]) return 1;
  return 0;
}

/* Records a failure of record i of a group: rcs[i], the first failure's
 * status in st, the code of the first. */
static void group_fail(int *rcs, size_t i, int code, int *first, mctx_status *st, const mctx_status *why) {
  if (rcs) rcs[i] = code;
  if (*first == 0) {
    *first = code;
    if (st && why && st != why) *st = *why;
  }
}

int mctx_spool_append_group(mctx_spool *sp, const mctx_search_record *recs, const void *const *trees,
                            const size_t *tree_lens, size_t n, int *rcs, mctx_status *st) {
  mctx_status_clear(st);
  if (n == 0) return 0;
  if (!recs) return mctx_status_set(st, MCTX_EINVALID, "records", "NULL with n = %zu", n);
  int first = 0;
  uint64_t invalid = 0;
  mctx_status why;
  /* Outside the lock: check each record and encode the good ones into one
   * buffer (sizes are known beforehand, so nothing is encoded that cannot
   * be kept). off[i] / len[i]: record i's frame in it; len 0: not written. */
  size_t *off = calloc(n, sizeof *off), *len = calloc(n, sizeof *len);
  if (!off || !len) {
    free(off);
    free(len);
    pthread_mutex_lock(&sp->mu);
    sp->dropped += n;
    pthread_mutex_unlock(&sp->mu);
    for (size_t i = 0; rcs && i < n; i++) rcs[i] = MCTX_ENOMEM;
    return mctx_status_set(st, MCTX_ENOMEM, "spool", "out of memory for a group of %zu records", n);
  }
  uint64_t cap = sp->max_bytes < MAX_FRAME ? sp->max_bytes : MAX_FRAME, total = 0;
  for (size_t i = 0; i < n; i++) {
    if (rcs) rcs[i] = 0;
    const void *tree = trees ? trees[i] : NULL;
    size_t tlen = tree_lens ? tree_lens[i] : 0;
    mctx_status_clear(&why);
    int rc = mctx_store_record_check(&recs[i], &why);
    if (rc == 0 && tlen && !tree) rc = mctx_status_set(&why, MCTX_EINVALID, "tree", "NULL with tree_len > 0");
    uint64_t fl = rc == 0 ? frame_size(&recs[i], tlen) : 0;
    if (rc == 0 && fl > cap)
      rc = mctx_status_set(&why, MCTX_EIO, "spool", "record of request %s is larger than the spool's cap",
                           recs[i].request_id);
    if (rc != 0) {
      invalid++;
      group_fail(rcs, i, rc, &first, st, &why);
      continue;
    }
    len[i] = (size_t)fl;
    total += fl;
  }
  mctx_buf frames;
  mctx_buf_init(&frames, 0);
  int64_t now = mctx__now_ms();
  if (total && mctx_buf_reserve(&frames, (size_t)total) != 0) {
    for (size_t i = 0; i < n; i++)
      if (len[i]) {
        len[i] = 0;
        invalid++;
        mctx_status_set(&why, MCTX_ENOMEM, "spool", "out of memory encoding %" PRIu64 " bytes of records", total);
        group_fail(rcs, i, MCTX_ENOMEM, &first, st, &why);
      }
  }
  for (size_t i = 0; i < n; i++) {
    if (!len[i]) continue;
    off[i] = frames.len;
    if (encode_frame(&frames, &recs[i], trees ? trees[i] : NULL, tree_lens ? tree_lens[i] : 0, now) != 0 ||
        frames.len - off[i] != len[i]) {
      /* cannot happen: the sizes were computed above */
      frames.len = off[i];
      frames.failed = 0;
      len[i] = 0;
      invalid++;
      mctx_status_set(&why, MCTX_EINTERNAL, "spool", "frame of request %s has an unexpected size", recs[i].request_id);
      group_fail(rcs, i, MCTX_EINTERNAL, &first, st, &why);
    }
  }

  pthread_mutex_lock(&sp->mu);
  sp->dropped += invalid;
  /* What fits under the byte cap, in order; the rest is refused. */
  size_t wlen = 0, nw = 0;
  int rc = 0;
  for (size_t i = 0; i < n; i++) {
    if (!len[i]) continue;
    if (sp->closing) {
      mctx_status_set(&why, MCTX_EIO, "spool", "the spool is closing");
    } else if (sp->disk_bytes + wlen + len[i] > sp->max_bytes) {
      mctx_status_set(&why, MCTX_EIO, "spool", "full: %" PRIu64 " of %zu bytes in use, record of %zu bytes",
                      sp->disk_bytes + wlen, sp->max_bytes, len[i]);
    } else if (off[i] == wlen) { /* contiguous with what goes before it */
      wlen += len[i];
      nw++;
      continue;
    } else {
      /* a record refused earlier in the group left a gap: close it */
      memmove(frames.data + wlen, frames.data + off[i], len[i]);
      off[i] = wlen;
      wlen += len[i];
      nw++;
      continue;
    }
    len[i] = 0;
    sp->dropped++;
    group_fail(rcs, i, MCTX_EIO, &first, st, &why);
  }
  if (nw && (!sp->tail || sp->tail->wfd < 0 || (sp->tail->size > 0 && sp->tail->size + wlen > sp->seg_max)))
    rc = rotate(sp, &why);
  uint64_t ticket = 0;
  if (nw && rc == 0) {
    seg *a = sp->tail;
    size_t done = 0;
    while (done < wlen) {
      ssize_t w = pwrite(a->wfd, frames.data + done, wlen - done, (off_t)(a->size + done));
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) break;
      done += (size_t)w;
    }
    if (done < wlen) {
      int e = errno;
      if (ftruncate(a->wfd, (off_t)a->size) != 0) { /* a torn frame is cut at replay */ }
      rc = mctx_status_set(&why, MCTX_EIO, "spool", "write: %s", e ? strerror(e) : "short write");
      set_error(sp, "spool: %s%s", "write failed: ", e ? strerror(e) : "short write");
    } else {
      a->size += wlen;
      a->frames_written += nw;
      sp->disk_bytes += wlen;
      ticket = ++sp->write_ticket;
    }
  }
  /* Group commit: lead a sync, or wait for the one that covers us. */
  while (ticket && sp->synced_ticket < ticket) {
    if (sp->syncing) {
      pthread_cond_wait(&sp->sync_cv, &sp->mu);
      continue;
    }
    seg *a = sp->tail;
    uint64_t target = sp->write_ticket, size = a->size, frames_now = a->frames_written;
    int fd = a->wfd;
    sp->syncing = 1;
    pthread_mutex_unlock(&sp->mu);
    int r = fdatasync(fd);
    int e = errno;
    pthread_mutex_lock(&sp->mu);
    sp->syncing = 0;
    if (r == 0) sync_done(sp, target, size, frames_now);
    else sync_failed(sp, e);  /* counts the lost frames in `dropped` */
    pthread_cond_broadcast(&sp->sync_cv);
  }
  if (ticket && ticket_failed(sp, ticket)) rc = mctx_status_set(&why, MCTX_EIO, "spool", "%s", sp->last_error);
  else if (nw && !ticket) sp->dropped += nw;  /* never written */
  pthread_mutex_unlock(&sp->mu);
  if (nw && rc != 0)
    for (size_t i = 0; i < n; i++)
      if (len[i]) group_fail(rcs, i, rc, &first, st, &why);
  mctx_buf_free(&frames);
  free(off);
  free(len);
  return first;
}

int mctx_spool_append(mctx_spool *sp, const mctx_search_record *rec, const void *tree, size_t tree_len,
                      mctx_status *st) {
  return mctx_spool_append_group(sp, rec, &tree, &tree_len, 1, NULL, st);
}

int mctx_spool_append_many(mctx_spool *sp, const mctx_search_record *recs, size_t n, mctx_status *st) {
  return mctx_spool_append_group(sp, recs, NULL, NULL, n, NULL, st);
}

/* ==== The writer ==== */

static uint64_t rnd(mctx_spool *sp) {
  uint64_t x = sp->rng;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  return sp->rng = x;
}

/* Waits on work_cv until ms passed (or closing's deadline), mutex held. */
static void wait_ms(mctx_spool *sp, int64_t ms) {
  int64_t until = mono_ms() + ms;
  if (sp->closing && sp->drain_deadline < until) until = sp->drain_deadline;
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  int64_t left = until - mono_ms();
  if (left <= 0) return;
  struct timespec ts = now;
  ts.tv_sec += left / 1000;
  ts.tv_nsec += (left % 1000) * 1000000L;
  if (ts.tv_nsec >= 1000000000L) { ts.tv_sec++; ts.tv_nsec -= 1000000000L; }
  pthread_cond_timedwait(&sp->work_cv, &sp->mu, &ts);
}

/* Deletes closed segments whose records all landed (mutex held). */
static void reap(mctx_spool *sp) {
  while (sp->head && sp->head != sp->tail && sp->head->closed && sp->head->landed_off >= sp->head->size) {
    seg *s = sp->head;
    char path[PATH_MAX];
    seg_path(sp, s->seq, path, sizeof path);
    if (s->rfd >= 0) close(s->rfd);
    unlink(path);
    sp->disk_bytes -= s->size;
    sp->head = s->next;
    free(s);
  }
}

/* The age reference of the oldest waiting record (mutex held). */
static void update_oldest(mctx_spool *sp) {
  if (sp->depth == 0) { sp->oldest_ts = 0; return; }
  for (seg *s = sp->head; s; s = s->next) {
    uint64_t limit = s->closed ? s->size : s->synced_size;
    if (s->landed_off >= limit) continue;
    if (s->rfd < 0) return;
    unsigned char h[HDR];
    if (pread(s->rfd, h, HDR, (off_t)s->landed_off) == HDR && get_u32(h) == FRAME_MAGIC)
      sp->oldest_ts = (int64_t)get_u64(h + 8);
    return;
  }
}

typedef struct batch {
  seg *s;
  uint64_t off, end;
  unsigned char *buf;
  size_t cap;
  decoded *recs;
  size_t n;
  uint64_t corrupt;  /* 1: the segment is unreadable from `end` on */
} batch;

/* Reads up to batch_max frames of segment s from off (below limit). */
static int read_batch(mctx_spool *sp, batch *b, char *err, size_t errcap) {
  seg *s = b->s;
  if (s->rfd < 0) {
    char path[PATH_MAX];
    seg_path(sp, s->seq, path, sizeof path);
    s->rfd = open(path, O_RDONLY | O_CLOEXEC);
    if (s->rfd < 0) { msgf(err, errcap, "spool: cannot read %s: %s", path, strerror(errno)); return -1; }
  }
  uint64_t want = b->end - b->off;
  if (want > READ_CHUNK) want = READ_CHUNK;
  /* The first frame may be longer than a chunk. */
  unsigned char h[HDR];
  if (pread(s->rfd, h, HDR, (off_t)b->off) == HDR && get_u32(h) == FRAME_MAGIC &&
      HDR + (uint64_t)get_u32(h + 4) > want && HDR + (uint64_t)get_u32(h + 4) <= b->end - b->off)
    want = HDR + (uint64_t)get_u32(h + 4);
  if (want > b->cap) {
    unsigned char *nb = realloc(b->buf, want);
    if (!nb) { snprintf(err, errcap, "spool: out of memory reading a batch"); return -1; }
    b->buf = nb;
    b->cap = want;
  }
  size_t got = 0;
  while (got < want) {
    ssize_t r = pread(s->rfd, b->buf + got, want - got, (off_t)(b->off + got));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    got += (size_t)r;
  }
  if (got < want) { snprintf(err, errcap, "spool: short read of segment %016" PRIx64, s->seq); return -1; }
  b->n = 0;
  size_t pos = 0;
  while (pos < got && b->n < (size_t)sp->batch_max) {
    size_t fl = frame_check(b->buf + pos, got - pos, NULL);
    if (fl == 0) {
      if (pos == 0 || got == b->end - b->off) b->corrupt = 1;  /* not merely cut by the chunk */
      break;
    }
    if (decode_payload(b->buf + pos + HDR, fl - HDR, &b->recs[b->n]) != 0) { b->corrupt = 1; break; }
    b->n++;
    pos += fl;
  }
  b->end = b->off + pos;
  return 0;
}

/* Writes the batch: records in one transaction, then their trees. */
static int land(mctx_spool *sp, const decoded *d, size_t n, mctx_status *st) {
  mctx_search_record *recs = calloc(n ? n : 1, sizeof *recs);
  if (!recs) return mctx_status_set(st, MCTX_ENOMEM, "spool", "out of memory");
  for (size_t i = 0; i < n; i++) recs[i] = d[i].rec;
  int rc = mctx_store_put(sp->store, recs, n, st);
  free(recs);
  for (size_t i = 0; rc == 0 && i < n; i++)
    if (d[i].tree_len) rc = mctx_store_put_tree(sp->store, d[i].rec.request_id, d[i].tree, d[i].tree_len, st);
  return rc;
}

/* Appends a refused record to dead-letter.log (synced). */
static void dead_letter(mctx_spool *sp, const decoded *d) {
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/dead-letter.log", sp->dir);
  mctx_buf f;
  mctx_buf_init(&f, MAX_FRAME + HDR + 4096);
  if (encode_frame(&f, &d->rec, d->tree, d->tree_len, mctx__now_ms()) == 0) {
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd >= 0) {
      if (write(fd, f.data, f.len) != (ssize_t)f.len || fdatasync(fd) != 0) { /* counted as dropped anyway */ }
      close(fd);
    }
  }
  mctx_buf_free(&f);
}

/* The database answers but refuses the batch: try each record alone. Returns
 * 0 when every record landed or was set aside, -1 when the database went
 * away meanwhile (the batch is retried later). */
static int land_one_by_one(mctx_spool *sp, const decoded *d, size_t n) {
  mctx_status st;
  for (size_t i = 0; i < n; i++) {
    if (land(sp, &d[i], 1, &st) == 0) continue;
    if (st.code == MCTX_EBUSY || st.code == MCTX_ETIMEOUT) return -1;  /* contention, not refusal */
    mctx_status pst;
    if (mctx_store_ping(sp->store, &pst) != 0) return -1;
    dead_letter(sp, &d[i]);
    pthread_mutex_lock(&sp->mu);
    sp->dropped++;
    msgf(sp->last_error, sizeof sp->last_error, "spool: record %s refused by the database (%s: %s); kept in "
             "dead-letter.log", d[i].rec.request_id, st.field, st.reason);
    pthread_mutex_unlock(&sp->mu);
  }
  return 0;
}

static void *writer(void *arg) {
  mctx_spool *sp = arg;
  pthread_setname_np(pthread_self(), "mctx-spool");
  batch b;
  memset(&b, 0, sizeof b);
  b.recs = calloc((size_t)sp->batch_max, sizeof *b.recs);
  int failures = 0;
  int64_t last_ping = mono_ms() - PING_MS, last_land = 0;  /* ping at once: db_ok tells the truth from the start */

  pthread_mutex_lock(&sp->mu);
  while (b.recs) {
    if (sp->closing && (sp->depth == 0 || mono_ms() >= sp->drain_deadline)) break;
    reap(sp);
    seg *s = sp->head;
    uint64_t limit = 0;
    while (s) {
      limit = s->closed ? s->size : s->synced_size;
      if (s->landed_off < limit) break;
      if (!s->closed) { s = NULL; break; }
      s = s->next;
    }
    if (!s) {
      /* Idle: ping now and then so that db_ok follows the database (every
       * PING_MS while it answers, every second while it does not), and wait
       * for appends. */
      if (sp->closing) break;
      int64_t every = sp->db_ok ? PING_MS : PING_DOWN_MS;
      if (sp->depth == 0 && mono_ms() - last_ping >= every) {
        pthread_mutex_unlock(&sp->mu);
        mctx_status st;
        int ok = mctx_store_ping(sp->store, &st) == 0;
        pthread_mutex_lock(&sp->mu);
        sp->db_ok = ok;
        if (!ok) msgf(sp->last_error, sizeof sp->last_error, "%s", st.reason);
        last_ping = mono_ms();
        continue;
      }
      wait_ms(sp, every - (mono_ms() - last_ping));
      continue;
    }
    /* Linger: while records trickle in, gather them for up to LINGER_MS
     * after the last batch, so that the database commits (and syncs) a few
     * large batches rather than one per record. */
    if (!sp->closing && failures == 0 && sp->depth < (uint64_t)sp->batch_max && mono_ms() - last_land < LINGER_MS) {
      wait_ms(sp, LINGER_MS - (mono_ms() - last_land));
      continue;
    }
    b.s = s;
    b.off = s->landed_off;
    b.end = limit;
    b.corrupt = 0;
    pthread_mutex_unlock(&sp->mu);

    char err[256] = "";
    mctx_status st;
    mctx_status_clear(&st);
    int rc = read_batch(sp, &b, err, sizeof err);
    if (rc == 0 && b.n > 0) {
      rc = land(sp, b.recs, b.n, &st);
      if (rc != 0) msgf(err, sizeof err, "%s%s%s", st.field, st.field[0] ? ": " : "", st.reason);
      if (rc != 0 && failures + 1 >= POISON_AFTER) {
        mctx_status pst;
        if (mctx_store_ping(sp->store, &pst) == 0 && land_one_by_one(sp, b.recs, b.n) == 0) rc = 0;
      }
    }
    last_ping = mono_ms();

    pthread_mutex_lock(&sp->mu);
    if (rc == 0) {
      failures = 0;
      last_land = mono_ms();
      sp->db_ok = b.n > 0 ? 1 : sp->db_ok;
      s->landed_off = b.end;
      s->frames_landed += b.n;
      sp->depth -= b.n;
      sp->written += b.n;
      if (b.corrupt) {
        /* Synced frames that no longer read back: count them, skip the rest. */
        uint64_t lost = s->frames_synced - s->frames_landed;
        uint64_t lim = s->closed ? s->size : s->synced_size;
        sp->dropped += lost;
        sp->depth -= lost;
        s->frames_landed = s->frames_synced;
        s->landed_off = lim;
        snprintf(sp->last_error, sizeof sp->last_error, "spool: segment %016" PRIx64 " is corrupt at byte %" PRIu64
                 "; %" PRIu64 " records lost", s->seq, b.end, lost);
      }
      update_oldest(sp);
      pthread_cond_broadcast(&sp->drain_cv);
    } else {
      failures++;
      sp->retries++;
      sp->db_ok = 0;
      msgf(sp->last_error, sizeof sp->last_error, "%s", err);
      int shift = failures - 1 < 20 ? failures - 1 : 20;
      int64_t delay = (int64_t)sp->retry_base_ms << shift;
      if (delay > sp->retry_max_ms) delay = sp->retry_max_ms;
      delay = delay / 2 + (int64_t)(rnd(sp) % (uint64_t)(delay / 2 + 1));  /* equal jitter */
      /* Appends signal work_cv; they must not cut the backoff short. */
      int64_t until = mono_ms() + delay;
      while (mono_ms() < until && !(sp->closing && mono_ms() >= sp->drain_deadline))
        wait_ms(sp, until - mono_ms());
    }
  }
  pthread_mutex_unlock(&sp->mu);
  free(b.buf);
  free(b.recs);
  return NULL;
}

/* ==== Open: replay ==== */

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

/* Scans one leftover segment: counts its frames, cuts a torn tail (an
 * append that never returned), and when a damaged frame sits between
 * intact ones, rewrites the segment without it (the damaged frame is
 * counted in `dropped`; the intact frames after it are kept). */
static int replay_seg(mctx_spool *sp, uint64_t seq, mctx_status *st) {
  char path[PATH_MAX];
  seg_path(sp, seq, path, sizeof path);
  int fd = open(path, O_RDWR | O_CLOEXEC);
  if (fd < 0) return mctx_status_set(st, MCTX_EIO, "spool", "cannot open %s: %s", path, strerror(errno));
  struct stat sb;
  if (fstat(fd, &sb) != 0) { close(fd); return mctx_status_set(st, MCTX_EIO, "spool", "stat %s", path); }
  size_t size = (size_t)sb.st_size, got = 0;
  unsigned char *buf = malloc(size ? size : 1);
  if (!buf) { close(fd); return mctx_status_set(st, MCTX_ENOMEM, "spool", "out of memory replaying %s", path); }
  while (got < size) {
    ssize_t r = pread(fd, buf + got, size - got, (off_t)got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    got += (size_t)r;
  }
  if (got < size) {
    free(buf);
    close(fd);
    return mctx_status_set(st, MCTX_EIO, "spool", "cannot read %s", path);
  }
  /* keep[]: the intact frames, as (offset, length) */
  size_t *keep = NULL, nkeep = 0, capkeep = 0, pos = 0, kept_bytes = 0, torn = 0;
  uint64_t damaged = 0;
  int64_t first_ts = 0;
  int rc = 0;
  while (pos < size) {
    int64_t ts = 0;
    size_t fl = frame_check(buf + pos, size - pos, &ts);
    if (fl == 0) {
      size_t q = pos + 1;
      while (q + HDR <= size && !(get_u32(buf + q) == FRAME_MAGIC && frame_check(buf + q, size - q, NULL)))
        q++;
      if (q + HDR > size) { torn = size - pos; break; }
      damaged++;
      pos = q;
      continue;
    }
    if (nkeep + 2 > capkeep) {
      size_t nc = capkeep ? capkeep * 2 : 256;
      size_t *nk = realloc(keep, nc * sizeof *nk);
      if (!nk) { rc = mctx_status_set(st, MCTX_ENOMEM, "spool", "out of memory"); break; }
      keep = nk;
      capkeep = nc;
    }
    if (!nkeep) first_ts = ts;
    keep[nkeep++] = pos;
    keep[nkeep++] = fl;
    kept_bytes += fl;
    pos += fl;
  }
  uint64_t frames = nkeep / 2;
  if (rc == 0 && damaged) {
    char tmp[PATH_MAX + 8];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int ok = out >= 0;
    for (size_t i = 0; ok && i < nkeep; i += 2) ok = write(out, buf + keep[i], keep[i + 1]) == (ssize_t)keep[i + 1];
    ok = ok && fdatasync(out) == 0;
    if (out >= 0) close(out);
    ok = ok && rename(tmp, path) == 0 && fsync(sp->dir_fd) == 0;
    if (!ok) {
      unlink(tmp);
      rc = mctx_status_set(st, MCTX_EIO, "spool", "cannot rewrite the damaged segment %s: %s", path, strerror(errno));
    } else {
      sp->dropped += damaged;
      msgf(sp->last_error, sizeof sp->last_error, "spool: segment %016" PRIx64 " was corrupt: %" PRIu64
           " damaged record(s) lost, %" PRIu64 " intact ones kept", seq, damaged, frames);
    }
  } else if (rc == 0 && torn) {
    msgf(sp->last_error, sizeof sp->last_error, "spool: replay cut %zu torn bytes off the end of segment %016" PRIx64
         " (an append that never returned)", torn, seq);
    if (ftruncate(fd, (off_t)pos) != 0 || fdatasync(fd) != 0)
      rc = mctx_status_set(st, MCTX_EIO, "spool", "cannot cut the torn tail of %s: %s", path, strerror(errno));
  }
  free(buf);
  free(keep);
  close(fd);
  if (rc != 0) return rc;
  if (frames == 0) { unlink(path); return 0; }
  seg *s = calloc(1, sizeof *s);
  if (!s) return mctx_status_set(st, MCTX_ENOMEM, "spool", "out of memory");
  s->seq = seq;
  s->wfd = s->rfd = -1;
  s->size = s->synced_size = kept_bytes;
  s->frames_written = s->frames_synced = frames;
  s->closed = 1;
  if (sp->tail) sp->tail->next = s;
  else sp->head = s;
  sp->tail = s;
  if (sp->depth == 0) sp->oldest_ts = first_ts;
  sp->depth += frames;
  sp->disk_bytes += kept_bytes;
  return 0;
}

static int replay(mctx_spool *sp, mctx_status *st) {
  DIR *d = opendir(sp->dir);
  if (!d) return mctx_status_set(st, MCTX_EIO, "spool.dir", "cannot read %s: %s", sp->dir, strerror(errno));
  uint64_t *seqs = NULL;
  size_t n = 0, cap = 0;
  struct dirent *e;
  int rc = 0;
  while ((e = readdir(d))) {
    unsigned long long seq;
    char tail[8];
    if (sscanf(e->d_name, "seg-%16llx.%7s", &seq, tail) != 2 || strcmp(tail, "log") != 0 || strlen(e->d_name) != 24)
      continue;
    if (n == cap) {
      size_t nc = cap ? cap * 2 : 64;
      uint64_t *p = realloc(seqs, nc * sizeof *p);
      if (!p) { rc = mctx_status_set(st, MCTX_ENOMEM, "spool", "out of memory"); break; }
      seqs = p;
      cap = nc;
    }
    seqs[n++] = seq;
  }
  closedir(d);
  if (rc == 0 && n) qsort(seqs, n, sizeof *seqs, cmp_u64);
  for (size_t i = 0; rc == 0 && i < n; i++) rc = replay_seg(sp, seqs[i], st);
  sp->next_seq = n ? seqs[n - 1] + 1 : 1;
  free(seqs);
  return rc;
}

static int mkdirs(const char *path) {
  char tmp[PATH_MAX];
  snprintf(tmp, sizeof tmp, "%s", path);
  for (char *p = tmp + 1; *p; p++) {
    if (*p != '/') continue;
    *p = '\0';
    if (mkdir(tmp, 0755) != 0 && errno != EEXIST) return -1;
    *p = '/';
  }
  return (mkdir(tmp, 0755) != 0 && errno != EEXIST) ? -1 : 0;
}

static void free_segs(mctx_spool *sp, int unlink_all) {
  seg *s = sp->head;
  while (s) {
    seg *next = s->next;
    if (s->wfd >= 0) close(s->wfd);
    if (s->rfd >= 0) close(s->rfd);
    if (unlink_all) {
      char path[PATH_MAX];
      seg_path(sp, s->seq, path, sizeof path);
      unlink(path);
    }
    free(s);
    s = next;
  }
  sp->head = sp->tail = NULL;
}

static void spool_free(mctx_spool *sp) {
  free_segs(sp, 0);
  if (sp->dir_fd >= 0) close(sp->dir_fd);
  if (sp->lock_fd >= 0) close(sp->lock_fd);  /* releases the flock */
  pthread_cond_destroy(&sp->sync_cv);
  pthread_cond_destroy(&sp->work_cv);
  pthread_cond_destroy(&sp->drain_cv);
  pthread_mutex_destroy(&sp->mu);
  free(sp);
}

mctx_spool *mctx_spool_open(const mctx_spool_opts *opts, mctx_store *store, mctx_status *st) {
  mctx_status_clear(st);
  pthread_once(&crc_once, crc_init);
  if (!opts || !opts->dir || !opts->dir[0]) {
    mctx_status_set(st, MCTX_EMISSING, "spool.dir", "no spool directory given");
    return NULL;
  }
  if (!store) {
    mctx_status_set(st, MCTX_EINVALID, "spool", "no store given");
    return NULL;
  }
  mctx_spool *sp = calloc(1, sizeof *sp);
  if (!sp) { mctx_status_set(st, MCTX_ENOMEM, "spool", "out of memory"); return NULL; }
  pthread_mutex_init(&sp->mu, NULL);
  pthread_cond_init(&sp->sync_cv, NULL);
  pthread_cond_init(&sp->work_cv, NULL);
  pthread_cond_init(&sp->drain_cv, NULL);
  sp->lock_fd = sp->dir_fd = -1;
  if (strlen(opts->dir) >= sizeof sp->dir) {
    mctx_status_set(st, MCTX_EINVALID, "spool.dir", "path longer than %zu bytes", sizeof sp->dir - 1);
    spool_free(sp);
    return NULL;
  }
  snprintf(sp->dir, sizeof sp->dir, "%s", opts->dir);
  sp->store = store;
  sp->max_bytes = opts->max_bytes ? opts->max_bytes : ((size_t)1 << 30);
  sp->seg_max = sp->max_bytes / 4;
  if (sp->seg_max > ((size_t)16 << 20)) sp->seg_max = (size_t)16 << 20;
  if (sp->seg_max < 4096) sp->seg_max = 4096;
  sp->batch_max = opts->batch_max > 0 ? opts->batch_max : 256;
  if (sp->batch_max > 100000) sp->batch_max = 100000;
  sp->retry_base_ms = opts->retry_base_ms > 0 ? opts->retry_base_ms : 100;
  sp->retry_max_ms = opts->retry_max_ms > 0 ? opts->retry_max_ms : 30000;
  if (sp->retry_max_ms < sp->retry_base_ms) sp->retry_max_ms = sp->retry_base_ms;
  sp->rng = (uint64_t)mctx__now_ms() * 0x9E3779B97F4A7C15ull ^ (uint64_t)getpid();
  if (!sp->rng) sp->rng = 1;
  /* A lazily opened store that could not connect yet is down until the
   * writer's first ping says otherwise (not "ok" in the meantime). */
  sp->db_ok = mctx_store_is_open(store) ? 1 : 0;
  if (!sp->db_ok)
    snprintf(sp->last_error, sizeof sp->last_error, "not connected: the database did not answer when the spool "
             "opened; the writer retries");

  char path[PATH_MAX];
  if (mkdirs(sp->dir) != 0) {
    mctx_status_set(st, MCTX_EIO, "spool.dir", "cannot create %s: %s", sp->dir, strerror(errno));
    spool_free(sp);
    return NULL;
  }
  sp->dir_fd = open(sp->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  snprintf(path, sizeof path, "%s/LOCK", sp->dir);
  sp->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (sp->dir_fd < 0 || sp->lock_fd < 0) {
    mctx_status_set(st, MCTX_EIO, "spool.dir", "cannot open %s: %s", sp->dir, strerror(errno));
    spool_free(sp);
    return NULL;
  }
  if (flock(sp->lock_fd, LOCK_EX | LOCK_NB) != 0) {
    mctx_status_set(st, MCTX_EBUSY, "spool.dir", "%s is in use by another process", sp->dir);
    spool_free(sp);
    return NULL;
  }
  if (replay(sp, st) != 0 || seg_start(sp, st) != 0) {
    spool_free(sp);
    return NULL;
  }
  if (pthread_create(&sp->thread, NULL, writer, sp) != 0) {
    mctx_status_set(st, MCTX_EINTERNAL, "spool", "cannot start the writer thread");
    spool_free(sp);
    return NULL;
  }
  sp->thread_started = 1;
  return sp;
}

void mctx_spool_get_stats(mctx_spool *sp, mctx_spool_stats *out) {
  memset(out, 0, sizeof *out);
  pthread_mutex_lock(&sp->mu);
  out->appended = sp->appended;
  out->written = sp->written;
  out->dropped = sp->dropped;
  out->retries = sp->retries;
  out->depth = sp->depth;
  if (sp->depth > 0 && sp->oldest_ts > 0) {
    int64_t age = mctx__now_ms() - sp->oldest_ts;
    out->oldest_age_s = age > 0 ? (double)age / 1000.0 : 0.0;
  }
  out->db_ok = sp->db_ok;
  snprintf(out->last_error, sizeof out->last_error, "%s", sp->last_error);
  pthread_mutex_unlock(&sp->mu);
}

int mctx_spool_flush(mctx_spool *sp, int timeout_ms) {
  int64_t until = mono_ms() + (timeout_ms > 0 ? timeout_ms : 0);
  pthread_mutex_lock(&sp->mu);
  pthread_cond_signal(&sp->work_cv);
  while (sp->depth > 0) {
    int64_t left = until - mono_ms();
    if (left <= 0) break;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t step = left < 100 ? left : 100;
    ts.tv_nsec += step * 1000000L;
    if (ts.tv_nsec >= 1000000000L) { ts.tv_sec++; ts.tv_nsec -= 1000000000L; }
    pthread_cond_timedwait(&sp->drain_cv, &sp->mu, &ts);
  }
  int rc = sp->depth == 0 ? 0 : MCTX_ETIMEOUT;
  pthread_mutex_unlock(&sp->mu);
  return rc;
}

void mctx_spool_close(mctx_spool *sp, int drain_ms) {
  if (!sp) return;
  pthread_mutex_lock(&sp->mu);
  sp->closing = 1;
  sp->drain_deadline = mono_ms() + (drain_ms > 0 ? drain_ms : 0);
  pthread_cond_broadcast(&sp->work_cv);
  pthread_mutex_unlock(&sp->mu);
  if (sp->thread_started) pthread_join(sp->thread, NULL);
  pthread_mutex_lock(&sp->mu);
  while (sp->syncing) pthread_cond_wait(&sp->sync_cv, &sp->mu);
  int empty = sp->depth == 0 && sp->write_ticket == sp->synced_ticket;
  pthread_mutex_unlock(&sp->mu);
  /* Everything landed: no segment is needed any more. Otherwise they stay for
   * the next start, which replays them. */
  free_segs(sp, empty);
  if (sp->dir_fd >= 0) fsync(sp->dir_fd);
  spool_free(sp);
}
