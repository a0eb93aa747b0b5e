#!/usr/bin/env python3
"""Peer benchmark: PyTorch Geometric's TGN trained on JODIE Wikipedia.

Measures training throughput (events/s over the training split, evaluation excluded) and the wall
time of each stage of a training step, then evaluates AP/AUC on val and test with memory carried
from train through val to test. The configuration mirrors disttgl's TGN (memory 100, 10 most
recent neighbours, one attention layer with 2 heads, batch 600, Adam lr 1e-4); bench/pyg/README.md
lists what is equivalent and what is not.

Built from PyG's components (TGNMemory, IdentityMessage, LastAggregator, LastNeighborLoader,
TransformerConv); the training step keeps the order of PyG's examples/tgn.py: embed, score, write
the batch into memory and the neighbour loader, then backward and step.

Exit codes: 0 success, 2 bad input (file, header or row, named as FILE:LINE), 1 anything else.
"""

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import average_precision_score, roc_auc_score
from torch import nn

import torch_geometric
from torch_geometric.nn import TransformerConv
from torch_geometric.nn.models.tgn import (IdentityMessage, LastAggregator, LastNeighborLoader,
                                           TGNMemory)

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DATA = REPO_ROOT.parent / "shared" / "datasets" / "wikipedia" / "wikipedia.csv"

# No edge features in our file. PyG's message store drops empty raw messages before concatenating
# them, so a 0-dim message breaks TGNMemory; a constant zero message of dim 1 is the smallest that
# works and carries no information.
MSG_DIM = 1

# Stages of one training step, in execution order (PyG's order).
STAGES = ("batch", "neighbor_sample", "memory_read", "embed_forward", "memory_update",
          "neighbor_insert", "backward", "optimizer")
# Coarse groups used in the printed summary.
STAGE_GROUPS = {
    "neighbour loader": ("neighbor_sample", "neighbor_insert"),
    "memory": ("memory_read", "memory_update"),
    "forward (attention+predictor+loss)": ("embed_forward",),
    "backward": ("backward",),
    "optimizer step": ("optimizer",),
    "batch slicing+negatives": ("batch",),
}


class InputError(Exception):
    """Bad input data; the message names FILE:LINE."""


def read_lines(path):
    try:
        with open(path, newline="") as f:
            lines = f.read().splitlines()  # strips the CRLF line ends too
    except OSError as e:
        raise InputError(f"{path}: cannot read: {e.strerror}") from e
    if not lines:
        raise InputError(f"{path}:1: empty file, expected a header")
    return lines


def load_events(path):
    """Reads an interaction file into int64 arrays (src, dst, t) sorted by time, and `bipartite`.

    JODIE CSV (`user_id,item_id,timestamp,...`: item ids from 0, offset here by the number of
    users; or PyG's re-indexed `u,i,ts,label`) is bipartite. TGN's preprocessed `ml_*.csv`
    (`,u,i,ts,label,idx`) and SNAP text (`src dst ts` per line, no header) are general graphs:
    their ids are renumbered 0..N-1 in order of value. Timestamps must be integral (PyG's
    TGNMemory keeps them as int64).
    """
    lines = read_lines(path)
    header = [h.strip() for h in lines[0].split(",")]
    if header[:3] == ["user_id", "item_id", "timestamp"]:
        fmt, first, cols = "jodie", 1, (0, 1, 2)
    elif header[:3] == ["u", "i", "ts"]:
        fmt, first, cols = "pyg", 1, (0, 1, 2)
    elif header[:4] == ["", "u", "i", "ts"]:
        fmt, first, cols = "ml", 1, (1, 2, 3)
    elif len(lines[0].split()) >= 3 and all(x.isdigit() for x in lines[0].split()[:3]):
        fmt, first, cols = "snap", 0, (0, 1, 2)
    else:
        raise InputError(f"{path}:1: header {lines[0]!r}: expected 'user_id,item_id,timestamp,...', "
                         "'u,i,ts,...', ',u,i,ts,...' (ml_*.csv) or SNAP 'src dst ts' rows")
    n = len(lines) - first
    src = np.empty(n, np.int64)
    dst = np.empty(n, np.int64)
    ts = np.empty(n, np.float64)
    for k, line in enumerate(lines[first:]):
        parts = line.split() if fmt == "snap" else line.split(",")
        try:
            src[k], dst[k], ts[k] = int(parts[cols[0]]), int(parts[cols[1]]), float(parts[cols[2]])
        except (ValueError, IndexError):
            raise InputError(f"{path}:{k + first + 1}: expected src, dst, ts in {line!r}") from None
        if src[k] < 0 or dst[k] < 0:
            raise InputError(f"{path}:{k + first + 1}: negative node id in {line!r}")
    if n == 0:
        raise InputError(f"{path}:{first + 1}: no interactions")
    if np.any(ts != np.floor(ts)):
        bad = int(np.argmax(ts != np.floor(ts)))
        raise InputError(f"{path}:{bad + first + 1}: timestamp {ts[bad]} is not integral")
    bipartite = fmt in ("jodie", "pyg")
    if fmt == "jodie":
        dst += src.max() + 1
    if bipartite and dst.min() <= src.max():
        raise InputError(f"{path}:{int(np.argmin(dst)) + 2}: item id {dst.min()} overlaps the user "
                         f"ids 0..{src.max()}: not a bipartite JODIE file")
    if not bipartite:
        _, inverse = np.unique(np.concatenate([src, dst]), return_inverse=True)
        src, dst = inverse[:n].astype(np.int64), inverse[n:].astype(np.int64)
    order = np.argsort(ts, kind="stable")  # do not assume the file is sorted
    return src[order], dst[order], ts[order].astype(np.int64), bipartite


class AttentionEmbedding(nn.Module):
    """One TransformerConv layer over the sampled neighbours, edge input [phi(dt) || msg]."""

    def __init__(self, dim, msg_dim, time_enc, heads, dropout):
        super().__init__()
        self.time_enc = time_enc  # shared with TGNMemory, as in PyG's example
        self.conv = TransformerConv(dim, dim // heads, heads=heads, dropout=dropout,
                                    edge_dim=msg_dim + time_enc.out_channels)

    def forward(self, x, last_update, edge_index, t, msg):
        # PyG's choice: neighbour's last memory update minus the edge time.
        dt = (last_update[edge_index[0]] - t).to(x.dtype)
        edge_attr = torch.cat([self.time_enc(dt), msg], dim=-1)
        return self.conv(x, edge_index, edge_attr)


class EdgeScorer(nn.Module):
    """score = w_o . ReLU(W_s z_src + W_d z_dst): a scalar logit per pair."""

    def __init__(self, dim):
        super().__init__()
        self.lin_src = nn.Linear(dim, dim)
        self.lin_dst = nn.Linear(dim, dim)
        self.lin_out = nn.Linear(dim, 1)

    def forward(self, z_src, z_dst):
        return self.lin_out(torch.relu(self.lin_src(z_src) + self.lin_dst(z_dst)))


class StageClock:
    """Accumulates wall time per stage between consecutive laps (CUDA-synchronised on GPU)."""

    def __init__(self, device):
        self.cuda = device.type == "cuda"
        self.totals = dict.fromkeys(STAGES, 0.0)
        self.last = 0.0

    def _now(self):
        if self.cuda:
            torch.cuda.synchronize()
        return time.perf_counter()

    def start(self):
        self.last = self._now()

    def lap(self, stage):
        now = self._now()
        self.totals[stage] += now - self.last
        self.last = now


class Tgn:
    """PyG TGN components plus the per-batch training and evaluation steps."""

    def __init__(self, args, num_nodes, dst_range, data, device):
        dim = args.memory_dim
        self.device = device
        self.dst_lo, self.dst_hi = dst_range
        self.t_all, self.msg_all = data
        self.memory = TGNMemory(num_nodes, MSG_DIM, dim, args.time_dim,
                                message_module=IdentityMessage(MSG_DIM, dim, args.time_dim),
                                aggregator_module=LastAggregator()).to(device)
        self.gnn = AttentionEmbedding(dim, MSG_DIM, self.memory.time_enc, args.heads,
                                      args.dropout).to(device)
        self.scorer = EdgeScorer(dim).to(device)
        self.neighbors = LastNeighborLoader(num_nodes, size=args.neighbors, device=device)
        params = set(self.memory.parameters()) | set(self.gnn.parameters()) | set(
            self.scorer.parameters())
        self.optimizer = torch.optim.Adam(params, lr=args.lr)
        self.loss_fn = nn.BCEWithLogitsLoss()
        self.assoc = torch.empty(num_nodes, dtype=torch.long, device=device)

    def num_parameters(self):
        return sum(p.numel() for g in self.optimizer.param_groups for p in g["params"])

    def set_train(self, mode):
        # TGNMemory.train(False) flushes the pending messages into memory.
        for m in (self.memory, self.gnn, self.scorer):
            m.train(mode)

    def reset_state(self):
        self.memory.reset_state()
        self.neighbors.reset_state()

    def train_step(self, src, dst, t, msg, clock):
        neg = torch.randint(self.dst_lo, self.dst_hi + 1, (src.numel(),), device=self.device)
        n_id = torch.cat([src, dst, neg]).unique()
        clock.lap("batch")
        n_id, edge_index, e_id = self.neighbors(n_id)
        self.assoc[n_id] = torch.arange(n_id.numel(), device=self.device)
        clock.lap("neighbor_sample")
        z, last_update = self.memory(n_id)
        clock.lap("memory_read")
        z = self.gnn(z, last_update, edge_index, self.t_all[e_id], self.msg_all[e_id])
        z_src = z[self.assoc[src]]
        pos = self.scorer(z_src, z[self.assoc[dst]])
        neg_out = self.scorer(z_src, z[self.assoc[neg]])
        loss = self.loss_fn(pos, torch.ones_like(pos)) + self.loss_fn(neg_out,
                                                                      torch.zeros_like(neg_out))
        clock.lap("embed_forward")
        self.memory.update_state(src, dst, t, msg)
        clock.lap("memory_update")
        self.neighbors.insert(src, dst)
        clock.lap("neighbor_insert")
        loss.backward()
        clock.lap("backward")
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.memory.detach()
        clock.lap("optimizer")
        return float(loss.detach())

    @torch.no_grad()
    def eval_step(self, src, dst, t, msg, gen):
        neg = torch.randint(self.dst_lo, self.dst_hi + 1, (src.numel(),), generator=gen)
        neg = neg.to(self.device)
        n_id = torch.cat([src, dst, neg]).unique()
        n_id, edge_index, e_id = self.neighbors(n_id)
        self.assoc[n_id] = torch.arange(n_id.numel(), device=self.device)
        z, last_update = self.memory(n_id)
        z = self.gnn(z, last_update, edge_index, self.t_all[e_id], self.msg_all[e_id])
        z_src = z[self.assoc[src]]
        pos = self.scorer(z_src, z[self.assoc[dst]]).sigmoid()
        neg_out = self.scorer(z_src, z[self.assoc[neg]]).sigmoid()
        self.memory.update_state(src, dst, t, msg)
        self.neighbors.insert(src, dst)
        return pos.view(-1).cpu(), neg_out.view(-1).cpu()


def batches(lo, hi, size, limit=None):
    starts = range(lo, hi, size)
    if limit is not None:
        starts = starts[:limit]
    return [(s, min(s + size, hi)) for s in starts]


def run_epoch(model, ev, split, args, device):
    """One pass over the training split; returns (events, seconds, stage totals, mean loss)."""
    src, dst, t, msg = ev
    model.set_train(True)
    clock = StageClock(device)
    clock.start()
    begin = clock.last
    model.reset_state()
    losses, events = [], 0
    for lo, hi in batches(split[0], split[1], args.batch_size, args.max_train_batches):
        losses.append(model.train_step(src[lo:hi], dst[lo:hi], t[lo:hi], msg[lo:hi], clock))
        events += hi - lo
    seconds = clock._now() - begin
    return events, seconds, clock.totals, float(np.mean(losses))


def evaluate(model, ev, split, args, gen):
    src, dst, t, msg = ev
    model.set_train(False)
    pos_all, neg_all, batch_ap = [], [], []
    for lo, hi in batches(split[0], split[1], args.batch_size):
        pos, neg = model.eval_step(src[lo:hi], dst[lo:hi], t[lo:hi], msg[lo:hi], gen)
        pos_all.append(pos)
        neg_all.append(neg)
        y = np.concatenate([np.ones(pos.numel()), np.zeros(neg.numel())])
        batch_ap.append(average_precision_score(y, torch.cat([pos, neg]).numpy()))
    pos, neg = torch.cat(pos_all).numpy(), torch.cat(neg_all).numpy()
    y = np.concatenate([np.ones(pos.size), np.zeros(neg.size)])
    s = np.concatenate([pos, neg])
    return {"ap": float(average_precision_score(y, s)), "auc": float(roc_auc_score(y, s)),
            "ap_batch_mean": float(np.mean(batch_ap)), "events": int(pos.size)}


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=DEFAULT_DATA,
                   help="JODIE CSV, TGN ml_*.csv or SNAP text file")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    p.add_argument("--batch-size", type=int, default=600)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-train-batches", type=int, default=None,
                   help="train on the first K batches of each epoch only (quick runs)")
    p.add_argument("--no-eval", action="store_true", help="skip val/test evaluation")
    p.add_argument("--eval-every-epoch", action="store_true",
                   help="also evaluate val and test after every epoch (accuracy diagnostics)")
    p.add_argument("--device", default="cpu", help="cpu or cuda[:N]")
    p.add_argument("--json", type=Path, default=None, help="write the results here")
    p.add_argument("--memory-dim", type=int, default=100)
    p.add_argument("--time-dim", type=int, default=100)
    p.add_argument("--neighbors", type=int, default=10)
    p.add_argument("--heads", type=int, default=2)
    p.add_argument("--dropout", type=float, default=0.1)
    p.add_argument("--lr", type=float, default=1e-4)
    args = p.parse_args(argv)
    for name in ("epochs", "threads", "batch_size", "memory_dim", "time_dim", "neighbors", "heads"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1")
    if args.max_train_batches is not None and args.max_train_batches < 1:
        p.error("--max-train-batches must be >= 1")
    if args.memory_dim % args.heads:
        p.error("--memory-dim must be a multiple of --heads")
    return args


def main(argv):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    device = torch.device(args.device)
    load_before = os.getloadavg()

    src_np, dst_np, t_np, bipartite = load_events(args.data)
    val_time, test_time = np.quantile(t_np, [0.70, 0.85])
    n_train = int(np.sum(t_np <= val_time))
    n_val = int(np.sum((t_np > val_time) & (t_np <= test_time)))
    n = t_np.size
    splits = {"train": (0, n_train), "val": (n_train, n_train + n_val), "test": (n_train + n_val, n)}
    num_nodes = int(max(src_np.max(), dst_np.max())) + 1
    # Negatives: uniform over the destination (item) id range, as PyG's example does; over all
    # nodes on a general graph (what disttgl's trainer does).
    dst_range = (int(dst_np.min()), int(dst_np.max())) if bipartite else (0, num_nodes - 1)

    src = torch.from_numpy(src_np).to(device)
    dst = torch.from_numpy(dst_np).to(device)
    t = torch.from_numpy(t_np).to(device)
    msg = torch.zeros(n, MSG_DIM, device=device)
    ev = (src, dst, t, msg)
    model = Tgn(args, num_nodes, dst_range, (t, msg), device)

    print(f"pyg_tgn: {args.data.name}: {n} events, {num_nodes} nodes, train/val/test = "
          f"{n_train}/{n_val}/{n - n_train - n_val}; torch {torch.__version__}, torch_geometric "
          f"{torch_geometric.__version__}, threads {torch.get_num_threads()}, device {device}, "
          f"{model.num_parameters()} parameters", flush=True)

    epochs = []
    for epoch in range(1, args.epochs + 1):
        events, seconds, stages, loss = run_epoch(model, ev, splits["train"], args, device)
        epochs.append({"epoch": epoch, "events": events, "seconds": seconds,
                       "events_per_second": events / seconds, "loss": loss,
                       "stage_seconds": stages})
        print(f"epoch {epoch}: {events} events in {seconds:.2f} s = {events / seconds:.0f} "
              f"events/s, loss {loss:.4f}", flush=True)
        # The last epoch is evaluated below (top-level val_*/test_* keys, not epoch_eval).
        if args.eval_every_epoch and not args.no_eval and epoch < args.epochs:
            # Same evaluation as after the last epoch; the next epoch resets the memory anyway.
            gen = torch.Generator().manual_seed(args.seed + 1)
            for name in ("val", "test"):
                m = evaluate(model, ev, splits[name], args, gen)
                epochs[-1][name] = m
                print(f"  {name}: AP {m['ap']:.4f} (per-batch mean {m['ap_batch_mean']:.4f}), "
                      f"AUC {m['auc']:.4f}", flush=True)

    total_events = sum(e["events"] for e in epochs)
    total_seconds = sum(e["seconds"] for e in epochs)
    stage_mean = {s: float(np.mean([e["stage_seconds"][s] for e in epochs])) for s in STAGES}
    epoch_mean = total_seconds / len(epochs)
    print(f"stage wall time per epoch (mean of {len(epochs)}):")
    for group, names in STAGE_GROUPS.items():
        secs = sum(stage_mean[s] for s in names)
        print(f"  {group:36s} {secs:8.2f} s  {100 * secs / epoch_mean:5.1f} %")
    unaccounted = epoch_mean - sum(stage_mean.values())
    print(f"  {'other (reset, loop)':36s} {unaccounted:8.2f} s  {100 * unaccounted / epoch_mean:5.1f} %")

    result = {
        "events_per_second": total_events / total_seconds,
        "epoch_seconds": [e["seconds"] for e in epochs],
        "epoch_events_per_second": [e["events_per_second"] for e in epochs],
        "epoch_loss": [e["loss"] for e in epochs],
        "epoch_eval": [{k: e[k] for k in ("val", "test") if k in e} for e in epochs],
        "train_events_per_epoch": epochs[0]["events"],
        "stage_seconds": stage_mean,
        "stage_seconds_per_epoch": [e["stage_seconds"] for e in epochs],
        "torch_version": torch.__version__,
        "pyg_version": torch_geometric.__version__,
        "config": {
            "data": str(args.data), "epochs": args.epochs, "threads": torch.get_num_threads(),
            "batch_size": args.batch_size, "seed": args.seed,
            "max_train_batches": args.max_train_batches, "device": str(device),
            "memory_dim": args.memory_dim, "time_dim": args.time_dim,
            "embedding_dim": args.memory_dim, "neighbors": args.neighbors, "heads": args.heads,
            "layers": 1, "dropout": args.dropout, "lr": args.lr, "msg_dim": MSG_DIM,
            "negatives": "uniform over %s ids [%d, %d], 1 per positive"
                         % (("destination" if bipartite else "node"), *dst_range),
            "split": {k: list(v) for k, v in splits.items()},
            "val_time": float(val_time), "test_time": float(test_time),
            "parameters": model.num_parameters(),
        },
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "python": platform.python_version(),
                    # Other processes on the machine skew the throughput; these show how busy it was.
                    "loadavg_1_5_15_before": list(load_before),
                    "loadavg_1_5_15_after_train": list(os.getloadavg())},
    }
    if not args.no_eval:
        gen = torch.Generator().manual_seed(args.seed + 1)
        begin = time.perf_counter()
        for name in ("val", "test"):
            m = evaluate(model, ev, splits[name], args, gen)
            for key, value in m.items():
                result[f"{name}_{key}"] = value
            print(f"{name}: AP {m['ap']:.4f} (per-batch mean {m['ap_batch_mean']:.4f}), "
                  f"AUC {m['auc']:.4f} over {m['events']} events", flush=True)
        result["eval_seconds"] = time.perf_counter() - begin
    print(f"train throughput: {result['events_per_second']:.0f} events/s "
          f"({total_events} events in {total_seconds:.2f} s); load average before "
          f"{load_before[0]:.2f}, after training {result['machine']['loadavg_1_5_15_after_train'][0]:.2f}")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except InputError as e:
        print(f"pyg_tgn: {e}", file=sys.stderr)
        sys.exit(2)
