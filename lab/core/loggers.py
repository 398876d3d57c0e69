"""Where metrics go: metrics.jsonl (always), the console, Weights & Biases, TensorBoard.

Every logger takes the same calls (``log(metrics, step)``, ``message(text)``, ``close()``).
A logger failing never stops training: W&B runs in its own thread, so a slow ``wandb.init``
(~7 s) or a dead network costs the training loop nothing, and its errors become one warning.
"""

from __future__ import annotations

import json
import logging
import math
import netrc
import os
import secrets
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
    """Logs to W&B from a background thread: init, metrics and finish never block training.

    The training thread only appends items to a deque; a W&B that raises is dropped after one
    warning, and one that hangs (no network) is left behind at the end once it has made no
    progress for STALL_S seconds."""

    STALL_S = 15.0
    POLL_S = 0.25

    def __init__(self, *, mode: str, project: str, entity: str | None, group: str | None,
                 tags: list[str], name: str, run_dir: Path, config: dict[str, Any], run_id: str) -> None:
        self.mode, self.run_id, self.run_dir = mode, run_id, run_dir
        # a deque the W&B thread drains a few times a second: appending wakes nobody, so the
        # training thread never waits for the GIL behind W&B's own Python work
        self.pending: deque = deque()
        self.failed = False
        self.where: str | None = None  # the run's URL (online) or the command that uploads it (offline)
        self.done = 0  # items the W&B thread has handled (init counts as one): progress, for close()
        kwargs = dict(project=project, entity=entity, group=group, tags=list(tags) or None, name=name,
                      dir=str(run_dir), config=config, id=run_id, resume="allow", mode=mode)
        self.thread = threading.Thread(target=self._work, args=(kwargs,), name="wandb", daemon=True)
        self.thread.start()

    def _work(self, kwargs: dict[str, Any]) -> None:
        run = None
        try:
            # W&B's Weave integration takes the lab's `agents` package for an LLM-agents library
            # and advertises itself on the console: it has nothing to trace here
            os.environ.setdefault("WANDB_DISABLE_WEAVE", "true")
            import wandb

            # silent: no banner, sparkline summary or advertisement on the console (issue 14);
            # Loggers.close says in one line where the run is
            run = wandb.init(**kwargs, settings=wandb.Settings(silent=True, console="off"))
            run.define_metric("step")
            run.define_metric("*", step_metric="step")
            self.where = run.url if self.mode == "online" and run.url else f"wandb sync {run.dir.rsplit('/files', 1)[0]}"
        except Exception as exc:  # never stop training for W&B
            self._warn(f"W&B init failed, continuing without it: {exc}")
        self.done += 1
        while True:
            if not self.pending:
                time.sleep(self.POLL_S)
                continue
            item = self.pending.popleft()
            self.done += 1
            if item is None:
                break
            if run is None or self.failed:
                continue
            try:
                kind, payload = item
                if kind == "log":
                    run.log(payload)
                elif kind == "summary":
                    run.summary.update(payload)
                elif kind == "video":
                    import wandb

                    key, path, step = payload
                    run.log({"step": step, key: wandb.Video(str(path), format="mp4")})
            except Exception as exc:
                self._warn(f"W&B logging failed, continuing without it: {exc}")
        if run is not None:
            try:
                run.finish()
            except Exception as exc:
                self._warn(f"W&B finish failed: {exc}")

    def _warn(self, text: str) -> None:
        if not self.failed:
            log.warning(text)
        self.failed = True

    def log(self, metrics: dict[str, Any], step: int) -> None:
        self.pending.append(("log", {"step": step, **metrics}))

    def summary(self, values: dict[str, Any]) -> None:
        self.pending.append(("summary", values))

    def video(self, path: Path, step: int, key: str = "eval/video") -> None:
        self.pending.append(("video", (key, Path(path), step)))

    def message(self, text: str) -> None:
        pass

    def close(self, timeout_s: float = 120.0) -> None:
        """Let W&B finish uploading while it makes progress; give up once it stalls (no network)."""
        self.pending.append(None)
        deadline, seen, last_progress = time.monotonic() + timeout_s, -1, time.monotonic()
        while self.thread.is_alive() and time.monotonic() < deadline:
            self.thread.join(0.1)
            if self.done != seen:
                seen, last_progress = self.done, time.monotonic()
            elif time.monotonic() - last_progress > self.STALL_S:
                break
        if self.thread.is_alive():  # a daemon thread: it does not keep the process alive
            log.warning("W&B made no progress for %.0f s (network down?); leaving it, its local files may be "
                        "incomplete (sync later with `wandb sync %s`)", self.STALL_S, self.run_dir)


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
