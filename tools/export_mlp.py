#!/usr/bin/env python3
"""Exports a MuZero-style MLP from PyTorch or JAX/flax to the safetensors
layout of mctx-c's `mlp` model (docs/MODELS.md).

The `mlp` model expects, per part, dense layers named
    representation (optional): r1 .. rK, rout     obs [O] -> state [S] (tanh)
    dynamics:                  d1 .. dK, dout     [state, one_hot(action)] -> [S + 1]
    prediction:                p1 .. pK, pout     state -> [A + 1] (logits, value)
with ReLU between layers. A layer is stored as "L" or "L.kernel" with shape
[in, out] (JAX), or "L.weight" with shape [out, in] (PyTorch), plus an
optional "L.bias" [out].

Sources:
  --torch FILE    a state dict saved with torch.save(model.state_dict(), FILE)
  --flax FILE     flax params saved with flax.serialization.to_bytes(params)
                  (msgpack), or --npz FILE: numpy.savez(FILE, **flat_params)
Name mapping (either):
  --part d=PREFIX --part p=PREFIX [--part r=PREFIX]
                  the dense layers under PREFIX, in the order of the number in
                  their names (PyTorch nn.Sequential "0", "2", ...; flax
                  "Dense_0", "Dense_1", ...), become d1, d2, ..., dout
  (nothing)       the source already uses the layout's names
Other flags: --out FILE (required), --dtype f32|f16|bf16 (default f32),
--self-test (writes and re-reads a tiny network with the standard library
only; the C test suite uses it to check this script against the C loader).

Needs torch (for --torch), flax + numpy (for --flax) or numpy (for --npz);
the writer itself needs nothing beyond the standard library. In the project's
development environment PyPI is not reachable, so only --self-test runs there.
"""
import argparse
import array
import json
import re
import struct
import sys

LAYOUT = re.compile(r"^[rdp](\d+|out)(\.kernel|\.weight|\.bias)?$")


# ==== A tensor: a shape and a flat list (or array) of floats ====

class Tensor:
    def __init__(self, shape, values):
        self.shape = list(shape)
        self.values = values  # flat, row-major

    @staticmethod
    def of(x):
        """From a torch tensor, a numpy/jax array, or a Tensor."""
        if isinstance(x, Tensor):
            return x
        if hasattr(x, "detach"):  # torch
            x = x.detach().float().cpu().numpy()
        import numpy as np  # flax, npz and torch all bring numpy
        a = np.asarray(x, dtype=np.float32)
        return Tensor(a.shape, a.reshape(-1).tolist())

    def transposed(self):
        rows, cols = self.shape
        v = self.values
        return Tensor([cols, rows], [v[r * cols + c] for c in range(cols) for r in range(rows)])


def f32_bits(x):
    return struct.unpack("<I", struct.pack("<f", x))[0]


def to_bf16(x):
    u = f32_bits(x)
    if (u & 0x7FFFFFFF) > 0x7F800000:
        return (u >> 16) | 0x40
    u = (u + 0x7FFF + ((u >> 16) & 1)) & 0xFFFFFFFF
    return u >> 16


def encode(values, dtype):
    if dtype == "F32":
        return array.array("f", values).tobytes() if sys.byteorder == "little" else struct.pack("<%df" % len(values), *values)
    if dtype == "F16":
        return struct.pack("<%de" % len(values), *values)
    return struct.pack("<%dH" % len(values), *[to_bf16(v) for v in values])


def write_safetensors(path, tensors, dtype="F32", metadata=None):
    """tensors: list of (name, Tensor). Writes the header padded to 8 bytes."""
    header = {}
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    blobs = []
    at = 0
    for name, t in tensors:
        data = encode(t.values, dtype)
        header[name] = {"dtype": dtype, "shape": t.shape, "data_offsets": [at, at + len(data)]}
        at += len(data)
        blobs.append(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path + ".tmp", "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)
    import os
    os.replace(path + ".tmp", path)


def read_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        b, end = e["data_offsets"]
        data = raw[8 + n + b:8 + n + end]
        if e["dtype"] == "F32":
            vals = list(struct.unpack("<%df" % (len(data) // 4), data))
        elif e["dtype"] == "F16":
            vals = list(struct.unpack("<%de" % (len(data) // 2), data))
        else:
            vals = [struct.unpack("<f", struct.pack("<I", h << 16))[0]
                    for h in struct.unpack("<%dH" % (len(data) // 2), data)]
        out[name] = Tensor(e["shape"], vals)
    return out


# ==== Sources ====

def flatten(tree, prefix=""):
    out = {}
    for k, v in tree.items():
        name = prefix + "." + str(k) if prefix else str(k)
        if isinstance(v, dict):
            out.update(flatten(v, name))
        else:
            out[name] = v
    return out


def strip_params(flat):
    """flax keeps its variables under "params": drop that first component."""
    if flat and all(k.startswith("params.") for k in flat):
        return {k[len("params."):]: v for k, v in flat.items()}
    return flat


def load_source(args):
    if args.torch:
        import torch
        sd = torch.load(args.torch, map_location="cpu")
        if hasattr(sd, "state_dict"):
            sd = sd.state_dict()
        return {k: v for k, v in sd.items() if hasattr(v, "dim") and v.dim() in (1, 2)}
    if args.flax:
        from flax import serialization
        with open(args.flax, "rb") as f:
            tree = serialization.msgpack_restore(f.read())
        return strip_params(flatten(tree))
    if args.npz:
        import numpy as np
        z = np.load(args.npz)
        return strip_params({k.replace("/", "."): z[k] for k in z.files})
    raise SystemExit("export_mlp: give --torch, --flax or --npz (or --self-test)")


def natural_index(component):
    m = re.search(r"(\d+)$", component)
    return int(m.group(1)) if m else -1


def map_part(src, letter, prefix):
    """The dense layers under prefix, in order, as letter1.., letterout."""
    layers = {}
    for name in src:
        if not name.startswith(prefix + "."):
            continue
        rest = name[len(prefix) + 1:]
        comp, _, leaf = rest.rpartition(".")
        if leaf not in ("weight", "kernel", "bias"):
            continue
        layers.setdefault(comp, {})[leaf] = name
    if not layers:
        raise SystemExit("export_mlp: no dense layer under '%s' (names look like %s)" % (prefix, sorted(src)[:5]))
    order = sorted(layers, key=lambda c: (natural_index(c), c))
    out = {}
    for i, comp in enumerate(order):
        target = letter + ("out" if i == len(order) - 1 else str(i + 1))
        for leaf, name in layers[comp].items():
            out[target + "." + leaf] = src[name]
    return out


def to_layout(src, parts):
    """Returns [(name, Tensor)] with JAX-layout kernels ("L", [in, out])."""
    named = {}
    if parts:
        for spec in parts:
            letter, _, prefix = spec.partition("=")
            if letter not in ("r", "d", "p") or not prefix:
                raise SystemExit("export_mlp: --part must be r=PREFIX, d=PREFIX or p=PREFIX, not '%s'" % spec)
            named.update(map_part(src, letter, prefix))
    else:
        named = dict(src)
    out = []
    for name in sorted(named):
        if not LAYOUT.match(name):
            raise SystemExit("export_mlp: '%s' is not a layer of the mlp layout (use --part)" % name)
        t = Tensor.of(named[name])
        base, _, leaf = name.partition(".")
        if leaf == "weight":
            t = t.transposed()
        out.append((base if leaf in ("", "weight", "kernel") else name, t))
    return out


def check(tensors):
    """The rules of the C loader (src/models/mlp.c), with readable errors."""
    t = dict(tensors)

    def chain(letter):
        names, k = [], 1
        while letter + str(k) in t:
            names.append(letter + str(k))
            k += 1
        if letter + "out" not in t:
            return None
        names.append(letter + "out")
        for a, b in zip(names, names[1:]):
            if t[a].shape[1] != t[b].shape[0]:
                raise SystemExit("export_mlp: %s has %d outputs but %s takes %d" % (a, t[a].shape[1], b, t[b].shape[0]))
        for n in names:
            if n + ".bias" in t and t[n + ".bias"].shape != [t[n].shape[1]]:
                raise SystemExit("export_mlp: %s.bias must have shape [%d]" % (n, t[n].shape[1]))
        return names

    p, d, r = chain("p"), chain("d"), chain("r")
    if not p or not d:
        raise SystemExit("export_mlp: the prediction (p1.., pout) and dynamics (d1.., dout) are required")
    S, A = t[p[0]].shape[0], t[p[-1]].shape[1] - 1
    if t[d[-1]].shape[1] != S + 1:
        raise SystemExit("export_mlp: dout has %d outputs, needs state + reward = %d" % (t[d[-1]].shape[1], S + 1))
    if t[d[0]].shape[0] != S + A:
        raise SystemExit("export_mlp: %s takes %d inputs, needs state + one-hot action = %d" % (d[0], t[d[0]].shape[0], S + A))
    if r and t[r[-1]].shape[1] != S:
        raise SystemExit("export_mlp: rout has %d outputs, the state has %d" % (t[r[-1]].shape[1], S))
    return S, A, (t[r[0]].shape[0] if r else 0)


def self_test(out, dtype):
    """A tiny network from plain lists: written, read back and compared."""
    tensors = {
        "p1.weight": Tensor([2, 2], [1.0, 0.5, -1.0, 2.0]),  # PyTorch [out, in]
        "p1.bias": Tensor([2], [0.0, 0.5]),
        "pout.kernel": Tensor([2, 3], [1.0, 0.0, 2.0, 0.0, 1.0, -1.0]),
        "pout.bias": Tensor([3], [0.1, 0.0, 0.0]),
        "d1": Tensor([4, 2], [1.0, 0.0, 0.0, 1.0, 0.5, -3.0, -1.0, 1.0]),
        "dout": Tensor([2, 3], [1.0, 0.0, 0.5, 0.0, -1.0, 1.0]),
        "dout.bias": Tensor([3], [0.0, 0.0, -0.25]),
    }
    tensors = to_layout(tensors, None)
    S, A, O = check(tensors)
    write_safetensors(out, tensors, dtype, {"format": "mctx-mlp", "writer": "export_mlp.py --self-test"})
    back = read_safetensors(out)
    for name, t in tensors:
        if back[name].shape != t.shape or any(abs(a - b) > 1e-2 for a, b in zip(back[name].values, t.values)):
            raise SystemExit("export_mlp: self-test: %s differs after a round trip" % name)
    print("self-test: wrote %s (S=%d, A=%d, %s)" % (out, S, A, dtype))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--torch")
    ap.add_argument("--flax")
    ap.add_argument("--npz")
    ap.add_argument("--part", action="append", default=[])
    ap.add_argument("--out", required=True)
    ap.add_argument("--dtype", default="f32", choices=["f32", "f16", "bf16"])
    ap.add_argument("--self-test", action="store_true")
    args = ap.parse_args()
    dtype = {"f32": "F32", "f16": "F16", "bf16": "BF16"}[args.dtype]
    if args.self_test:
        self_test(args.out, dtype)
        return
    tensors = to_layout(load_source(args), args.part)
    S, A, O = check(tensors)
    write_safetensors(args.out, tensors, dtype, {"format": "mctx-mlp", "emb": S, "num_actions": A,
                                                 "observation": O, "writer": "export_mlp.py"})
    print("wrote %s: state %d, actions %d%s, %d tensors, %s" %
          (args.out, S, A, ", observation %d" % O if O else "", len(tensors), dtype))


if __name__ == "__main__":
    main()
