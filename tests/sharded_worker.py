"""Subprocess body of tests/test_sharding.py: trains a few epochs on a mesh (or one device)
and saves losses, weights, validation predictions and the table's shard shapes to an .npz.

    python tests/sharded_worker.py OUT.npz [--mesh DxM] [--coordinator H:P --num-processes N
        --process-id I] [--dtype float64] [--optimizer dense|lazy]

XLA_FLAGS / JAX_ENABLE_X64 are set by the caller: the device count is fixed at jax import.
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

FEAT_DIM = 75   # the synthetic ids use 72: the extra rows make the table pad to equal shards


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("--mesh", default=None)
    p.add_argument("--coordinator", default=None)
    p.add_argument("--num-processes", type=int, default=None)
    p.add_argument("--process-id", type=int, default=None)
    p.add_argument("--dtype", default="float32")
    p.add_argument("--optimizer", default="dense")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--state-in", default=None, help="resume from this state file")
    p.add_argument("--state-out", default=None, help="save the state after training here")
    p.add_argument("--stream", action="store_true",
                   help="stream the training rows from the host (device-data budget 0); each "
                        "process saves the rows it read to OUT.rows<process>.npy")
    args = p.parse_args()
    import jax
    if args.coordinator:
        jax.distributed.initialize(coordinator_address=args.coordinator,
                                   num_processes=args.num_processes, process_id=args.process_id)
    from sklearn.metrics import roc_auc_score
    from dcnmix_jax.trainer import JaxTrainer
    from dcnmix.config import ModelConfig, TrainConfig
    from dcnmix.data import batch_order, load_splits
    from dcnmix_jax.sharding import make_mesh, parse_mesh
    train, valid, _ = load_splits("synthetic", synthetic_rows=3000, seed=0)
    cfg = ModelConfig(field_num=train.field_num, feat_dim=FEAT_DIM, emb_num=8, order_num=2,
                      r=4, hidden_nums=(32, 16), dropout=0.1)
    mesh = make_mesh(*parse_mesh(args.mesh)) if args.mesh else None
    tc = TrainConfig(lr=3e-3, weight_decay=1e-4, seed=0, embedding_optimizer=args.optimizer,
                     dtype=args.dtype)
    backend = JaxTrainer(cfg, tc, mesh=mesh, data_budget=0 if args.stream else None)
    if args.stream:
        backend.read_log = []
    losses, start = [], 0
    if args.state_in:
        with open(args.state_in, "rb") as fh:
            backend.restore_state(fh.read())
        start = 1                       # resumed after epoch 1
    for epoch in range(start, args.epochs):
        order = batch_order(len(train), 256, seed=0, epoch=epoch)   # 11 full batches + 1 partial
        for _, chunk_losses in backend.train_chunks(train, order, chunk=4):
            losses.append(np.asarray(chunk_losses, np.float64).ravel())
    if args.stream:
        np.save(f"{args.out}.rows{jax.process_index()}.npy",
                np.array([np.asarray(r) for r in backend.read_log[:1]]))
    if args.state_out:
        data = backend.state_bytes()
        if jax.process_index() == 0:
            with open(args.state_out, "wb") as fh:
                fh.write(data)
    probs = backend.predict(valid.ids)
    state = backend.state
    table = state.table if args.optimizer == "lazy" else state.params["embedding"]["embedding"]
    arrays = backend.arrays()
    if jax.process_index() == 0:
        np.savez(args.out, losses=np.concatenate(losses), probs=probs,
                 auc=roc_auc_score(valid.labels, probs), table_shape=np.array(table.shape),
                 shard_shapes=np.array([s.data.shape for s in table.addressable_shards]),
                 **{f"w:{k}": v for k, v in arrays.items()})


if __name__ == "__main__":
    main()
