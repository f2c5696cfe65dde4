#!/usr/bin/env python3
"""fuzz/make_corpus.py: writes the seed inputs of fuzz/corpus/<target>/.

    python3 fuzz/make_corpus.py BUILD      (BUILD: a build folder with mctx and mctx-mlp-weights)

The seeds are small, valid or nearly valid inputs from which the fuzzers
start: request bodies of every model, policy and option; safetensors files
of the `mlp` model and hand-made ones; stored tree documents (plain and
zstd); structured and raw HTTP requests for every route; storage filters.
Files are named seed-*; reproducers of bugs the fuzzers found are kept
beside them as crash-* (never overwritten here). Running it again rewrites
the seeds only.
"""
import json
import os
import re
import struct
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def out(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)


def js(obj):
    return json.dumps(obj, separators=(",", ":"))


# ---- request ----

def requests():
    base = {"root_input": {"batch_size": 2, "num_actions": 4}, "search_params": {"num_simulations": 8, "seed": 3}}
    seeds = {
        "first-search": open(os.path.join(ROOT, "examples", "first_search.json")).read(),
        "mock": js(dict(base, model="mock")),
        "muzero": js(dict(base, model="synthetic", search_type="muzero")),
        "gumbel": js(dict(base, model="synthetic", search_type="gumbel_muzero")),
        "stochastic": js(dict(base, model="synthetic_stochastic", search_type="stochastic_muzero")),
        "test-env": js(dict(base, model="mctx_test_env")),
        "bandit": js({"root_input": {"batch_size": 1, "num_actions": 3}, "model": {"name": "bandit", "params": {
            "qvalues": [[0.1, 0.5, -0.2]]}}, "search_params": {"num_simulations": 6}}),
        "tictactoe": js({"root_input": {"batch_size": 1, "num_actions": 9}, "model": {"name": "tictactoe", "params": {
            "position": "X.O/.X./..O", "rollouts": 2}}, "search_params": {"num_simulations": 8}}),
        "connect4": js({"root_input": {"batch_size": 1, "num_actions": 7}, "model": {"name": "connect4", "params": {
            "position": "4455", "rollouts": 1, "rollout": "tactical", "prior": "uniform"}},
            "search_params": {"num_simulations": 8}}),
        "mlp": js({"root_input": {"batch_size": 1, "num_actions": 4}, "model": {"name": "mlp", "params": {
            "emb": 4, "hidden": 8, "seed": 1}}, "search_params": {"num_simulations": 4}}),
        "logits": js({"root_input": {"prior_logits": [[0.0, 0.5, 1.0, -0.5]], "value": [0.2],
                                     "invalid_actions": [[0, 1, 0, 0]], "embedding": [[1.0, 2.0]]},
                      "model": "mock", "search_type": "gumbel_muzero",
                      "search_params": {"num_simulations": 16, "seed": 7, "max_depth": 3,
                                        "max_num_considered_actions": 2, "gumbel_scale": 0.5}}),
        "qtransform": js(dict(base, model="synthetic", search_type="muzero", search_params={
            "num_simulations": 8, "qtransform": {"name": "by_min_max", "min_value": -1, "max_value": 1},
            "dirichlet_fraction": 0.1, "dirichlet_alpha": 0.5, "pb_c_init": 1.5, "pb_c_base": 100,
            "temperature": 0.5, "prng": "jax_legacy"})),
        "tree-nested": js(dict(base, model="mock", return_tree="nested")),
        "tree-arrays": js(dict(base, model="synthetic", return_tree="arrays", store_tree=True)),
        "flags": js({"root_input": {"batch_size": 1, "num_actions": 16},
                     "search_params": {"num_simulations": 8, "use_t4_optimizations": True, "precision": "fp16",
                                       "tensor_core_aligned": True, "distributed": True, "num_devices": 2,
                                       "partition_batch": True},
                     "search_type": "gumbel_muzero", "device_type": "gpu"}),
    }
    for name, body in seeds.items():
        out("request", name + ".json", body)
    with open(os.path.join(ROOT, "tests", "api", "bad-requests.jsonl")) as f:
        for i, line in enumerate(f):
            case = json.loads(line)
            body = case["raw"] if "raw" in case else js(case["request"])
            out("request", "bad-%02d.json" % i, body)


# ---- safetensors ----

def st_file(tensors, meta=None, pad=True):
    header, data = {}, b""
    for name, (dtype, shape, raw) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    if meta is not None:
        header["__metadata__"] = meta
    h = js(header).encode()
    if pad:
        h += b" " * ((8 - len(h) % 8) % 8)
    return struct.pack("<Q", len(h)) + h + data


def safetensors(build):
    tool = os.path.join(build, "tools", "mctx-mlp-weights")
    if not os.path.exists(tool):
        tool = os.path.join(build, "mctx-mlp-weights")
    with tempfile.TemporaryDirectory() as d:
        for args, name in [(["--emb", "2", "--hidden", "3", "--actions", "2"], "mlp-f32"),
                           (["--emb", "2", "--hidden", "2", "--actions", "3", "--dtype", "f16", "--bias"], "mlp-f16-bias"),
                           (["--emb", "2", "--hidden", "2", "--actions", "2", "--dtype", "bf16", "--representation", "3"],
                            "mlp-bf16-repr")]:
            p = os.path.join(d, "w.safetensors")
            subprocess.run([tool, "--out", p] + args, check=True, stdout=subprocess.DEVNULL)
            with open(p, "rb") as f:
                out("safetensors", name + ".safetensors", f.read())
    f32 = struct.pack("<4f", 1.0, -2.0, 0.5, 3.0)
    out("safetensors", "small.safetensors", st_file({"a": ("F32", [2, 2], f32)}, {"format": "pt"}))
    out("safetensors", "dtypes.safetensors", st_file({
        "b": ("BOOL", [2], b"\x00\x01"), "u8": ("U8", [1], b"\x07"), "i16": ("I16", [1], b"\x01\x00"),
        "f16": ("F16", [2], b"\x00\x3c\x00\xc0"), "bf16": ("BF16", [1], b"\x80\x3f"),
        "f64": ("F64", [1], struct.pack("<d", 1e300)), "i64": ("I64", [], struct.pack("<q", -1)),
        "e": ("F32", [0, 3], b"")}))
    out("safetensors", "overlap.safetensors", struct.pack("<Q", 96) + js({
        "x": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
        "y": {"dtype": "F32", "shape": [1], "data_offsets": [2, 6]}}).ljust(96).encode() + b"\0" * 6)
    out("safetensors", "empty.safetensors", struct.pack("<Q", 2) + b"{}")


# ---- tree ----

def trees(build):
    mctx = os.path.join(build, "mctx")
    req = {"root_input": {"batch_size": 1, "num_actions": 3}, "model": "mock",
           "search_params": {"num_simulations": 4, "seed": 1}}
    with tempfile.TemporaryDirectory() as d:
        rp = os.path.join(d, "req.json")
        with open(rp, "w") as f:
            json.dump(req, f)
        parts = {}
        for fmt in ("nested", "arrays"):
            tp = os.path.join(d, fmt + ".json")
            subprocess.run([mctx, "search", "--input", rp, "--tree", tp, "--tree-format", fmt], check=True,
                           stdout=subprocess.DEVNULL)
            with open(tp) as f:
                parts[fmt] = f.read().strip()
        doc = ('{"format":"mctx-tree-v1","request_id":"seed-1","search_type":"gumbel_muzero","batch_size":1,'
               '"num_actions":3,"num_simulations":4,"nested":%s,"arrays":%s}' % (parts["nested"], parts["arrays"]))
        out("tree", "doc.bin", b"\x00" + doc.encode())
        out("tree", "doc-spaces.bin", b"\x00" + json.dumps(json.loads(doc), indent=1).encode())
        out("tree", "small.bin", b'\x00{"format": "mctx-tree-v1", "nested": [{"visit": 1}], "arrays": {"a": [1, 2]}}')
        dp = os.path.join(d, "doc.json")
        with open(dp, "w") as f:
            f.write(doc)
        z = subprocess.run(["zstd", "-q", "-3", "-c", dp], check=True, capture_output=True).stdout
        out("tree", "doc.zst", b"\x01" + z)


# ---- http ----

def route_patterns():
    text = open(os.path.join(ROOT, "src", "service", "routes.c")).read()
    return re.findall(r'\{MCTX_HTTP_(\w+), "([^"]+)"', text)


def http():
    routes = route_patterns()
    methods = ["GET", "POST", "HEAD", "DELETE", "PUT", "OPTIONS", "PATCH", "FUZZ"]
    small = js({"root_input": {"batch_size": 1, "num_actions": 4}, "model": "mock",
                "search_params": {"num_simulations": 4}})
    params = {"{task_id}": "00000000-0000-4000-8000-000000000000", "{request_id}": "seed-req-1",
              "{asset}": "app.js"}
    queries = {"/api/v1/searches": "limit=5&offset=0&search_type=muzero&user=alice",
               "/api/v1/stats/daily": "from=2026-11-01&to=2026-11-30&search_type=gumbel_muzero",
               "/api/v1/tasks": "state=done&limit=10",
               "/api/v1/searches/{request_id}/tree": "format=arrays"}
    for i, (method, pattern) in enumerate(routes):
        m = methods.index(method) if method in methods else 0
        param = next((v for k, v in params.items() if k in pattern), "")
        body = small if method == "POST" and "reload" not in pattern and "token" not in pattern else ""
        if "token" in pattern:
            body = js({"expires_in": 30})
        for auth in (0, 1, 2):
            # mode, method, route, auth, content type, flags; then path piece, query, header, request id, timeout; body
            flags = 2 | 4 if "search" in pattern and method == "POST" else 0
            data = bytes([0, m, i, auth, 0, flags]) + "\n".join(
                [param, queries.get(pattern, ""), "Accept: application/json", "seed-%d-%d" % (i, auth), "5000",
                 body]).encode()
            out("http", "route%02d-auth%d" % (i, auth), data)
    # a bad key from the input, a chunked body, OPTIONS (CORS preflight), an unknown path
    out("http", "input-key", bytes([0, 1, 0, 4, 0, 0]) + b"\n\nnot-a-key-at-all\n\n\n" + small.encode())
    out("http", "chunked", bytes([0, 1, 0, 1, 1, 32]) + b"\n\n\n\n\n" + small.encode())
    out("http", "preflight", bytes([0, 5, 0, 0, 2, 8]) + b"\n\n\n\n\n")
    out("http", "unknown-path", bytes([0, 0, len(routes), 0, 0, 0x80]) + b"api/v2/nothing\na=%zz&b\n\n\n\n")
    raw = [b"GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n",
           b"POST /api/v1/mcts/search HTTP/1.1\r\nHost: x\r\nX-API-Key: fuzz-admin-key-0001\r\n"
           b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(small), small.encode()),
           b"GET /api/v1/searches?limit=1 HTTP/1.0\r\n\r\n",
           b"GARBAGE\r\n\r\n",
           b"GET / HTTP/9.9\r\n\r\n",
           b"POST /api/v1/mcts/search HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"]
    for i, r in enumerate(raw):
        out("http", "raw%d" % i, b"\x07" + r)


# ---- store ----

def store():
    cases = [
        (0x03, 10, 8, ["alice", "muzero", "", "", "seed-01", "", ""]),
        (0x0F, 200, 8, ["bob", "gumbel_muzero", "2026-11-24", "2026-11-26", "seed-02", "", ""]),
        (0x01, 10, 8, ["alice' OR '1'='1", "", "", "", "", "", ""]),
        (0x02, 10, 8, ["", "muzero\"; DROP TABLE MCTX_SEARCH_HISTORY; --", "", "", "", "", ""]),
        (0x0C, 10, 8, ["", "", "2026-11-01' OR 1=1 --", "2026-11-30", "", "", ""]),
        (0xF3, 10, 8, ["eve", "muzero", "", "", "x'); DELETE FROM MCTX_SEARCH_HISTORY; --",
                       '{"use_t4_optimizations":true,"num_devices":2,"distributed":true}', '{"ok":true}']),
        (0xE0, 10, 8, ["", "", "", "", "seed-03", "", "tree bytes"]),
        (0x00, 0, 0, ["", "", "", "", "seed-04\u00e9", "", ""]),
    ]
    for i, (sel, lim, off, fields) in enumerate(cases):
        out("store", "case%d" % i, bytes([sel, lim, off]) + "\n".join(fields).encode())


if __name__ == "__main__":
    build = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build")
    requests()
    safetensors(build)
    trees(build)
    http()
    store()
    print("seeds written under", os.path.join(HERE, "corpus"))
