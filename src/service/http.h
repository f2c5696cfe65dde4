/* service/http.h: HTTP/1.1 on libmicrohttpd, knowing nothing of routes.
 *
 * MHD's internal polling threads (epoll) read requests; this layer gathers a
 * request's body under a hard cap, hands the request to the application in
 * two steps (headers, then the whole body), and sends what the application
 * answered. An application that cannot answer at once suspends the request
 * (the connection leaves MHD's event loop) and answers later from any thread
 * with mctx_http_resume. Suspended connections are not watched by MHD, so
 * this layer can scan them for clients that went away
 * (mctx_http_scan_suspended).
 *
 * A request's head (request line and headers) larger than max_head_bytes
 * is marked head_over for the application to refuse with its own answer;
 * one that does not fit libmicrohttpd's per-connection memory (64 KiB,
 * MEMORY_LIMIT below) never reaches this layer: libmicrohttpd answers it
 * itself (431, or 414 for a request line, as a small HTML page), like a
 * request it cannot parse (400) or an unknown HTTP version (505).
 *
 * Bodies are bounded twice: each by max_body_bytes (body_over), and all of
 * them together by max_body_total (body_busy), so that many large uploads at
 * once cannot take the memory either.
 *
 * The application's request struct begins with an mctx_http_req; this layer
 * allocates `req_size` bytes per request (zeroed) and frees them after
 * on_complete. */
#ifndef MCTX_SERVICE_HTTP_H
#define MCTX_SERVICE_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "mctx/errors.h"
#include "util/buf.h"

enum {
  MCTX_HTTP_GET = 0, MCTX_HTTP_HEAD, MCTX_HTTP_POST, MCTX_HTTP_PUT, MCTX_HTTP_DELETE, MCTX_HTTP_PATCH,
  MCTX_HTTP_OPTIONS, MCTX_HTTP_OTHER, MCTX_HTTP_METHODS
};

#define MCTX_HTTP_MAX_HEADERS 10

typedef struct mctx_http mctx_http;
typedef struct mctx_http_req mctx_http_req;

struct mctx_http_req {
  mctx_http *http;
  void *conn;                     /* struct MHD_Connection */
  int method;                     /* MCTX_HTTP_* */
  const char *method_str;         /* borrowed from MHD until on_complete */
  const char *path;               /* decoded path, no query; borrowed likewise */
  char request_id[64];            /* X-Request-ID when valid, else a fresh UUID */
  char client_ip[48];
  uint64_t t_start_ns;            /* monotonic, when the headers were in */

  mctx_buf body;                  /* capped at the body limit */
  uint64_t content_length;        /* from the header; 0 without a body; UINT64_MAX when chunked */
  size_t head_bytes;              /* request line and headers, as received */
  int head_over;                  /* head_bytes passed max_head_bytes (the application answers 431) */
  int body_over;                  /* the body passed the cap (the rest was dropped) */
  int body_busy;                  /* the bodies of all requests passed their budget: 503 */
  uint64_t body_held;             /* bytes counted against that budget */

  /* the answer */
  int status;
  mctx_buf resp;
  const char *content_type;       /* static; default application/json */
  int nheaders;
  struct { const char *name; char value[192]; } headers[MCTX_HTTP_MAX_HEADERS];
  int ready;                      /* the answer is complete */

  /* suspension (guarded by the layer's lock) */
  int suspended;
  int peer_gone;
  int was_suspended;              /* on_body suspended it (MHD's thread only) */
  mctx_http_req *snext, *sprev;
};

typedef struct mctx_http_handlers {
  void *app;
  size_t req_size;                /* >= sizeof(mctx_http_req) */
  /* The headers are in. May answer at once (mctx_http_answer) to refuse the
   * request before its body is read. */
  void (*on_headers)(void *app, mctx_http_req *r);
  /* The body is complete in r->body (r->body_over when it passed the cap).
   * Must either answer, or call mctx_http_suspend and answer later with
   * mctx_http_resume. */
  void (*on_body)(void *app, mctx_http_req *r);
  /* The request ended: `sent` is 1 when the answer went out whole. The
   * application releases what it holds in r; r is freed after this. */
  void (*on_complete)(void *app, mctx_http_req *r, int sent);
} mctx_http_handlers;

typedef struct mctx_http_opts {
  const char *host;
  int port;
  int threads;                    /* polling threads (>= 1) */
  int max_connections;
  int idle_timeout_s;
  size_t max_body_bytes;
  size_t max_head_bytes;          /* request line and headers; 0: no check here (MHD's own limit stays) */
  size_t max_body_total;          /* all bodies being received or held at once */
  size_t max_response_bytes;
} mctx_http_opts;

/* Starts listening. Returns NULL with st filled when the address cannot be
 * bound. `h` is copied. */
mctx_http *mctx_http_start(const mctx_http_opts *o, const mctx_http_handlers *h, mctx_status *st);
/* The port bound (useful with port 0). */
int mctx_http_port(const mctx_http *h);
/* Stops accepting connections; those open are served on. */
void mctx_http_quiesce(mctx_http *h);
/* Requests begun and not completed. */
int64_t mctx_http_in_flight(const mctx_http *h);
/* Stops the server: every suspended request must have been resumed. Frees h.
 * NULL is a harmless no-op. */
void mctx_http_stop(mctx_http *h);

/* ==== Answering (called by the application) ==== */

/* Adds a response header; the value is copied (cut at 191 bytes). Names are
 * static strings. Returns 0, or -1 when MCTX_HTTP_MAX_HEADERS are set. */
int mctx_http_header(mctx_http_req *r, const char *name, const char *value);
/* Marks the answer complete with `status` (body in r->resp). From on_headers
 * or on_body it is sent when the handler returns; for a suspended request,
 * call mctx_http_resume afterwards. */
void mctx_http_answer(mctx_http_req *r, int status);
/* Takes the request out of the event loop (only from on_body). */
void mctx_http_suspend(mctx_http_req *r);
/* Puts a suspended request back; it is answered with what r holds. From any
 * thread; r must not be touched after this call. */
void mctx_http_resume(mctx_http_req *r);

/* A request header or query argument (borrowed until on_complete), or NULL. */
const char *mctx_http_request_header(const mctx_http_req *r, const char *name);
const char *mctx_http_query(const mctx_http_req *r, const char *name);

/* Looks at the sockets of suspended requests and calls gone(app, r) once for
 * each whose client closed it. gone runs under the layer's lock: it must be
 * quick and must not resume. Returns how many requests are suspended; with
 * gone NULL it only counts them. */
size_t mctx_http_scan_suspended(mctx_http *h, void (*gone)(void *app, mctx_http_req *r));

/* Monotonic nanoseconds. */
uint64_t mctx_now_ns(void);
/* A fresh random UUID (version 4) into out[37]. */
void mctx_uuid(char out[37]);

#endif
