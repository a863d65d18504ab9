"""Training from a sharded prepared folder (dcnmix.data.streaming): shard order, shuffle buffer,
its exactness against the one-file folder, several processes on their own shards, resume."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from dcnmix.config import TrainConfig
from dcnmix.data import DataError, fingerprint
from dcnmix.data.prepare import PrepareOptions, prepare
from dcnmix.data.prepared import open_prepared
from dcnmix.data.streaming import Block, ShardStream
from dcnmix.loop import epoch_batches, train

ROWS = 3000
MODEL = {"emb_num": 4, "order_num": 1, "r": 4, "hidden_nums": (16,)}


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """The same CSV prepared as a one-file folder, one shard, four shards, and four typed
    shards (a dense column)."""
    root = tmp_path_factory.mktemp("streaming")
    rng = np.random.default_rng(0)
    a, b, c = rng.integers(0, 30, ROWS), rng.integers(0, 12, ROWS), rng.integers(0, 5, ROWS)
    y = (rng.random(ROWS) < 0.2 + 0.6 * (a % 3 == 0)).astype(int)
    x = rng.normal(size=ROWS)
    csv = root / "d.csv"
    csv.write_text("y,a,b,c,x\n" + "".join(f"{r[0]},a{r[1]},b{r[2]},c{r[3]},{r[4]:.4f}\n"
                                           for r in zip(y, a, b, c, x)))
    out = {}
    for name, shards, dense in (("one", None, ()), ("s1", 1, ()), ("s4", 4, ()), ("typed", 4, ("x",))):
        opt = PrepareOptions(kind="csv", paths=(str(csv),), label="y", categorical=("a", "b", "c"),
                             dense=dense)
        prepare(opt, str(root / name), shards=shards)
        out[name] = str(root / name)
    return out


def _rows(block, batches) -> np.ndarray:
    """The ids of the batches' rows, in order."""
    ids = block.inputs["ids"] if isinstance(block.inputs, dict) else block.inputs
    return np.concatenate([np.asarray(ids)[b] for b in batches])


def test_a_sharded_folder_opens_with_train_streamed(folders):
    one = open_prepared(folders["one"])
    train, valid, test = open_prepared(folders["s4"])
    assert isinstance(train, ShardStream) and len(train) == len(one[0])
    assert (train.field_num, train.feat_dim, train.field_names) == \
        (one[0].field_num, one[0].feat_dim, one[0].field_names)
    for got, want in ((valid, one[1]), (test, one[2])):
        assert np.array_equal(got.ids, want.ids) and np.array_equal(got.labels, want.labels)
    typed = open_prepared(folders["typed"])[0]
    assert typed.typed_inputs() == {"dense_num": 1}
    assert type(open_prepared(folders["one"])[0]).__name__ == "Dataset"      # unchanged


@pytest.mark.parametrize("batch_size", [256, 301, 83])
def test_one_shard_and_a_whole_buffer_give_exactly_epoch_batches(folders, batch_size):
    """One shard, a buffer holding the split: one block, the shard's own memory maps, and the
    batches of dcnmix.loop.epoch_batches (83 leaves a final batch of one row: left out)."""
    one = open_prepared(folders["one"])[0]
    stream = open_prepared(folders["s1"])[0]
    tc = TrainConfig(batch_size=batch_size, shuffle_buffer=0)
    if batch_size == 83:
        assert len(one) % batch_size == 1
    for epoch in range(3):
        blocks = list(stream.blocks(batch_size, seed=tc.seed, epoch=epoch, buffer_rows=len(one)))
        want = epoch_batches(len(one), tc, epoch)
        assert len(blocks) == 1 and blocks[0][0] is stream.shard(0)
        assert len(blocks[0][1]) == len(want)
        assert all(np.array_equal(g, w) for g, w in zip(blocks[0][1], want))
        assert np.array_equal(blocks[0][0].ids, one.ids)


def test_the_buffer_trains_every_row_once_in_shard_order(folders):
    """Four shards, a 500-row buffer: every row once an epoch, shards in the epoch's order,
    full batches but the last, the order different each epoch; typed arrays stay row-aligned."""
    one = open_prepared(folders["one"])[0]
    for name in ("s4", "typed"):
        stream = open_prepared(folders[name])[0]
        stream.source.read_log = []
        seen = []
        for epoch in range(2):
            blocks = list(stream.blocks(128, seed=0, epoch=epoch, buffer_rows=500))
            assert all(isinstance(b, Block) for b, _ in blocks)
            sizes = [len(x) for _, batches in blocks for x in batches]
            assert set(sizes[:-1]) == {128} and sum(sizes) == len(one)
            rows = np.concatenate([_rows(b, x) for b, x in blocks])
            assert sorted(map(bytes, rows)) == sorted(map(bytes, one.ids))
            seen.append(rows)
            if name == "typed":           # (ids, dense) pairs as in the shards
                pair = lambda ids, dense: sorted(i.tobytes() + d.tobytes() for i, d in zip(ids, dense))
                want = pair(*(np.concatenate([getattr(stream.shard(k), a) for k in range(4)])
                              for a in ("ids", "dense")))
                got = pair(*(np.concatenate([b.inputs[a][x] for b, x in blocks for x in x])
                             for a in ("ids", "dense")))
                assert got == want
        assert not np.array_equal(seen[0], seen[1])
        # each shard read (and checked) once by this process, in the first epoch's order
        assert stream.source.read_log == stream.history[0]["shards"]
        assert sorted(stream.history[0]["shards"]) == [0, 1, 2, 3]


def test_processes_read_their_own_shards_and_run_the_same_batches(folders):
    stream = open_prepared(folders["s4"])[0]
    runs = [list(stream.blocks(128, seed=0, epoch=3, buffer_rows=500, process=p, processes=2))
            for p in range(2)]
    first, second = stream.history[-2:]
    assert not set(first["shards"]) & set(second["shards"])
    assert first["batches"] == second["batches"] == min(
        sum(stream.source.rows[k] for k in h["shards"]) // 64 for h in (first, second))
    for run, h in zip(runs, (first, second)):
        assert {len(x) for _, batches in run for x in batches} == {64}
        assert h["rows"] + h["left_out"] == sum(stream.source.rows[k] for k in h["shards"])
    with pytest.raises(ValueError, match="no batch"):
        list(stream.blocks(128, seed=0, epoch=0, process=0, processes=8))


def test_the_identity_is_the_manifest_and_a_bad_shard_is_named(folders, tmp_path):
    import shutil
    stream = open_prepared(folders["s4"])[0]
    stream.source.read_log = []
    assert fingerprint([stream]) == fingerprint([open_prepared(folders["s4"])[0]])
    assert stream.source.read_log == []                      # no shard read for the identity
    bad = tmp_path / "bad"
    shutil.copytree(folders["s4"], bad)
    path = bad / "train-00002.ids.npy"
    data = bytearray(path.read_bytes())
    data[-1] ^= 1
    path.write_bytes(bytes(data))
    stream = open_prepared(bad)[0]                          # sizes match: opens
    with pytest.raises(DataError, match="train-00002.ids.npy.*sha256"):
        list(stream.blocks(128, seed=0, epoch=0, buffer_rows=500))


def _run(folder, out, framework, epochs, **kw):
    tc = TrainConfig(epochs=epochs, batch_size=256, patience=10, shuffle_buffer=kw.pop("buffer", 0))
    return train(MODEL, f"prepared:{folder}", out=out, framework=framework, train_config=tc,
                 progress=False, log=lambda *_: None, compilation_cache="off", **kw)


def _weights(folder):
    from safetensors.numpy import load_file
    return load_file(os.path.join(folder, "best.safetensors"))


def _losses(folder):
    return [json.loads(x)["train_loss"] for x in open(os.path.join(folder, "metrics.jsonl"))]


@pytest.mark.parametrize("framework", ["jax", "torch"])
def test_one_shard_trains_exactly_as_the_one_file_folder(folders, tmp_path, framework):
    runs = {name: _run(folders[name], str(tmp_path / name), framework, 2) for name in ("one", "s1")}
    assert _losses(runs["one"].folder) == _losses(runs["s1"].folder)
    a, b = _weights(runs["one"].folder), _weights(runs["s1"].folder)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert runs["one"].summary["test_auc"] == runs["s1"].summary["test_auc"]


def test_resume_on_a_sharded_folder_continues_as_one_run(folders, tmp_path):
    full = _run(folders["s4"], str(tmp_path / "full"), "jax", 2, buffer=700)
    _run(folders["s4"], str(tmp_path / "cut"), "jax", 1, buffer=700)
    cut = _run(folders["s4"], str(tmp_path / "cut"), "jax", 2, buffer=700, resume=True)
    assert _losses(full.folder) == _losses(cut.folder)
    a, b = _weights(full.folder), _weights(cut.folder)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    from dcnmix.run import RunError
    with pytest.raises(RunError, match="shuffle_buffer: 700 then, 900 now"):    # another run
        _run(folders["s4"], str(tmp_path / "cut"), "jax", 3, buffer=900, resume=True)


def test_two_processes_train_on_their_own_shards(folders, tmp_path):
    """jax.distributed over localhost, one CPU device per process, a 4-shard folder: each
    process reads only the shards of its epochs ([p::2] of the shuffled list), the two sets
    disjoint each epoch, both run the same number of batches and compute the same losses."""
    from test_sharding import _env, _free_port
    coordinator = f"127.0.0.1:{_free_port()}"
    worker = os.path.join(os.path.dirname(__file__), "stream_worker.py")
    outs = [str(tmp_path / f"p{i}.npz") for i in range(2)]
    procs = [subprocess.Popen([sys.executable, worker, folders["s4"], outs[i], "--coordinator",
                               coordinator, "--num-processes", "2", "--process-id", str(i)],
                              env=_env(1, False), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
             for i in range(2)]
    logs = [p.communicate(timeout=600)[0].decode(errors="replace") for p in procs]
    assert all(p.returncode == 0 for p in procs), "\n".join(x[-3000:] for x in logs)
    got = [dict(np.load(o)) for o in outs]
    for epoch in range(2):
        mine = [set(g["shards"][epoch].tolist()) for g in got]
        assert mine[0] and mine[1] and not mine[0] & mine[1]
    for g in got:                           # each of its shards read once, no other
        assert sorted(g["read"].tolist()) == sorted(set(g["shards"].ravel().tolist()))
    assert np.array_equal(got[0]["batches"], got[1]["batches"]) and got[0]["batches"].min() > 0
    assert np.array_equal(got[0]["losses"], got[1]["losses"])
