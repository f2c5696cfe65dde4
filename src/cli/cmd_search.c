/* cli/cmd_search.c: `mctx search`, one request from a file or stdin.
 * Prints the result JSON on stdout and exits 0; an invalid request prints the
 * error envelope on stdout and exits 2; a failure of the search itself exits
 * 1. --tree writes the search tree as mctx's Tree would be returned.
 *
 * --distributed runs the request over the device mesh (src/dist): this
 * process's GPUs or CPU devices and, under `mpirun -np N`, every process's.
 * Every process then runs this command: rank 0 reads the request (mpirun
 * gives stdin to rank 0 only) and sends it to the others, the flags are
 * written into the request's search_params, every process takes part in the
 * search, and rank 0 alone prints. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "cli/cli.h"
#include "mctx/dist.h"
#include "mctx/json.h"
#include "models/repository.h"
#include "util/jsonw.h"

static void help(void) {
  printf(
      "usage: mctx search --input FILE|- [--tree FILE] [--tree-format nested|arrays]\n"
      "                   [--engine auto|cpu|cuda] [--threads N] [--max-simulations N]\n"
      "                   [--max-tree-mib N] [--default-model NAME] [--model-dir DIR]\n"
      "                   [--distributed [--num-devices N] [--partition batch|search]\n"
      "                    [--merge sum_visits|max_value|consensus] [--gpus auto|none|LIST]\n"
      "                    [--cpu-devices N] [--nccl auto|off] [--fail-device K]]\n\n"
      "Runs one search request (the JSON of docs/API.md) and prints the result JSON.\n\n"
      "  --input FILE         the request; '-' reads stdin (required)\n"
      "  --tree FILE          also write the search tree to FILE\n"
      "  --tree-format F      nested: one root dictionary per batch element, as mctx's\n"
      "                       tests/test_data; arrays: every Tree field by mctx's name\n"
      "                       (default nested)\n"
      "  --engine E           auto (the GPU when present and the request's device_type\n"
      "                       allows), cpu or cuda (default auto)\n"
      "  --threads N          CPU engine threads (default: one per core)\n"
      "  --max-simulations N  limit on num_simulations (default 100000)\n"
      "  --max-tree-mib N     memory budget of one search tree (default 4096)\n"
      "  --default-model NAME model of requests that name none (default synthetic)\n"
      "  --model-dir DIR      a model repository (docs/MODELS.md): its models by name,\n"
      "                       as the service serves them (default: none, MCTX_MODEL_DIR)\n\n"
      "Distributed search (docs/DISTRIBUTED.md); also `mpirun -np N mctx search --distributed`:\n"
      "  --distributed        run the request over the device mesh: this process's GPUs (or\n"
      "                       its CPU devices) and, under mpirun, every process's; sets\n"
      "                       search_params.distributed. Rank 0 reads the request and prints\n"
      "  --num-devices N      devices to use (default: the request's num_devices, or every\n"
      "                       device of the mesh when the request gives none)\n"
      "  --partition P        batch (partition_batch, the default) or search (partition_search)\n"
      "  --merge S            partition_search's merge: sum_visits, max_value or consensus\n"
      "  --gpus G             this process's GPUs: auto, none or a list such as 0,2 (default auto)\n"
      "  --cpu-devices N      CPU devices of this process when it runs on its CPU (default 1);\n"
      "                       --threads then sets the threads of each\n"
      "  --nccl auto|off      gather GPU results through NCCL where every process has GPUs of\n"
      "                       its own (default auto); off: in place or over MPI\n"
      "  --fail-device K      make device K fail during its search (failure injection, as\n"
      "                       MCTX_DIST_FAIL_DEVICE=K): its share runs on the others\n\n"
      "Exit status: 0 success, 2 invalid request (the error envelope is printed),\n"
      "1 other failures.\n");
}

/* Writes v with the JSON writer, member by member. */
static void write_json(mctx_jw *w, const mctx_json *v) {
  switch (v->type) {
    case MCTX_JSON_NULL: mctx_jw_null(w); break;
    case MCTX_JSON_BOOL: mctx_jw_bool(w, v->boolean); break;
    case MCTX_JSON_NUMBER:
      if (v->is_int) mctx_jw_i64(w, v->i);
      else mctx_jw_f64(w, v->u.num);
      break;
    case MCTX_JSON_STRING: mctx_jw_strn(w, v->u.str, v->len); break;
    case MCTX_JSON_ARRAY:
      mctx_jw_arr(w);
      for (uint32_t i = 0; i < v->len; i++) write_json(w, &v->u.items[i]);
      mctx_jw_end(w);
      break;
    default:
      mctx_jw_obj(w);
      for (uint32_t i = 0; i < v->len; i++) {
        mctx_jw_key(w, v->u.members[i].key);
        write_json(w, &v->u.members[i].value);
      }
      mctx_jw_end(w);
  }
}

typedef struct dist_flags {
  int on;
  int num_devices;          /* 0: the request's, or every device */
  const char *partition;    /* NULL: the request's */
  const char *merge;        /* NULL: the request's */
  const char *gpus;
  int cpu_devices;
  const char *fail_device;
  const char *nccl;
} dist_flags;

/* The request with the distributed flags written into its search_params.
 * Returns a malloc'd body, or NULL when the request is not a JSON object (it
 * then goes on as it is, and decoding reports the error). */
static char *with_dist_flags(const char *body, size_t len, const dist_flags *df, int mesh_devices, size_t *out_len) {
  mctx_status st;
  mctx_json_doc *doc = mctx_json_parse(body, len, NULL, &st);
  if (!doc) return NULL;
  const mctx_json *root = mctx_json_root(doc);
  if (root->type != MCTX_JSON_OBJECT) { mctx_json_doc_free(doc); return NULL; }
  const mctx_json *sp = mctx_json_get(root, "search_params");
  if (sp && sp->type != MCTX_JSON_OBJECT && sp->type != MCTX_JSON_NULL) { mctx_json_doc_free(doc); return NULL; }
  mctx_buf b;
  mctx_buf_init(&b, (size_t)1 << 31);
  mctx_jw w;
  mctx_jw_init(&w, &b);
  mctx_jw_obj(&w);
  for (uint32_t i = 0; i < root->len; i++) {
    const mctx_json_member *m = &root->u.members[i];
    if (strcmp(m->key, "search_params") == 0) continue;
    mctx_jw_key(&w, m->key);
    write_json(&w, &m->value);
  }
  mctx_jw_key(&w, "search_params");
  mctx_jw_obj(&w);
  int has_num = 0;
  for (uint32_t i = 0; sp && sp->type == MCTX_JSON_OBJECT && i < sp->len; i++) {
    const mctx_json_member *m = &sp->u.members[i];
    const char *k = m->key;
    if (strcmp(k, "num_devices") == 0) has_num = 1;
    if (strcmp(k, "distributed") == 0 || (strcmp(k, "num_devices") == 0 && df->num_devices > 0) ||
        ((strcmp(k, "partition_batch") == 0 || strcmp(k, "partition_search") == 0) && df->partition) ||
        (strcmp(k, "merge_strategy") == 0 && df->merge))
      continue;
    mctx_jw_key(&w, k);
    write_json(&w, &m->value);
  }
  MCTX_JW_KV(&w, "distributed", mctx_jw_bool, 1);
  if (df->num_devices > 0) MCTX_JW_KV(&w, "num_devices", mctx_jw_i64, df->num_devices);
  else if (!has_num) MCTX_JW_KV(&w, "num_devices", mctx_jw_i64, mesh_devices);
  if (df->partition) {
    int search = strcmp(df->partition, "search") == 0;
    MCTX_JW_KV(&w, "partition_batch", mctx_jw_bool, !search);
    MCTX_JW_KV(&w, "partition_search", mctx_jw_bool, search);
  }
  if (df->merge) MCTX_JW_KV(&w, "merge_strategy", mctx_jw_str, df->merge);
  mctx_jw_end(&w);
  mctx_jw_end(&w);
  mctx_json_doc_free(doc);
  if (b.failed) { mctx_buf_free(&b); return NULL; }
  return mctx_buf_steal(&b, out_len);
}

static char *read_all(const char *path, size_t *len) {
  FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
  if (!f) return NULL;
  mctx_buf b;
  mctx_buf_init(&b, (size_t)1 << 31);
  char tmp[65536];
  size_t n;
  while ((n = fread(tmp, 1, sizeof tmp, f)) > 0)
    if (mctx_buf_append(&b, tmp, n) != 0) break;
  int failed = b.failed || ferror(f);
  if (f != stdin) fclose(f);
  if (failed) { mctx_buf_free(&b); return NULL; }
  return mctx_buf_steal(&b, len);
}

/* Builds this process's mesh from the flags and makes it the default one, on
 * which the API runs distributed requests. */
static int open_mesh(const dist_flags *df, int threads, const char *engine, mctx_dist_mesh **out) {
  mctx_dist_mesh_options o;
  mctx_dist_mesh_options_init(&o);
  o.gpus = strcmp(engine, "cpu") == 0 ? "none" : df->gpus;
  o.cpu_devices = df->cpu_devices > 0 ? df->cpu_devices : 1;
  o.cpu_threads = threads;
  o.nccl = df->nccl && strcmp(df->nccl, "off") == 0 ? 0 : -1;
  mctx_status st;
  if (mctx_dist_mesh_new(&o, out, &st) != 0) {
    mctx_cli_error("search", "%s%s%s", st.field, st.field[0] ? ": " : "", st.reason);
    return 1;
  }
  mctx_dist_set_default_mesh(*out);
  return 0;
}

int mctx_cmd_search(int argc, char **argv) {
  const char *input = NULL, *tree_path = NULL, *tree_format = "nested";
  const char *engine = "auto";
  const char *model_dir = getenv("MCTX_MODEL_DIR");
  int threads = 0;
  dist_flags df;
  memset(&df, 0, sizeof df);
  mctx_api_env env;
  memset(&env, 0, sizeof env);
  mctx_api_limits_default(&env.limits);
  env.default_model = "synthetic";
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) { help(); return 0; }
    if (strcmp(a, "--distributed") == 0) { df.on = 1; continue; }
    int used = 1;
    if (!v) used = 0;
    else if (strcmp(a, "--input") == 0) input = v;
    else if (strcmp(a, "--tree") == 0) tree_path = v;
    else if (strcmp(a, "--tree-format") == 0) tree_format = v;
    else if (strcmp(a, "--engine") == 0) engine = v;
    else if (strcmp(a, "--threads") == 0) threads = atoi(v);
    else if (strcmp(a, "--max-simulations") == 0) env.limits.max_num_simulations = atoi(v);
    else if (strcmp(a, "--max-tree-mib") == 0) env.limits.max_tree_bytes = (size_t)strtoull(v, NULL, 10) << 20;
    else if (strcmp(a, "--default-model") == 0) env.default_model = v;
    else if (strcmp(a, "--model-dir") == 0) model_dir = v;
    else if (strcmp(a, "--num-devices") == 0) df.num_devices = atoi(v);
    else if (strcmp(a, "--partition") == 0) df.partition = v;
    else if (strcmp(a, "--merge") == 0) df.merge = v;
    else if (strcmp(a, "--gpus") == 0) df.gpus = v;
    else if (strcmp(a, "--cpu-devices") == 0) df.cpu_devices = atoi(v);
    else if (strcmp(a, "--fail-device") == 0) df.fail_device = v;
    else if (strcmp(a, "--nccl") == 0) df.nccl = v;
    else used = 0;
    if (!used) {
      mctx_cli_error("search", "unknown or incomplete flag '%s' (see mctx search --help)", a);
      return 2;
    }
    i++;
  }
  if (!input) { mctx_cli_error("search", "--input FILE is required (see mctx search --help)"); return 2; }
  if (strcmp(tree_format, "nested") != 0 && strcmp(tree_format, "arrays") != 0) {
    mctx_cli_error("search", "--tree-format must be nested or arrays, not '%s'", tree_format);
    return 2;
  }
  int dist_flag_given = df.num_devices || df.partition || df.merge || df.gpus || df.cpu_devices || df.fail_device ||
                        df.nccl;
  if (dist_flag_given && !df.on) {
    mctx_cli_error("search", "--num-devices, --partition, --merge, --gpus, --cpu-devices, --nccl and --fail-device go "
                             "with --distributed");
    return 2;
  }
  mctx_dist_merge merge_unused;
  if (df.on && ((df.partition && strcmp(df.partition, "batch") != 0 && strcmp(df.partition, "search") != 0) ||
                (df.merge && mctx_dist_merge_parse(df.merge, &merge_unused) != 0) ||
                (df.nccl && strcmp(df.nccl, "auto") != 0 && strcmp(df.nccl, "off") != 0) ||
                df.num_devices < 0 || df.cpu_devices < 0)) {
    mctx_cli_error("search", "--partition is batch or search, --merge sum_visits, max_value or consensus, "
                             "--nccl auto or off, --num-devices and --cpu-devices positive");
    return 2;
  }
  if (df.fail_device) setenv("MCTX_DIST_FAIL_DEVICE", df.fail_device, 1);

  /* Under --distributed every process builds the mesh (collective), rank 0
   * reads the request and sends it to the others. */
  mctx_dist_mesh *mesh = NULL;
  int rank = 0;
  if (df.on) {
    if (open_mesh(&df, threads, engine, &mesh) != 0) return 1;
    rank = mctx_dist_mesh_rank(mesh);
  }
  size_t len = 0;
  char *body = NULL;
  int read_errno = 0;
  if (rank == 0) {
    body = read_all(input, &len);
    read_errno = errno;
  }
  if (df.on) {
    mctx_status st;
    int ok = mctx_dist_mesh_all(mesh, rank != 0 || body != NULL);
    if (ok && mctx_dist_mesh_bcast(mesh, &body, &len, &st) != 0) {
      mctx_cli_error("search", "cannot share the request: %s", st.reason);
      ok = 0;
    }
    if (!ok) {
      if (rank == 0 && !body) mctx_cli_error("search", "cannot read %s: %s", input, strerror(read_errno));
      free(body);
      mctx_dist_shutdown();
      return 1;
    }
    size_t nlen = 0;
    char *nbody = with_dist_flags(body, len, &df,
                                  mctx_dist_mesh_num_devices(mesh, MCTX_DIST_DEVICE_AUTO, MCTX_ENGINE_CPU | MCTX_ENGINE_CUDA),
                                  &nlen);
    if (nbody) {
      free(body);
      body = nbody;
      len = nlen;
    }
  } else if (!body) {
    mctx_cli_error("search", "cannot read %s: %s", input, strerror(read_errno));
    return 1;
  }
  mctx_status st;
  if (mctx_api_engines_open(&env, engine, threads, &st) != 0) {
    mctx_cli_error("search", "%s", st.reason);
    free(body);
    if (df.on) mctx_dist_shutdown();
    return 1;
  }
  mctx_model_repo *repo = NULL;
  if (model_dir && model_dir[0]) {
    if (mctx_model_repo_open(model_dir, &repo, &st) != 0) {
      mctx_cli_error("search", "model repository %s: %s%s%s", model_dir, st.field, st.field[0] ? ": " : "",
                     st.reason);
      mctx_api_engines_close(&env);
      free(body);
      if (df.on) mctx_dist_shutdown();
      return 1;
    }
    env.models = repo;
  }
  mctx_job *job = NULL;
  mctx_buf out;
  mctx_buf_init(&out, (size_t)1 << 31);
  int rc = mctx_job_prepare(&env, body, len, NULL, "cli", &job, &st);
  int status = 0;
  if (rc != 0) {
    mctx_error_json(&out, mctx_http_status(rc), &st);
    status = 2;
  } else {
    if (tree_path) mctx_job_keep_tree(job);
    mctx_job_run(&env, &job, 1);
    mctx_job_encode(job, &out);
    const mctx_status *js = mctx_job_status(job);
    status = js->code == 0 ? 0 : (mctx_http_status(js->code) == 400 ? 2 : 1);
    if (status == 0 && tree_path && rank == 0) {
      mctx_buf tb;
      mctx_buf_init(&tb, (size_t)1 << 31);
      FILE *f = fopen(tree_path, "wb");
      if (!f || mctx_job_tree_json(job, strcmp(tree_format, "nested") == 0, &tb) != 0 ||
          fwrite(tb.data, 1, tb.len, f) != tb.len) {
        mctx_cli_error("search", "cannot write the tree to %s", tree_path);
        status = 1;
      }
      if (f) fclose(f);
      mctx_buf_free(&tb);
    }
  }
  if (rank == 0) {
    fwrite(out.data, 1, out.len, stdout);
    fputc('\n', stdout);
  }
  mctx_buf_free(&out);
  mctx_job_free(job);
  mctx_model_repo_free(repo);
  mctx_api_engines_close(&env);
  free(body);
  if (df.on) mctx_dist_shutdown();
  return status;
}
