#!/usr/bin/env python3
"""tests/long/export_roundtrip.py: a MuZero network from PyTorch and from
JAX/flax, exported with tools/export_mlp.py, served by mctx-c's `mlp` model,
gives the framework's own outputs; and build/mctx-mlp-weights writes the
weights of shared/bench/bench_mctx.py's make_mlp_recurrent_fn bit for bit.

Needs torch and/or flax (each part runs when its framework imports), which
the development machine cannot install (no PyPI): run it where they are, e.g.
on the GPU machine (docs/MODELS.md, "Exporting"). Not a ctest test.

    python3 tests/long/export_roundtrip.py BUILD_DIR [BENCH_MCTX_PY]

For each framework: a random network (state 6, actions 5, hidden 16, with
biases) is saved as the framework saves it, exported, put in a model
repository, and searched with `mctx search --model-dir` from a given root
state for 5 simulations of gumbel_muzero with 5 considered actions, so that
every action of the root is expanded once. The tree then holds, from the
network: the root's value and logits, each action's reward, and each child's value and logits. All must
equal the framework's forward pass within 1e-5 (float32 on both sides,
different summation orders).
"""
import json
import os
import subprocess
import sys
import tempfile

S, A, H = 6, 5, 16
ROOT = [0.3, -0.7, 0.1, 0.9, -0.2, 0.5]
TOL = 1e-5
failures = []


def check(name, got, want):
    got, want = list(map(float, got)), list(map(float, want))
    worst = max(abs(g - w) for g, w in zip(got, want)) if got else 0.0
    ok = len(got) == len(want) and worst <= TOL
    print("%-4s %-50s max |diff| %.2e" % ("ok" if ok else "FAIL", name, worst))
    if not ok:
        failures.append(name)
        print("     got  %s\n     want %s" % (got, want))


def search(build, repo, name):
    req = {"search_type": "gumbel_muzero", "model": {"name": name},
           "root_input": {"batch_size": 1, "num_actions": A, "embedding": [ROOT]},
           "search_params": {"num_simulations": A, "max_num_considered_actions": A, "seed": 0}}
    with tempfile.TemporaryDirectory() as tmp:
        rp, tp = os.path.join(tmp, "req.json"), os.path.join(tmp, "tree.json")
        json.dump(req, open(rp, "w"))
        p = subprocess.run([os.path.join(build, "mctx"), "search", "--engine", "cpu", "--model-dir", repo,
                            "--input", rp, "--tree", tp, "--tree-format", "arrays"], capture_output=True, text=True)
        if p.returncode != 0:
            raise RuntimeError("mctx search failed: %s %s" % (p.stdout[-800:], p.stderr[-800:]))
        return json.load(open(tp))


def compare_tree(label, tree, value_of, logits_of, step):
    """value_of(state), logits_of(state), step(state, action) -> (next, reward)"""
    idx = tree["children_index"][0][0]
    check(label + ": root value", [tree["raw_values"][0][0]], [value_of(ROOT)])
    # gumbel_muzero keeps the root's logits as given when no action is invalid
    # (mctx's _mask_invalid_actions subtracts the maximum only with a mask)
    check(label + ": root logits", tree["children_prior_logits"][0][0], logits_of(ROOT))
    for a in range(A):
        n = idx[a]
        if n < 0:
            failures.append("%s: action %d not expanded" % (label, a))
            continue
        nxt, reward = step(ROOT, a)
        check(label + ": reward of action %d" % a, [tree["children_rewards"][0][0][a]], [reward])
        check(label + ": value after action %d" % a, [tree["raw_values"][0][n]], [value_of(nxt)])
        check(label + ": logits after action %d" % a, tree["children_prior_logits"][0][n], logits_of(nxt))


def repo_with(repo, name, weights_src):
    d = os.path.join(repo, name)
    os.makedirs(d, exist_ok=True)
    os.replace(weights_src, os.path.join(d, "w.safetensors"))
    json.dump({"kind": "mlp", "weights": "w.safetensors", "num_actions": A}, open(os.path.join(d, "model.json"), "w"))


def export(src_flag, src, out, extra=()):
    tool = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools", "export_mlp.py")
    p = subprocess.run([sys.executable, tool, src_flag, src, "--out", out] + list(extra), capture_output=True,
                       text=True)
    print("  export_mlp.py: " + (p.stdout.strip() or p.stderr.strip())[:300])
    if p.returncode != 0:
        raise RuntimeError("export_mlp.py failed: %s" % p.stderr[-800:])


def torch_part(build, repo, tmp):
    import torch
    import torch.nn as nn
    torch.manual_seed(0)

    class MuZeroMLP(nn.Module):
        def __init__(self):
            super().__init__()
            self.d1, self.d2, self.dout = nn.Linear(S + A, H), nn.Linear(H, H), nn.Linear(H, S + 1)
            self.p1, self.p2, self.pout = nn.Linear(S, H), nn.Linear(H, H), nn.Linear(H, A + 1)

        def dynamics(self, state, one_hot):
            o = self.dout(torch.relu(self.d2(torch.relu(self.d1(torch.cat([state, one_hot], -1))))))
            return torch.tanh(o[..., :-1]), o[..., -1]

        def prediction(self, state):
            o = self.pout(torch.relu(self.p2(torch.relu(self.p1(state)))))
            return o[..., :-1], o[..., -1]

    net = MuZeroMLP()
    pt = os.path.join(tmp, "net.pt")
    torch.save(net.state_dict(), pt)
    out = os.path.join(tmp, "torch.safetensors")
    export("--torch", pt, out)
    repo_with(repo, "torchnet", out)
    tree = search(build, repo, "torchnet")
    with torch.no_grad():
        t = lambda x: torch.tensor(x, dtype=torch.float32)
        value_of = lambda s: float(net.prediction(t(s))[1])
        logits_of = lambda s: net.prediction(t(s))[0].tolist()

        def step(s, a):
            nxt, r = net.dynamics(t(s), torch.nn.functional.one_hot(torch.tensor(a), A).float())
            return nxt.tolist(), float(r)
        compare_tree("torch", tree, value_of, logits_of, step)


def flax_part(build, repo, tmp):
    import flax.linen as nn
    import flax.serialization
    import jax
    import jax.numpy as jnp

    class MuZeroMLP(nn.Module):
        def setup(self):
            self.d1, self.d2, self.dout = nn.Dense(H), nn.Dense(H), nn.Dense(S + 1)
            self.p1, self.p2, self.pout = nn.Dense(H), nn.Dense(H), nn.Dense(A + 1)

        def dynamics(self, state, one_hot):
            o = self.dout(nn.relu(self.d2(nn.relu(self.d1(jnp.concatenate([state, one_hot], -1))))))
            return jnp.tanh(o[..., :-1]), o[..., -1]

        def prediction(self, state):
            o = self.pout(nn.relu(self.p2(nn.relu(self.p1(state)))))
            return o[..., :-1], o[..., -1]

        def __call__(self, state, one_hot):
            return self.dynamics(state, one_hot), self.prediction(state)

    net = MuZeroMLP()
    params = net.init(jax.random.PRNGKey(1), jnp.zeros(S), jnp.zeros(A))["params"]
    mp = os.path.join(tmp, "params.msgpack")
    open(mp, "wb").write(flax.serialization.to_bytes(params))
    out = os.path.join(tmp, "flax.safetensors")
    export("--flax", mp, out)
    repo_with(repo, "flaxnet", out)
    tree = search(build, repo, "flaxnet")
    pred = lambda s: net.apply({"params": params}, jnp.asarray(s, jnp.float32), method=MuZeroMLP.prediction)
    value_of = lambda s: float(pred(s)[1])
    logits_of = lambda s: [float(x) for x in pred(s)[0]]

    def step(s, a):
        nxt, r = net.apply({"params": params}, jnp.asarray(s, jnp.float32), jax.nn.one_hot(a, A),
                           method=MuZeroMLP.dynamics)
        return [float(x) for x in nxt], float(r)
    compare_tree("flax", tree, value_of, logits_of, step)


def weights_tool_part(build, bench_mctx):
    """mctx-mlp-weights against bench_mctx.py's make_mlp_recurrent_fn."""
    import importlib.util

    import numpy as np
    from safetensors.numpy import load_file
    spec = importlib.util.spec_from_file_location("bench_mctx", bench_mctx)
    bm = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bm)
    import jax.numpy as jnp
    emb, hidden, actions = 32, 64, 16
    params, _, _ = bm.make_mlp_recurrent_fn(actions, emb, hidden, jnp.float32)
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "w.safetensors")
        tool = os.path.join(build, "tools", "mctx-mlp-weights")
        subprocess.run([tool, "--out", out, "--emb", str(emb), "--hidden", str(hidden), "--actions", str(actions),
                        "--seed", "0"], check=True, capture_output=True)
        ours = load_file(out)
    for name, w in params.items():
        a, b = np.asarray(w, dtype=np.float32), ours.get(name)
        same = b is not None and a.shape == b.shape and np.array_equal(a.view(np.uint32), b.view(np.uint32))
        print("%-4s mctx-mlp-weights %-4s equals make_mlp_recurrent_fn's bit for bit %s" %
              ("ok" if same else "FAIL", name, a.shape))
        if not same:
            failures.append("weights " + name)


def main():
    build = sys.argv[1] if len(sys.argv) > 1 else "build"
    bench_mctx = sys.argv[2] if len(sys.argv) > 2 else None
    ran = []
    with tempfile.TemporaryDirectory() as tmp:
        repo = os.path.join(tmp, "models")
        for name, part in (("torch", torch_part), ("flax", flax_part)):
            try:
                __import__(name)
            except ImportError:
                print("skip %s: not installed" % name)
                continue
            print("== %s" % name)
            part(build, repo, tmp)
            ran.append(name)
    if bench_mctx:
        try:
            import jax  # noqa: F401
            import safetensors  # noqa: F401
            print("== mctx-mlp-weights against JAX")
            weights_tool_part(build, bench_mctx)
            ran.append("weights")
        except ImportError as e:
            print("skip the weights check: %s" % e)
    print("ran: %s; %d failed" % (", ".join(ran) or "nothing", len(failures)))
    sys.exit(1 if failures or not ran else 0)


if __name__ == "__main__":
    main()
