/* service/handlers_models.c: the model routes: GET /api/v1/models lists
 * the models requests may name (the repository's, from --model-dir, then
 * the built-in ones), POST /api/v1/models/reload (admin) reads the
 * repository again. A reload is atomic and never fails a request in flight
 * (models/repository.h: requests hold their own references); a repository
 * with a broken model is refused whole and the current set stays. SIGHUP
 * reloads the same way (cmd_serve.c). */
#include <stdio.h>
#include <string.h>

#include "models/repository.h"
#include "service/server.h"

void mctx_h_models(mctx_server *s, mctx_svc_req *r) {
  if (mctx_model_repo_list_json(s->models, 1, &r->http.resp) != 0) {
    mctx_svc_error(r, 500, NULL, "the model list is larger than the response cap");
    return;
  }
  mctx_svc_json(r, 200);
}

void mctx_h_models_reload(mctx_server *s, mctx_svc_req *r) {
  mctx_status st;
  mctx_status_clear(&st);
  char why[96];
  snprintf(why, sizeof why, "POST /api/v1/models/reload by %s", r->who.name);
  int rc = mctx_server_reload_models(s, why, &st);
  if (rc != 0 && !s->models) {
    mctx_svc_error(r, 400, "model_dir", "%s", st.reason);
    return;
  }
  if (rc != 0) {
    /* the repository's content is wrong, not the request: the current set stays */
    r->note = "reload_failed";
    mctx_svc_error_st(r, 409, &st);
    return;
  }
  mctx_h_models(s, r);
}
