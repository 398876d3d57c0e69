"""Where metrics go: metrics.jsonl (always), the console, Weights & Biases, TensorBoard.

Every logger takes the same calls (``log(metrics, step)``, ``message(text)``, ``close()``).
A logger failing never stops training: W&B runs in its own process, so a slow ``wandb.init``
or a dead network costs the training loop nothing, and its errors become one warning.
"""

from __future__ import annotations

import json
import logging
import math
import netrc
import os
import pickle
import secrets
import subprocess
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

log = logging.getLogger("lab")
messages = logging.getLogger("lab.messages")  # what the console shows, also kept in <run>/train.log
messages.propagate = False


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def _step(line: str) -> float:
    """The step of a metrics.jsonl line; a blank or cut-off line (a kill mid-write) counts as never."""
    try:
        return json.loads(line).get("step", 0)
    except ValueError:
        return math.inf


class JsonlLogger:
    """One JSON object per log tick in <run>/metrics.jsonl."""

    def __init__(self, path: Path, resume_step: int | None = None) -> None:
        self.path = path
        if resume_step is not None and path.exists():
            # A resumed run replays the steps after its checkpoint: drop their old lines so the
            # file reads as one uninterrupted run.
            kept = [line for line in path.read_text().splitlines() if _step(line) <= resume_step]
            tmp = path.with_suffix(".jsonl.tmp")  # atomically: a kill now must not lose the history
            tmp.write_text("".join(line + "\n" for line in kept))
            tmp.replace(path)
        self.file = open(path, "a", buffering=1)

    def log(self, metrics: dict[str, Any], step: int) -> None:
        self.file.write(json.dumps({"step": step, **{k: _jsonable(v) for k, v in metrics.items()}}) + "\n")

    def message(self, text: str) -> None:
        pass

    def close(self) -> None:
        self.file.close()


class ConsoleLogger:
    """A live progress line (steps, rate, last return, ETA) on a terminal; plain lines otherwise."""

    def __init__(self, total: int, unit: str, start: int = 0, every_s: float = 10.0) -> None:
        from rich.console import Console

        self.console = Console(stderr=True)
        self.total, self.unit = total, unit
        self.interactive = self.console.is_terminal
        self.every_s, self.last_print = every_s, 0.0
        self.last: dict[str, Any] = {}
        self.progress = None
        if self.interactive:
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                                       TimeElapsedColumn, TimeRemainingColumn)

            self.progress = Progress(
                TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                TextColumn("{task.fields[rate]}"), TextColumn("{task.fields[info]}"),
                TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                console=self.console, refresh_per_second=4, transient=False)
            self.task = self.progress.add_task("train", total=total, completed=start, rate="", info="")
            self.progress.start()

    def tick(self, step: int, rate: float, info: str) -> None:
        if self.progress is not None:
            self.progress.update(self.task, completed=min(step, self.total),
                                 rate=f"{rate:,.0f} {self.unit}/s", info=info)
        elif time.monotonic() - self.last_print > self.every_s:
            self.last_print = time.monotonic()
            self.console.print(f"step {step:,}/{self.total:,} {rate:,.0f} {self.unit}/s {info}",
                               highlight=False)

    def log(self, metrics: dict[str, Any], step: int) -> None:
        pass

    def message(self, text: str) -> None:
        self.console.print(text, highlight=False)

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()


def wandb_mode(mode: str | None) -> str:
    """online when W&B credentials are configured, else offline (unless set explicitly)."""
    if mode:
        return mode
    if os.environ.get("WANDB_MODE") in ("online", "offline", "disabled"):
        return os.environ["WANDB_MODE"]
    if os.environ.get("WANDB_API_KEY"):
        return "online"
    try:
        host = os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai").split("://")[-1]
        if netrc.netrc().authenticators(host):
            return "online"
    except (OSError, netrc.NetrcParseError):
        pass
    return "offline"


def new_wandb_id() -> str:
    # From `secrets`, not `random`: drawing from the seeded RNG would change the run itself.
    return secrets.token_hex(4)


class WandbLogger:
    """Logs to W&B from a child process (lab/core/wandb_worker.py): init, metrics and finish
    never block training, nor share its core or its GIL (importing wandb and starting a run cost
    ~0.7 s of CPU, more than a small run trains).

    The training thread only appends items to a deque; a sender thread drains it a few times a
    second into the worker's stdin (appending wakes nobody, so training never waits behind W&B),
    and a reader thread takes the worker's answers. A W&B that raises is dropped after one
    warning, and one that hangs (no network) is stopped at the end once it has made no progress
    for STALL_S seconds."""

    STALL_S = 15.0
    POLL_S = 0.25

    def __init__(self, *, mode: str, project: str, entity: str | None, group: str | None,
                 tags: list[str], name: str, run_dir: Path, config: dict[str, Any], run_id: str,
                 worker: subprocess.Popen | None = None) -> None:
        self.mode, self.run_id, self.run_dir = mode, run_id, run_dir
        self.pending: deque = deque()
        self.failed = False
        self.where: str | None = None  # the run's URL (online) or the command that uploads it (offline)
        self.done = 0  # items the worker has handled (init counts as one): progress, for close()
        if worker is None:
            from lab.core import wandb_worker

            worker = wandb_worker.take()
        self.proc = worker
        self.pending.append(dict(project=project, entity=entity, group=group, tags=list(tags) or None, name=name,
                                 dir=str(run_dir), config=config, id=run_id, resume="allow", mode=mode))
        self.wake = threading.Event()  # set by close(): the last items go at once
        self.sender = threading.Thread(target=self._send, name="wandb-send", daemon=True)
        self.reader = threading.Thread(target=self._read, name="wandb-read", daemon=True)
        self.sender.start()
        self.reader.start()

    def _send(self) -> None:
        stdin = self.proc.stdin
        try:
            while True:
                if not self.pending:
                    self.wake.wait(self.POLL_S)
                    continue
                item = self.pending.popleft()
                pickle.dump(item, stdin, protocol=pickle.HIGHEST_PROTOCOL)
                stdin.flush()
                if item is None:
                    break
        except (OSError, ValueError):  # the worker died or was stopped: nothing more to send
            pass
        finally:
            try:
                stdin.close()
            except OSError:
                pass

    def _read(self) -> None:
        for raw in self.proc.stdout:
            line = raw.decode(errors="replace").rstrip("\n")
            kind, _, text = line.partition(" ")
            if kind == "done":
                self.done += 1
            elif kind == "where":
                self.where = text
            elif kind == "warn":
                self._warn(text)

    def _warn(self, text: str) -> None:
        if not self.failed:
            log.warning(text)
        self.failed = True

    def log(self, metrics: dict[str, Any], step: int) -> None:
        self.pending.append(("log", {"step": step, **metrics}))

    def summary(self, values: dict[str, Any]) -> None:
        self.pending.append(("summary", values))

    def video(self, path: Path, step: int, key: str = "eval/video") -> None:
        self.pending.append(("video", (key, str(path), step)))

    def message(self, text: str) -> None:
        pass

    def close(self, timeout_s: float = 120.0) -> None:
        """Let W&B finish uploading while it makes progress; stop it once it stalls (no network)."""
        self.pending.append(None)
        self.wake.set()
        deadline, seen, last_progress = time.monotonic() + timeout_s, -1, time.monotonic()
        while self.proc.poll() is None and time.monotonic() < deadline:
            try:
                self.proc.wait(0.05)
            except subprocess.TimeoutExpired:
                pass
            if self.done != seen:
                seen, last_progress = self.done, time.monotonic()
            elif time.monotonic() - last_progress > self.STALL_S:
                break
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
            self.failed = False  # this warning is always said
            self._warn(f"W&B made no progress for {self.STALL_S:.0f} s (network down?); stopped it, its local "
                       f"files may be incomplete (sync later with `wandb sync {self.run_dir}`)")
        self.reader.join(1.0)  # the last answers (where the run is)


class TensorBoardLogger:
    def __init__(self, log_dir: Path) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as exc:
            from lab.core.errors import LabError

            raise LabError("logger=tensorboard needs the tensorboard package: pip install tensorboard") from exc
        self.writer = SummaryWriter(log_dir=str(log_dir))

    def log(self, metrics: dict[str, Any], step: int) -> None:
        for key, value in metrics.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                self.writer.add_scalar(key, value, step)

    def message(self, text: str) -> None:
        pass

    def close(self) -> None:
        self.writer.close()


class Loggers:
    """Fans every call out to the configured loggers."""

    def __init__(self, loggers: list[Any], console: ConsoleLogger | None = None) -> None:
        self.loggers = loggers
        self.console = console

    def tick(self, step: int, rate: float, info: str) -> None:
        if self.console is not None:
            self.console.tick(step, rate, info)

    def log(self, metrics: dict[str, Any], step: int) -> None:
        for logger in self.loggers:
            logger.log(metrics, step)

    def message(self, text: str) -> None:
        if self.console is not None:  # logger.console=false: quiet (still in train.log)
            self.console.message(text)
        messages.info(text)

    def summary(self, values: dict[str, Any]) -> None:
        for logger in self.loggers:
            if hasattr(logger, "summary"):
                logger.summary(values)

    def video(self, path: Path, step: int) -> None:
        """A video file (mp4) for loggers that show media (W&B)."""
        for logger in self.loggers:
            if hasattr(logger, "video"):
                logger.video(path, step)

    def close(self) -> None:
        for logger in self.loggers:
            try:
                logger.close()
            except Exception as exc:
                log.warning("closing %s failed: %s", type(logger).__name__, exc)
            where = getattr(logger, "where", None)
            if where:  # the one line about W&B
                self.message(f"W&B: {where}" if where.startswith("http") else f"W&B: offline; upload with `{where}`")
