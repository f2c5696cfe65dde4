/* cli/cmd_search.c: `mctx search`, one request from a file or stdin.
 * Prints the result JSON on stdout and exits 0; an invalid request prints the
 * error envelope on stdout and exits 2; a failure of the search itself exits
 * 1. --tree writes the search tree as mctx's Tree would be returned. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "cli/cli.h"

static void help(void) {
  printf(
      "usage: mctx search --input FILE|- [--tree FILE] [--tree-format nested|arrays]\n"
      "                   [--engine auto|cpu|cuda] [--threads N] [--max-simulations N]\n"
      "                   [--max-tree-mib N] [--default-model NAME]\n\n"
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
      "  --default-model NAME model of requests that name none (default synthetic)\n\n"
      "Exit status: 0 success, 2 invalid request (the error envelope is printed),\n"
      "1 other failures.\n");
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

int mctx_cmd_search(int argc, char **argv) {
  const char *input = NULL, *tree_path = NULL, *tree_format = "nested";
  const char *engine = "auto";
  int threads = 0;
  mctx_api_env env;
  memset(&env, 0, sizeof env);
  mctx_api_limits_default(&env.limits);
  env.default_model = "synthetic";
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) { help(); return 0; }
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
  size_t len;
  char *body = read_all(input, &len);
  if (!body) { mctx_cli_error("search", "cannot read %s: %s", input, strerror(errno)); return 1; }
  mctx_status st;
  if (mctx_api_engines_open(&env, engine, threads, &st) != 0) {
    mctx_cli_error("search", "%s", st.reason);
    free(body);
    return 1;
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
    if (status == 0 && tree_path) {
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
  fwrite(out.data, 1, out.len, stdout);
  fputc('\n', stdout);
  mctx_buf_free(&out);
  mctx_job_free(job);
  mctx_api_engines_close(&env);
  free(body);
  return status;
}
