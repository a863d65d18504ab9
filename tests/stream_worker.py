"""Subprocess body of tests/test_streaming.py: one process of a multi-process run (jax.distributed,
one CPU device each, mesh PROCESSESx1) training on a sharded prepared folder with dcnmix.loop.fit;
saves the shards it read, its epochs' shards and batches and the run's losses to OUT.npz.

    python tests/stream_worker.py FOLDER OUT --coordinator H:P --num-processes N --process-id I
"""
import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("folder")
    p.add_argument("out")
    p.add_argument("--coordinator", required=True)
    p.add_argument("--num-processes", type=int, required=True)
    p.add_argument("--process-id", type=int, required=True)
    args = p.parse_args()
    import jax
    jax.distributed.initialize(coordinator_address=args.coordinator,
                               num_processes=args.num_processes, process_id=args.process_id)
    from dcnmix.config import ModelConfig, TrainConfig
    from dcnmix.data.prepared import open_prepared
    from dcnmix.loop import fit
    from dcnmix_jax.sharding import make_mesh
    splits = open_prepared(args.folder)
    train = splits[0]
    train.source.read_log = []
    cfg = ModelConfig(field_num=train.field_num, feat_dim=train.feat_dim, emb_num=4, order_num=1,
                      r=4, hidden_nums=(16,))
    tc = TrainConfig(epochs=2, batch_size=128, shuffle_buffer=500)
    run = f"{args.out}.run"
    fit(cfg, tc, splits, run, framework="jax", mesh=make_mesh(jax.device_count(), 1),
        progress=False, log=lambda *_: None)
    losses = [json.loads(line)["train_loss"] for line in open(os.path.join(run, "metrics.jsonl"))]
    np.savez(args.out, read=np.array(train.source.read_log),
             shards=np.array([h["shards"] for h in train.history]),
             batches=np.array([h["batches"] for h in train.history]),
             rows=np.array([h["rows"] for h in train.history]),
             left_out=np.array([h["left_out"] for h in train.history]), losses=np.array(losses))


if __name__ == "__main__":
    main()
