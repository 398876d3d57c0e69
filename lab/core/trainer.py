"""The shared training loop, for every learner alike.

One explicit loop, readable top to bottom::

    while step < total_steps:
        batch, n = learner.collect(source)           # what one tick learns from, no grad
        for phase in learner.phases():               # one or several (each its own optimizer)
            for loss in learner.losses(phase, batch):
                optimizer step (autocast, GradScaler, clipping, NaN/inf guard)
        log, evaluate (the learner's Evaluation: best.pt, trainer.stop_at), checkpoint, maybe stop

The trainer owns device, mixed precision, compile, learning-rate schedules, checkpoints with
exact resume, graceful stop on SIGINT/SIGTERM (checkpoint first), a wall-clock limit, and the
result.json of the run. It knows no particular algorithm or environment.
Hooks (``on_start``, ``on_tick``, ``on_checkpoint``, ``on_end``) receive the trainer.
"""

from __future__ import annotations

import json
import math
import signal
import threading
import time
from pathlib import Path
from typing import Any, Callable

import torch

from lab.core import checkpoint as ckpt
from lab.core.config import TrainerConfig
from lab.core.errors import LabError
from lab.core.learner import Evaluation, Learner, Phase
from lab.core.loggers import Loggers
from lab.core.runtime import autocast, grad_scaler, rng_state, set_rng_state


class NonFiniteError(LabError):
    """A loss or gradient became NaN/inf; the run stops and keeps its last good checkpoint."""


class Trainer:
    def __init__(self, cfg: TrainerConfig, run_dir: Path, loggers: Loggers, device: torch.device,
                 *, extra_state: dict[str, Any] | None = None, data_parallel: Any = None) -> None:
        self.cfg, self.run_dir, self.loggers, self.device = cfg, Path(run_dir), loggers, device
        self.dp = data_parallel  # lab.core.distributed.DataParallel under torchrun, else None
        self.writes = self.dp is None or self.dp.is_main  # only rank 0 writes checkpoints and results
        self.extra_state = extra_state or {}  # saved in every checkpoint: W&B id, resolved config
        self.ckpt_dir = self.run_dir / "checkpoints"
        self.hooks: dict[str, list[Callable[[Trainer], None]]] = {
            "on_start": [], "on_tick": [], "on_checkpoint": [], "on_end": []}
        # counters: all saved in checkpoints, so a resumed run continues exactly
        self.step = 0
        self.tick = 0
        self.elapsed_s = 0.0  # training wall time, summed over resumes
        self.next_eval = cfg.eval_every or math.inf
        self.next_checkpoint = cfg.checkpoint_every or math.inf
        self.next_log = 0
        self.best_value: float | None = None  # the best evaluation score so far (best.pt)
        self.score: Evaluation | None = None  # the last evaluation
        self.last_eval: dict[str, float] = {}
        self.saved_step: int | None = None  # the step of the newest last.pt
        self.stop_reason: str | None = None
        self.signal: int | None = None  # the signal that stopped the run, for the exit status
        self.status = "running"
        self.step_unit = "steps"  # the learner's, once fit() starts

    # ------------------------------------------------------------------ public
    def add_hook(self, event: str, fn: Callable[[Trainer], None]) -> None:
        self.hooks[event].append(fn)

    def request_stop(self, reason: str) -> None:
        """Stop after the current tick, writing a checkpoint first (used by signals and hooks)."""
        self.stop_reason = self.stop_reason or reason

    def fit(self, learner: Learner, source: Any, resume: dict[str, Any] | None = None) -> dict[str, Any]:
        cfg = self.cfg
        self.source = source
        self.step_unit = learner.step_unit
        phases = learner.phases()
        self.scalers = {p.name: grad_scaler(self.device, cfg.precision) for p in phases}
        self._autocast = lambda: autocast(self.device, cfg.precision)
        if cfg.compile:
            for module in learner.modules().values():
                module.compile()  # in place: state_dict keys stay the same
        if resume is not None:
            self._restore(resume, learner, source, phases)
        if self.writes and ckpt.remove_stale_temps(self.ckpt_dir):
            self.loggers.message(f"removed the partial checkpoint write(s) a kill left in {self.ckpt_dir}")
        restore_signals = self._install_signal_handlers()
        start = time.perf_counter() - self.elapsed_s
        timers = {"collect": 0.0, "update": 0.0, "eval": 0.0}
        last_log = (time.perf_counter(), self.step)
        result: dict[str, Any] = {}
        try:
            self._call("on_start")
            while self.step < cfg.total_steps and self.stop_reason is None:
                t0 = time.perf_counter()
                with torch.no_grad(), self._autocast():
                    batch, n = learner.collect(source)
                t1 = time.perf_counter()
                self.step += n
                self.tick += 1
                for phase in phases:
                    if self.tick % phase.every == 0:
                        self._run_phase(learner, phase, batch)
                if self.dp is not None:
                    self.dp.average_buffers(learner.modules().values())
                t2 = time.perf_counter()
                timers["collect"] += t1 - t0
                timers["update"] += t2 - t1
                self.elapsed_s = t2 - start

                metrics: dict[str, Any] = {}
                if self.step >= self.next_eval or self.step >= cfg.total_steps:  # the last tick evaluates too
                    metrics.update(self._evaluate(learner, source, timers))
                    if cfg.eval_every:
                        self.next_eval = (self.step // cfg.eval_every + 1) * cfg.eval_every
                if metrics or self.step >= self.next_log:
                    now = time.perf_counter()
                    rate = (self.step - last_log[1]) / max(now - last_log[0], 1e-9)
                    self._log(learner, metrics, rate, timers)
                    last_log = (now, self.step)
                    self.next_log = self.step + cfg.log_every
                if self.step >= self.next_checkpoint:
                    self.save(learner, source, phases)
                    self.next_checkpoint = (self.step // cfg.checkpoint_every + 1) * cfg.checkpoint_every
                if cfg.time_limit_min and self.elapsed_s > cfg.time_limit_min * 60:
                    self.request_stop(f"time limit of {cfg.time_limit_min} min reached")
                if self.dp is not None and self.dp.any_true(self.stop_reason is not None):
                    self.request_stop("another process of the group is stopping")  # leave together
                self.loggers.tick(self.step, self.step / max(self.elapsed_s, 1e-9), self._status(learner))
                self._call("on_tick")

            if self.stop_reason is None or self.status == "solved":
                if self.last_eval.get("step") != self.step:
                    metrics = self._evaluate(learner, source, timers)
                    self._log(learner, metrics, self.step / max(self.elapsed_s, 1e-9), timers)
                self.status = self.status if self.status == "solved" else "completed"
            else:
                self.status = "stopped"
                self.loggers.message(f"stopping at step {self.step:,}: {self.stop_reason}")
            if self.saved_step != self.step:  # not twice for one step: prev.pt stays a step behind
                self.save(learner, source, phases)
            result = self._result()
            if self.signal:
                result["signal"] = self.signal
            self._call("on_end")
            return result
        except NonFiniteError as exc:
            self.status = "failed"
            result = self._result(error=str(exc))
            raise
        except BaseException as exc:
            self.status = "failed"
            result = self._result(error=f"{type(exc).__name__}: {exc}")
            raise
        finally:
            restore_signals()
            if result:
                self._write_result(result)

    # ------------------------------------------------------------------ one phase
    def _run_phase(self, learner: Learner, phase: Phase, batch: Any) -> None:
        if phase.lr_schedule is not None:
            scale = phase.lr_schedule(min(self.step / self.cfg.total_steps, 1.0))
            for group, base in zip(phase.optimizer.param_groups, phase.base_lrs):
                group["lr"] = base * scale
        scaler = self.scalers[phase.name]
        finite = torch.ones((), dtype=torch.bool, device=self.device)
        losses = iter(learner.losses(phase, batch))
        while True:
            with self._autocast():  # forward passes only; backward runs outside autocast
                loss = next(losses, None)
            if loss is None:
                break
            finite &= torch.isfinite(loss.detach())
            phase.optimizer.zero_grad(set_to_none=True)
            if scaler is not None:
                scaler.scale(loss).backward()
                if self.dp is not None:
                    self.dp.average_gradients(phase.parameters)
                if phase.max_grad_norm:
                    scaler.unscale_(phase.optimizer)
                    torch.nn.utils.clip_grad_norm_(phase.parameters, phase.max_grad_norm)
                scaler.step(phase.optimizer)  # skips the step when gradients overflowed
                scaler.update()
            else:
                loss.backward()
                if self.dp is not None:
                    self.dp.average_gradients(phase.parameters)
                if phase.max_grad_norm:
                    norm = torch.nn.utils.clip_grad_norm_(phase.parameters, phase.max_grad_norm)
                    finite &= torch.isfinite(norm)
                phase.optimizer.step()
        # note: one CPU-GPU sync per phase per tick, not per optimizer step
        if not (bool(finite) if self.dp is None else self.dp.all_true(finite)):
            last = self.ckpt_dir / "last.pt"
            keep = f"; the last good checkpoint is {last}" if last.exists() else ""
            raise NonFiniteError(f"non-finite loss or gradient in phase '{phase.name}' at step "
                                 f"{self.step:,} (tick {self.tick}){keep}")

    # ------------------------------------------------------------------ eval, logs
    def _evaluate(self, learner: Learner, source: Any, timers: dict[str, float]) -> dict[str, Any]:
        t0 = time.perf_counter()
        with torch.no_grad(), self._autocast():
            ev = learner.evaluate(source)
        timers["eval"] += time.perf_counter() - t0
        self.last_eval = {"step": self.step, **ev.metrics}
        self.score = ev
        metrics = {f"eval/{k}": v for k, v in ev.metrics.items()}
        # best.pt: the learner at its best evaluation, by the score the learner names
        if ev.score in ev.metrics and (self.best_value is None or ev.better(ev.value, self.best_value)):
            self.best_value = ev.value
            self.save(learner, None, None, path=self.ckpt_dir / "best.pt")
        shown = ev.summary or ", ".join(f"{k} {v:.4g}" for k, v in ev.metrics.items() if isinstance(v, (int, float)))
        self.loggers.message(f"eval at step {self.step:,}: {shown}")
        if self.cfg.stop_at is not None and ev.score in ev.metrics and ev.reaches(self.cfg.stop_at):
            self.status = "solved"
            self.request_stop(f"eval {ev.score} {ev.value:.4g} reached trainer.stop_at={self.cfg.stop_at:g}")
        return metrics

    def _log(self, learner: Learner, metrics: dict[str, Any], rate: float, timers: dict[str, float]) -> None:
        source_metrics = self.source.log_metrics()
        learned = learner.log_metrics()
        if self.dp is not None:
            learned = self.dp.mean_metrics(learned)  # the group's mean loss, as one process would log
        line = {"time_s": round(self.elapsed_s, 3), **source_metrics, **learned, **metrics,
                "perf/steps_per_s": round(rate, 1)}
        total = sum(timers.values()) or 1.0
        for name, seconds in timers.items():
            line[f"perf/{name}_frac"] = round(seconds / total, 4)
        self.loggers.log(line, self.step)

    def _status(self, learner: Learner) -> str:
        parts = [self.source.status(), learner.status()]
        if self.score is not None and self.score.score in self.last_eval:
            parts.append(f"eval {self.score.score} {self.last_eval[self.score.score]:.4g}")
        return " ".join(p for p in parts if p)

    # ------------------------------------------------------------------ checkpoints
    def save(self, learner: Learner, source: Any, phases: list[Phase] | None, path: Path | None = None) -> Path:
        """Write a checkpoint atomically. best.pt holds the learner only (for watching/eval)."""
        path = path or self.ckpt_dir / "last.pt"
        if not self.writes:  # a data-parallel rank > 0: rank 0 writes the same state
            self.saved_step = self.step if phases is not None else self.saved_step
            return path
        learner_state = learner.state_dict() if phases is not None else learner.inference_state_dict()
        state: dict[str, Any] = {"step": self.step, "learner": learner_state, **self.extra_state}
        if phases is not None:
            state.update({
                "tick": self.tick, "elapsed_s": self.elapsed_s, "next_eval": _finite(self.next_eval),
                "next_checkpoint": _finite(self.next_checkpoint), "next_log": self.next_log,
                "best_value": self.best_value,
                "last_eval": dict(self.last_eval),
                "optimizers": {p.name: p.optimizer.state_dict() for p in phases},
                "scalers": {k: s.state_dict() for k, s in self.scalers.items() if s is not None},
                "rng": rng_state(),
                "source": source.state_dict(),
            })
        try:
            ckpt.save(state, path, keep_previous=phases is not None)
        except OSError as exc:  # disk full, read-only or vanished run directory: the old file is untouched
            previous = [p for p in (self.ckpt_dir / "last.pt", self.ckpt_dir / ckpt.PREVIOUS) if p.exists()]
            kept = f"; the previous checkpoint {previous[0]} is intact" if previous else ""
            raise LabError(f"could not write checkpoint {path} at step {self.step:,}: "
                           f"{exc.strerror or exc}{kept}") from exc
        if phases is not None:
            self.saved_step = self.step
            self._call("on_checkpoint")
        return path

    def _restore(self, state: dict[str, Any], learner: Learner, source: Any, phases: list[Phase]) -> None:
        learner.load_state_dict(state["learner"])
        for p in phases:
            p.optimizer.load_state_dict(state["optimizers"][p.name])
        for name, s in state.get("scalers", {}).items():
            if self.scalers.get(name) is not None:
                self.scalers[name].load_state_dict(s)
        self.step, self.tick, self.elapsed_s = state["step"], state["tick"], state["elapsed_s"]
        self.next_eval = _infinite(state["next_eval"])
        self.next_checkpoint = _infinite(state["next_checkpoint"])
        self.next_log = state["next_log"]
        self.best_value = state["best_value"]
        self.last_eval = dict(state["last_eval"])
        if state.get("source") is not None:
            note = source.load_state_dict(state["source"])
            if note:
                self.loggers.message(note)
        set_rng_state(state["rng"])

    # ------------------------------------------------------------------ plumbing
    def _result(self, error: str | None = None) -> dict[str, Any]:
        result = {"status": self.status, "completed": self.status in ("completed", "solved"),
                  "steps": self.step, "total_steps": self.cfg.total_steps,
                  "wall_time_s": round(self.elapsed_s, 3), "final": dict(self.last_eval),
                  "score": self.score.score if self.score else None, "best_eval": self.best_value,
                  "summary": self.score.summary if self.score else "", "step_unit": self.step_unit}
        if self.stop_reason:
            result["stop_reason"] = self.stop_reason
        if error:
            result["error"] = error
        return result

    def _write_result(self, result: dict[str, Any]) -> None:
        if not self.writes:
            return
        path = self.run_dir / "result.json"
        tmp = path.with_suffix(".json.tmp")
        try:
            tmp.write_text(json.dumps(result, indent=2) + "\n")
            tmp.replace(path)
        except OSError as exc:  # the disk that refused a checkpoint refuses this too: say so, keep the cause
            tmp.unlink(missing_ok=True)
            self.loggers.message(f"warning: could not write {path}: {exc.strerror or exc}")

    def _call(self, event: str) -> None:
        for fn in self.hooks[event]:
            fn(self)

    def _install_signal_handlers(self) -> Callable[[], None]:
        if threading.current_thread() is not threading.main_thread():
            return lambda: None
        previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}

        def handler(signum: int, frame: Any) -> None:
            if self.stop_reason is not None and signum == signal.SIGINT:
                raise KeyboardInterrupt  # a second Ctrl-C: stop now, without a checkpoint
            self.signal = self.signal or signum
            self.request_stop(f"received {signal.Signals(signum).name}")

        for s in previous:
            signal.signal(s, handler)

        def restore() -> None:
            for s, h in previous.items():
                signal.signal(s, h)
        return restore


def _finite(x: float) -> float | None:
    return None if isinstance(x, float) and math.isinf(x) else x


def _infinite(x: float | None, default: float = math.inf) -> float:
    return default if x is None else x
