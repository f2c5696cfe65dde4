#!/usr/bin/env python3
"""Runs DeepMind's mctx on the synthetic environments with noise on and writes
its trees, so that tests/cpu/test_mctx_noise.py can check that mctx-c draws
every random number where mctx draws it (Dirichlet noise, Gumbel noise, the
tie-break noise, the final categorical action) in both of JAX's PRNG modes.

mctx's own test trees (shared/reference) are made with the noise off; this
fills that gap. It needs JAX and mctx's source (google-deepmind/mctx) on
PYTHONPATH; nothing of mctx is copied here: the environments below are the
ones of shared/bench/SYNTHETIC_ENV.md, written again in JAX.

    PYTHONPATH=<mctx checkout> JAX_PLATFORMS=cpu python3 tools/mctx_reference.py > cases.json

Each case holds the request (docs/API.md) that asks mctx-c for the same
search, and mctx's outputs: action, action_weights and the search tree's
arrays (mctx's field names), per platform that ran ("cpu", and "gpu" when
JAX sees one).
"""
import json
import sys

import jax
import jax.numpy as jnp
import mctx

U32 = jnp.uint32


def mix32(x):
  x = x ^ (x >> 16)
  x = x * U32(0x85EBCA6B)
  x = x ^ (x >> 13)
  x = x * U32(0xC2B2AE35)
  x = x ^ (x >> 16)
  return x


def unit(x):
  return (x >> 8).astype(jnp.float32) * (2.0 / 16777216.0) - 1.0


def outputs(state, num_actions):
  a = jnp.arange(num_actions, dtype=jnp.uint32)
  logits = unit(mix32(state[:, None] ^ (a[None, :] * U32(0x9E3779B9)))) * 2.0
  value = unit(mix32(state ^ U32(0x68E31DA4)))
  reward = unit(mix32(state ^ U32(0xB5297A4D))) * 0.1
  return logits, value, reward


def root(batch, num_actions):
  state = mix32(jnp.arange(batch, dtype=jnp.uint32) + U32(1))
  logits, value, _ = outputs(state, num_actions)
  return mctx.RootFnOutput(prior_logits=logits, value=value, embedding=state)


def recurrent(num_actions):
  def fn(params, rng_key, action, state):
    del params, rng_key
    nxt = mix32(state * U32(0x01000193) ^ (action.astype(jnp.uint32) + U32(0x7F4A7C15)))
    logits, value, reward = outputs(nxt, num_actions)
    return mctx.RecurrentFnOutput(reward=reward, discount=jnp.full_like(value, 0.997),
                                  prior_logits=logits, value=value), nxt
  return fn


def stochastic_fns(num_actions, num_chance):
  def decision(params, rng_key, action, state):
    del params, rng_key
    after = mix32(state * U32(0x01000193) ^ (action.astype(jnp.uint32) + U32(0x7F4A7C15)))
    c = jnp.arange(num_chance, dtype=jnp.uint32)
    chance_logits = unit(mix32(after[:, None] ^ (c[None, :] * U32(0x9E3779B9) + U32(0x01234567)))) * 2.0
    value = unit(mix32(after ^ U32(0x68E31DA4)))
    return mctx.DecisionRecurrentFnOutput(chance_logits=chance_logits, afterstate_value=value), after

  def chance(params, rng_key, outcome, after):
    del params, rng_key
    nxt = mix32(after * U32(0x01000193) ^ (outcome.astype(jnp.uint32) + U32(0x3C6EF372)))
    logits, value, reward = outputs(nxt, num_actions)
    return mctx.ChanceRecurrentFnOutput(action_logits=logits, value=value, reward=reward,
                                        discount=jnp.full_like(value, 0.997)), nxt
  return decision, chance


def invalid_mask(batch, num_actions):
  """A fixed pattern: element b masks actions a with (a + b) % 5 == 0."""
  a = jnp.arange(num_actions)[None, :]
  b = jnp.arange(batch)[:, None]
  return ((a + b) % 5 == 0).astype(jnp.float32)


CASES = [
    # name, policy, B, A, S, extra search params, invalid, prng modes
    ("muzero_dirichlet", "muzero", 4, 16, 40, {}, False),
    ("muzero_dirichlet_invalid_temperature_depth", "muzero", 3, 12, 48,
     {"temperature": 0.5, "max_depth": 4, "dirichlet_alpha": 0.5}, True),
    ("gumbel_noise", "gumbel_muzero", 4, 16, 40, {"max_num_considered_actions": 8}, False),
    ("gumbel_noise_invalid", "gumbel_muzero", 3, 12, 33,
     {"max_num_considered_actions": 4, "gumbel_scale": 0.7}, True),
    ("stochastic_dirichlet", "stochastic_muzero", 3, 6, 30, {}, False),
]
NUM_CHANCE = 3


def run(policy, B, A, S, extra, invalid, seed):
  key = jax.random.PRNGKey(seed)
  inv = invalid_mask(B, A) if invalid else None
  kw = {}
  if "max_depth" in extra:
    kw["max_depth"] = extra["max_depth"]
  if policy == "muzero":
    for k in ("temperature", "dirichlet_alpha"):
      if k in extra:
        kw[k] = extra[k]
    out = mctx.muzero_policy((), key, root(B, A), recurrent(A), num_simulations=S, invalid_actions=inv, **kw)
  elif policy == "gumbel_muzero":
    for k in ("max_num_considered_actions", "gumbel_scale"):
      if k in extra:
        kw[k] = extra[k]
    out = mctx.gumbel_muzero_policy((), key, root(B, A), recurrent(A), num_simulations=S, invalid_actions=inv,
                                    **kw)
  else:
    d, c = stochastic_fns(A, NUM_CHANCE)
    out = mctx.stochastic_muzero_policy((), key, root(B, A), d, c, num_simulations=S, invalid_actions=inv, **kw)
  t = out.search_tree
  tree = {f: jnp.asarray(getattr(t, f)).tolist() for f in (
      "node_visits", "raw_values", "node_values", "parents", "action_from_parent", "children_index",
      "children_prior_logits", "children_visits", "children_rewards", "children_discounts", "children_values")}
  return {"action": jnp.asarray(out.action).tolist(), "action_weights": jnp.asarray(out.action_weights).tolist(),
          "tree": tree}


def main():
  platforms = ["cpu"] + (["gpu"] if any(d.platform == "gpu" for d in jax.devices()) else [])
  result = {"mctx": getattr(mctx, "__version__", "?"), "jax": jax.__version__, "cases": []}
  for partitionable in (True, False):
    jax.config.update("jax_threefry_partitionable", partitionable)
    prng = "jax" if partitionable else "jax_legacy"
    for i, (name, policy, B, A, S, extra, invalid) in enumerate(CASES):
      seed = 11 + i
      model = {"name": "synthetic"}
      if policy == "stochastic_muzero":
        model = {"name": "synthetic_stochastic", "params": {"num_chance_outcomes": NUM_CHANCE}}
      req = {"search_type": policy, "model": model, "root_input": {"batch_size": B, "num_actions": A},
             "search_params": dict({"num_simulations": S, "seed": seed, "prng": prng}, **extra)}
      if invalid:
        req["root_input"]["invalid_actions"] = invalid_mask(B, A).astype(jnp.int32).tolist()
      case = {"name": name + "_" + prng, "request": req, "mctx": {}}
      for p in platforms:
        with jax.default_device(jax.devices(p)[0]):
          case["mctx"][p] = run(policy, B, A, S, extra, invalid, seed)
      result["cases"].append(case)
      print(name, prng, "done", file=sys.stderr, flush=True)
  json.dump(result, sys.stdout, separators=(",", ":"))
  print()


if __name__ == "__main__":
  main()
