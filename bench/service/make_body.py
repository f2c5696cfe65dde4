#!/usr/bin/env python3
"""bench/service/make_body.py: prints a benchmark request body.

  small   batch 1, 16 actions, 32 simulations, mock model (model roots)
  large   batch 256, 64 actions, 64 simulations, synthetic model, with
          prior_logits and values given (as a client with its own network would)
"""
import json
import random
import sys

case = sys.argv[1] if len(sys.argv) > 1 else "small"
if case == "small":
    body = {"root_input": {"batch_size": 1, "num_actions": 16}, "model": "mock", "search_type": "gumbel_muzero",
            "search_params": {"num_simulations": 32}}
elif case == "large":
    rng = random.Random(7)
    B, A = 256, 64
    body = {
        "root_input": {"batch_size": B, "num_actions": A,
                       "prior_logits": [[round(rng.gauss(0, 1), 4) for _ in range(A)] for _ in range(B)],
                       "value": [round(rng.uniform(-1, 1), 4) for _ in range(B)]},
        "model": {"name": "synthetic"},
        "search_type": "gumbel_muzero",
        "search_params": {"num_simulations": 64, "max_num_considered_actions": 16},
    }
else:
    sys.exit("unknown case " + case)
json.dump(body, sys.stdout, separators=(",", ":"))
