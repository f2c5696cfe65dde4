/* service/routes.c: the route table of `mctx serve`.
 *
 * One row per route: method, path pattern, handler, who may call it, which
 * rate limit applies, whether it takes a JSON body, and what the OpenAPI
 * document says of it (openapi.c renders the document from this table, so
 * what is documented is what is served). Add a route here and it is routed,
 * authenticated, limited, counted, logged and documented. */
#include "service/dashboard.h"
#include "service/http.h"
#include "service/ratelimit.h"
#include "service/server.h"

#define P_LIMIT(max, dflt)                                                                                    \
  "{\"name\":\"limit\",\"in\":\"query\",\"required\":false,\"description\":\"rows to return\","              \
  "\"schema\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":" #max ",\"default\":" #dflt "}}"
#define P_SEARCH_TYPE                                                                                         \
  "{\"name\":\"search_type\",\"in\":\"query\",\"required\":false,\"description\":\"only this search type\"," \
  "\"schema\":{\"type\":\"string\",\"enum\":[\"muzero\",\"gumbel_muzero\",\"stochastic_muzero\"]}}"
#define P_DATE(n, what)                                                                                       \
  "{\"name\":\"" n "\",\"in\":\"query\",\"required\":false,\"description\":\"" what " (UTC, inclusive)\","   \
  "\"schema\":{\"type\":\"string\",\"format\":\"date\",\"example\":\"2026-01-31\"}}"

static const mctx_route ROUTES[] = {
  {MCTX_HTTP_POST, "/api/v1/mcts/search", mctx_h_search, MCTX_ACCESS_USER, MCTX_RL_SEARCH, 1,
   "search", "search", "Run a search and wait for its result",
   "Runs one MCTS request (the request of DESIGN.md) on the best engine available and answers its result. "
   "Concurrent requests with the same model, policy, shape and search parameters may be merged into one "
   "batched search; each still gets exactly the result it would get alone.",
   NULL, "SearchRequest", NULL, 200, "SearchResult", NULL, "400,401,403,413,415,429,500,503"},
  {MCTX_HTTP_POST, "/api/v1/tasks/search/async", mctx_h_task_submit, MCTX_ACCESS_USER, MCTX_RL_SEARCH, 1,
   "submitSearchTask", "tasks", "Queue a search and return a task id at once",
   "Validates the request like the synchronous route (errors answer at once), queues it and answers 202 with "
   "the task id. Poll GET /api/v1/tasks/status/{task_id} for the result.",
   NULL, "SearchRequest", NULL, 202, "TaskAccepted", NULL, "400,401,403,413,415,429,503"},
  {MCTX_HTTP_GET, "/api/v1/tasks/status/{task_id}", mctx_h_task_status, MCTX_ACCESS_USER, MCTX_RL_OTHER, 0,
   "getTaskStatus", "tasks", "A task's state, with its result once done",
   "pending, running, done (with `result`, the synchronous route's body), failed (with `error`, the envelope) "
   "or canceled. A user sees only its own tasks; finished tasks are kept for --task-ttl-s seconds.",
   NULL, NULL, NULL, 200, "TaskStatus", NULL, "401,404,429"},
  {MCTX_HTTP_DELETE, "/api/v1/tasks/{task_id}", mctx_h_task_cancel, MCTX_ACCESS_USER, MCTX_RL_OTHER, 0,
   "cancelTask", "tasks", "Cancel a task (or forget a finished one)",
   "A pending task is not run; a running one stops at its next simulation. A finished task is forgotten.",
   NULL, NULL, NULL, 200, "TaskStatus", NULL, "401,404,429"},
  {MCTX_HTTP_GET, "/api/v1/tasks", mctx_h_task_list, MCTX_ACCESS_ADMIN, MCTX_RL_OTHER, 0,
   "listTasks", "tasks", "Every task in the table (admin)", "Newest first, without their results.",
   "[{\"name\":\"state\",\"in\":\"query\",\"required\":false,\"schema\":{\"type\":\"string\",\"enum\":[\"pending\","
   "\"running\",\"done\",\"failed\",\"canceled\"]}}," P_LIMIT(10000, 100) "]",
   NULL, NULL, 200, "TaskList", NULL, "400,401,403,429"},
  {MCTX_HTTP_GET, "/api/v1/mcts/health", mctx_h_health, MCTX_ACCESS_PUBLIC, -1, 0,
   "health", "health", "The service's health (product notes' route)",
   "200 with status \"healthy\" when ready; 503 (the error envelope plus the same fields) while starting or "
   "draining. Open to everyone, also when API keys are configured.",
   NULL, NULL, NULL, 200, "Health", NULL, "503"},
  {MCTX_HTTP_GET, "/health/live", mctx_h_live, MCTX_ACCESS_PUBLIC, -1, 0,
   "live", "health", "Liveness probe", "200 while the process serves HTTP.",
   NULL, NULL, NULL, 200, "Live", NULL, ""},
  {MCTX_HTTP_GET, "/health/ready", mctx_h_ready, MCTX_ACCESS_PUBLIC, -1, 0,
   "ready", "health", "Readiness probe",
   "200 when searches are taken; 503 while starting or draining (on SIGTERM). The database's state is "
   "reported (ok or degraded) but does not make the service unready: records wait in the spool.",
   NULL, NULL, NULL, 200, "Ready", NULL, "503"},
  {MCTX_HTTP_GET, "/metrics", mctx_h_metrics, MCTX_ACCESS_METRICS, -1, 0,
   "metrics", "health", "Prometheus metrics",
   "Prometheus text format 0.0.4, every name prefixed mctx_. Needs a key when keys are configured, unless "
   "--metrics-public.",
   NULL, NULL, NULL, 200, NULL, "text/plain", "401"},
  {MCTX_HTTP_GET, "/openapi.json", mctx_h_openapi, MCTX_ACCESS_PUBLIC, -1, 0,
   "openapi", "health", "This document", "The OpenAPI 3 description of every route and schema.",
   NULL, NULL, NULL, 200, "OpenAPI", NULL, ""},
  {MCTX_HTTP_GET, "/api/v1/stats/daily", mctx_h_stats_daily, MCTX_ACCESS_USER, MCTX_RL_OTHER, 0,
   "dailyStats", "history", "Daily statistics (MCTX_SEARCH_STATISTICS)",
   "One row per day (UTC) and search type: count, average and maximum duration, average expanded nodes, "
   "maximum batch size and simulations, GPU-optimized and distributed counts, average devices.",
   "[" P_DATE("from", "first day") "," P_DATE("to", "last day") "," P_SEARCH_TYPE "]",
   NULL, NULL, 200, "DailyStats", NULL, "400,401,429,503"},
  {MCTX_HTTP_GET, "/api/v1/searches", mctx_h_searches, MCTX_ACCESS_USER, MCTX_RL_OTHER, 0,
   "listSearches", "history", "Recorded searches (MCTX_SEARCH_HISTORY), newest first",
   "A user-role client sees only its own searches; admin may filter by user. Records reach the database "
   "through the spool, a moment after the search answered.",
   "[" P_LIMIT(1000, 50) ",{\"name\":\"offset\",\"in\":\"query\",\"required\":false,\"schema\":{\"type\":"
   "\"integer\",\"minimum\":0,\"default\":0}}," P_SEARCH_TYPE ",{\"name\":\"user\",\"in\":\"query\","
   "\"required\":false,\"schema\":{\"type\":\"string\"}}]",
   NULL, NULL, 200, "SearchList", NULL, "400,401,403,429,503"},
  {MCTX_HTTP_GET, "/api/v1/searches/{request_id}", mctx_h_search_get, MCTX_ACCESS_USER, MCTX_RL_OTHER, 0,
   "getSearch", "history", "One recorded search by request id", NULL,
   NULL, NULL, NULL, 200, "SearchRecord", NULL, "401,404,429,503"},
  {MCTX_HTTP_GET, "/api/v1/searches/{request_id}/tree", mctx_h_search_tree, MCTX_ACCESS_USER, MCTX_RL_OTHER, 0,
   "getSearchTree", "history", "A search's stored tree (MCTX_SEARCH_TREES)",
   "The tree of a search whose request said \"store_tree\": true (or that had at least --store-trees-over "
   "nodes), stored zstd-compressed with its history record. `nested` (default): per batch element, mctx's node "
   "dictionaries; `arrays`: every tree field by mctx's name. Same visibility as the search's record.",
   "[{\"name\":\"format\",\"in\":\"query\",\"required\":false,\"schema\":{\"type\":\"string\","
   "\"enum\":[\"nested\",\"arrays\"],\"default\":\"nested\"}}]",
   NULL, NULL, 200, "StoredTree", NULL, "400,401,404,429,500,503"},
  {MCTX_HTTP_GET, "/api/v1/models", mctx_h_models, MCTX_ACCESS_USER, MCTX_RL_OTHER, 0,
   "listModels", "models", "The models requests may name",
   "The model repository's models (--model-dir), then the built-in ones; a repository model hides a built-in "
   "one of the same name.",
   NULL, NULL, NULL, 200, "ModelList", NULL, "401,429"},
  {MCTX_HTTP_POST, "/api/v1/models/reload", mctx_h_models_reload, MCTX_ACCESS_ADMIN, MCTX_RL_OTHER, 0,
   "reloadModels", "models", "Read the model repository again (admin)",
   "Loads every model folder again and makes the new set current in one step (SIGHUP does the same). Searches "
   "in flight keep the model they started with. A repository with a broken model is refused whole (409, the "
   "folder and the reason) and the current set stays; without --model-dir, 400. Answers the new list.",
   NULL, NULL, NULL, 200, "ModelList", NULL, "400,401,403,409,429"},
  {MCTX_HTTP_POST, "/api/v1/auth/token", mctx_h_token, MCTX_ACCESS_USER, MCTX_RL_OTHER, 1,
   "issueToken", "auth", "Issue a bearer token (JWT, HS256) for an API key",
   "Authenticate with X-API-Key; the token carries the key's name and role and expires after --jwt-ttl-s "
   "seconds (or `expires_in`, when shorter). Send it as Authorization: Bearer <token>.",
   NULL, "TokenRequest", "optional", 200, "Token", NULL, "400,401,415,429"},
  /* the dashboard (dashboard.c): public files, data through the routes above */
  {MCTX_HTTP_GET, "/dashboard", mctx_h_dashboard, MCTX_ACCESS_PUBLIC, -1, 0,
   "dashboard", "dashboard", "The dashboard (HTML page)",
   "The dashboard's page, compiled into the binary. The files hold no data and are public; the page reads "
   "everything through the routes of this document, with a bearer token its login form obtains from "
   "POST /api/v1/auth/token when keys are configured (docs/DASHBOARD.md).",
   NULL, NULL, NULL, 200, NULL, "text/html", ""},
  {MCTX_HTTP_GET, "/dashboard/{asset}", mctx_h_dashboard_asset, MCTX_ACCESS_PUBLIC, -1, 0,
   "dashboardAsset", "dashboard", "One of the dashboard's files (script, style sheet, icon)",
   "Served from memory with a Content-Security-Policy that allows this origin only.",
   NULL, NULL, NULL, 200, NULL, "*/*", "404"},
  {MCTX_HTTP_GET, "/api/v1/dashboard/gpu", mctx_h_dashboard_gpu, MCTX_ACCESS_METRICS, -1, 0,
   "dashboardGpu", "dashboard", "GPU memory and utilization (NVML)",
   "Each GPU's memory and utilization from NVIDIA's management library when the driver is installed, "
   "otherwise available=false with the reason; and the engine searches run on. Needs a key like /metrics.",
   NULL, NULL, NULL, 200, "DashboardGpu", NULL, "401"},
};

const mctx_route *mctx_service_routes(size_t *n) {
  *n = sizeof ROUTES / sizeof ROUTES[0];
  return ROUTES;
}
