"""W&B: an offline run's files hold the config and the metric history; resume keeps the run id."""

from __future__ import annotations

import json
import struct
from pathlib import Path

from conftest import cli

from lab.core import checkpoint as ckpt


def read_wandb_records(path: Path) -> list:
    """Parse a .wandb file (a LevelDB-style log of protobuf Records; wandb 0.31 ships no reader)."""
    from wandb.proto import wandb_internal_pb2 as pb

    data = path.read_bytes()
    assert data[:4] == b":W&B", "not a W&B transaction log"
    block, pos, pending, records = 32768, 7, b"", []
    while pos + 7 <= len(data):
        space = block - pos % block
        if space < 7:  # block trailer padding
            pos += space
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos:pos + 7])
        chunk = data[pos + 7:pos + 7 + length]
        pos += 7 + length
        if kind == 0:  # zero padding
            pos += block - pos % block if pos % block else 0
            continue
        if kind == 1:
            payload = chunk
        elif kind == 2:
            pending = chunk
            continue
        elif kind == 3:
            pending += chunk
            continue
        else:
            payload = pending + chunk
        record = pb.Record()
        record.ParseFromString(payload)
        records.append(record)
    return records


def test_offline_run_files_hold_config_and_history(tmp_path: Path) -> None:
    run = tmp_path / "run"
    proc = cli(["trainer.total_steps=2048", "trainer.eval_every=1024", "env.eval_episodes=2",
                "trainer.log_every=0", "wandb.mode=offline", "wandb.project=lab-test", f"hydra.run.dir={run}"])
    assert proc.returncode == 0, proc.stderr
    (log,) = run.glob("wandb/offline-run-*/run-*.wandb")
    records = read_wandb_records(log)
    config = {}
    history = []
    for r in records:
        kind = r.WhichOneof("record_type")
        if kind in ("run", "config"):  # the initial config rides on the run record
            update = r.run.config.update if kind == "run" else r.config.update
            config.update({item.key: json.loads(item.value_json) for item in update})
        elif kind == "history":
            history.append({(item.key or "/".join(item.nested_key)): json.loads(item.value_json)
                            for item in r.history.item})
    kinds = [r.WhichOneof("record_type") for r in records]
    assert "agent" in config, f"no config in the W&B log; records: {kinds}; stderr: {proc.stderr[-1500:]}"
    assert config["agent"]["name"] == "ppo" and config["env"]["id"] == "CartPole-v1"
    assert config["trainer"]["total_steps"] == 2048 and "torch" in config["system"]
    metrics_lines = [json.loads(l) for l in (run / "metrics.jsonl").read_text().splitlines()]
    assert [h["step"] for h in history] == [m["step"] for m in metrics_lines]
    evals = [h["eval/return_mean"] for h in history if "eval/return_mean" in h]
    assert evals == [m["eval/return_mean"] for m in metrics_lines if "eval/return_mean" in m]
    # the run id is kept in the checkpoint, so a resumed run continues the same W&B run
    run_id = log.stem.removeprefix("run-")
    assert ckpt.load(run / "checkpoints" / "last.pt")["wandb_id"] == run_id
