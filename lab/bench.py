"""The lab's benchmark table: `python -m lab.bench [PAIRS...] --seeds 3 [--out DIR] [--jobs N] [--extra OVERRIDE ...]`.

Runs the matrix of benchmarked pairs in benchmarks/matrix.yaml (or the pairs and globs named:
`ppo_cartpole`, `ppo_*`, `*_ring8`) over seeds 0..N-1. Each run is a normal lab run, a
subprocess `python -m lab agent=A env=E|data=D seed=S ...` into OUT/<pair>/seed_<S>/ (W&B off
unless --extra says otherwise), so every run leaves the usual run directory; run the same
command again and it skips the runs whose result.json says completed and resumes the others.

Then it writes OUT/bench.md, OUT/bench.json and OUT/bench.png: per pair the final score (RL: the
last eval's mean return; GANs: every metric their evaluate() reports), its interquartile mean
and 95% stratified-bootstrap interval over seeds, per-seed values, steps, wall time, pass/fail
against the pair's bar, rl-baselines3-zoo's mean ± std beside it; and across pairs rliable's
aggregates (Agarwal et al. 2021, "Deep RL at the Edge of the Statistical Precipice"): IQM and
optimality gap of normalised scores with stratified-bootstrap intervals, and a performance
profile (bench.png). What each pair runs, its zoo row, bar and normalisation: benchmarks/matrix.yaml.

    python -m lab.bench ppo_cartpole dqn_cartpole --seeds 3
    python -m lab.bench 'ppo_*' --seeds 5 --jobs 2 --extra trainer.threads=1
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import fnmatch
import json
import math
import re
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from lab.core.errors import LabError

ROOT = Path(__file__).resolve().parent.parent
MATRIX = ROOT / "benchmarks" / "matrix.yaml"
DEFAULTS = ["wandb.mode=disabled"]  # before the pair's overrides and --extra, which win
# a reference run for `init`: the untrained learner's first eval (the trainer does not evaluate at step 0)
INIT_OVERRIDES = ["trainer.total_steps=1", "trainer.eval_every=0", "trainer.checkpoint_every=0",
                  "trainer.video_every=0"]
# not part of what a run *is*: left out when a finished run's overrides are compared with the plan
VOLATILE = ("trainer.resume", "hydra.", "runs_dir")
PAIR_KEYS = {"agent", "env", "data", "overrides", "score", "zoo", "bar", "norm", "note"}
CONDITION = re.compile(r"^\s*([\w/.]+)\s*(>=|<=)\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)"
                       r"(?:\s*\*\s*([\w/.]+))?\s*$")


# ---------------------------------------------------------------------- the matrix
@dataclass
class Condition:
    """`metric OP number [* reference]`: reference is `init` or another key of the run's final eval."""

    text: str
    metric: str
    op: str
    number: float
    reference: str | None = None

    def threshold(self, reference_value: float | None) -> float | None:
        if self.reference is None:
            return self.number
        return None if reference_value is None else self.number * reference_value

    def holds(self, value: float, threshold: float) -> bool:
        return value >= threshold if self.op == ">=" else value <= threshold


@dataclass
class Pair:
    name: str
    agent: str
    group: str  # "env" or "data"
    source: str
    score: str
    overrides: list[str] = field(default_factory=list)
    zoo: dict[str, Any] | None = None
    over: str = "every_seed"
    conditions: list[Condition] = field(default_factory=list)
    norm_zero: float | str | None = None
    norm_one: float | str | None = None
    note: str = ""
    early_stop: bool = True  # RL: stop once an evaluation reaches the zoo's bar (--no-early-stop: run it all)

    @property
    def kind(self) -> str:
        return "RL" if self.group == "env" else "GAN"

    def needs_init(self) -> bool:
        return any(c.reference == "init" for c in self.conditions) or "init" in (self.norm_zero, self.norm_one)

    def command(self, seed: int | str, extra: list[str]) -> list[str]:
        """The lab overrides of this pair's run for `seed`: later ones win over earlier ones for a key."""
        budget = []
        if self.zoo is not None:
            # The zoo's budget or less: the run stops once an evaluation reaches the bar (zoo mean - std),
            # as the presets' own trainer.stop_at does; --no-early-stop trains the whole budget instead.
            stop = f"{self.zoo['mean'] - self.zoo['std']:g}" if self.early_stop else "null"
            budget = [f"trainer.total_steps={int(self.zoo['steps'])}", f"trainer.stop_at={stop}"]
        return _dedupe([f"agent={self.agent}", f"{self.group}={self.source}", f"seed={seed}", *DEFAULTS,
                        *budget, *self.overrides, *extra])

    def bar_text(self) -> str:
        if not self.conditions:
            return "—"
        where = "every seed" if self.over == "every_seed" else "mean over seeds"
        return f"{', '.join(c.text for c in self.conditions)} ({where})"


def _key(override: str) -> str:
    return override.split("=", 1)[0].lstrip("+~")


def _dedupe(overrides: list[str]) -> list[str]:
    kept: dict[str, str] = {}
    for o in overrides:
        kept.pop(_key(o), None)  # re-insert: the later value, in the later position
        kept[_key(o)] = o
    return list(kept.values())


def parse_condition(text: str, where: str) -> Condition:
    m = CONDITION.match(str(text))
    if not m:
        raise LabError(f"{where}: bad condition '{text}' (expected METRIC >= NUMBER or METRIC <= NUMBER "
                       f"[* REFERENCE], e.g. 'modes >= 7.5' or 'fid <= 0.05 * init')")
    return Condition(" ".join(str(text).split()), m[1], m[2], float(m[3]), m[4])


def load_matrix(path: Path = MATRIX) -> dict[str, Pair]:
    """The pairs of a matrix file, checked so a bad file is one line naming the problem."""
    if not path.is_file():
        raise LabError(f"matrix file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f", line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise LabError(f"{path}{where}: not valid YAML ({getattr(exc, 'problem', None) or exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("pairs"), dict) or not data["pairs"]:
        raise LabError(f"{path}: expected a mapping `pairs:` of pair name -> {{agent, env|data, score, ...}}")
    pairs = {}
    for name, spec in data["pairs"].items():
        where = f"{path}: pairs.{name}"
        if not isinstance(spec, dict):
            raise LabError(f"{where}: expected a mapping with agent, env or data, and score")
        unknown = sorted(set(spec) - PAIR_KEYS)
        if unknown:
            raise LabError(f"{where}: unknown key '{unknown[0]}' (valid: {', '.join(sorted(PAIR_KEYS))})")
        if "agent" not in spec or "score" not in spec or ("env" in spec) == ("data" in spec):
            raise LabError(f"{where}: needs agent, score and exactly one of env or data")
        group = "env" if "env" in spec else "data"
        zoo = spec.get("zoo")
        if zoo is not None and not (isinstance(zoo, dict) and {"algo", "env", "mean", "std", "steps"} <= set(zoo)):
            raise LabError(f"{where}.zoo: needs algo, env, mean, std and steps")
        bar = spec.get("bar")
        if bar is None and zoo is not None:  # the zoo's mean - std, on every seed
            bar = {"over": "every_seed",
                   "conditions": [f"{spec['score']} >= {float(zoo['mean']) - float(zoo['std']):.6g}"]}
        bar = bar or {"over": "every_seed", "conditions": []}
        if not isinstance(bar, dict) or bar.get("over", "every_seed") not in ("every_seed", "mean") \
                or not isinstance(bar.get("conditions", []), list):
            raise LabError(f"{where}.bar: expected {{over: every_seed|mean, conditions: [...]}}")
        norm = spec.get("norm") or {}
        one = norm.get("one", zoo["mean"] if zoo else None)
        for label, value in (("zero", norm.get("zero")), ("one", one)):
            if value is not None and not isinstance(value, (int, float, str)):
                raise LabError(f"{where}.norm.{label}: a number, 'init' or a metric name")
        overrides = spec.get("overrides") or []
        if not isinstance(overrides, list) or not all(isinstance(o, str) and "=" in o for o in overrides):
            raise LabError(f"{where}.overrides: expected a list of key=value overrides")
        pairs[str(name)] = Pair(
            name=str(name), agent=str(spec["agent"]), group=group, source=str(spec[group]), score=str(spec["score"]),
            overrides=list(overrides), zoo=zoo, over=bar.get("over", "every_seed"),
            conditions=[parse_condition(c, f"{where}.bar") for c in bar.get("conditions", [])],
            norm_zero=norm.get("zero"), norm_one=one, note=str(spec.get("note", "")))
    return pairs


def select(matrix: dict[str, Pair], patterns: list[str]) -> list[str]:
    """Pair names for names and globs, in matrix order; all pairs for none."""
    if not patterns:
        return list(matrix)
    chosen: list[str] = []
    for pattern in patterns:
        hits = [n for n in matrix if fnmatch.fnmatchcase(n, pattern)]
        if not hits:
            raise LabError(f"unknown pair '{pattern}'; valid pairs: {', '.join(matrix)} (or a glob such as 'ppo_*')")
        chosen += [n for n in hits if n not in chosen]
    return [n for n in matrix if n in chosen]


# ---------------------------------------------------------------------- running
def _quote(path: Path) -> str:
    return "'" + str(path).replace("\\", "\\\\").replace("'", "\\'") + "'"


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def is_completed(run_dir: Path) -> bool:
    return bool(_read_json(run_dir / "result.json").get("completed"))


def check_same_run(run_dir: Path, overrides: list[str]) -> None:
    """A run directory from an earlier bench must have run the same command: a bench re-run with
    other --extra overrides would otherwise count (or continue) runs of a different config."""
    path = run_dir / ".hydra" / "overrides.yaml"
    if not path.is_file():
        return
    before = {_moved(o) for o in yaml.safe_load(path.read_text()) or [] if not _key(o).startswith(VOLATILE)}
    now = {o for o in overrides if not _key(o).startswith(VOLATILE)}
    if before != now:
        differ = sorted(before ^ now)
        raise LabError(f"{run_dir} holds a run of other overrides (differing: {' '.join(differ)}); "
                       f"give another --out, the same --extra, or remove that directory")


def _moved(override: str) -> str:
    """An override of a run made before a key moved (lab.config.MOVED_KEYS), under the key's new name."""
    from lab.config import MOVED_KEYS

    key = _key(override)
    return override.replace(key, MOVED_KEYS[key], 1) if key in MOVED_KEYS else override


class Runner:
    """Runs lab commands as subprocesses, at most `jobs` at a time, and stops them on Ctrl-C."""

    def __init__(self, total: int) -> None:
        self.procs: set[subprocess.Popen] = set()
        self.lock = threading.Lock()
        self.stopping = False
        self.done = 0
        self.total = total

    def run(self, overrides: list[str], run_dir: Path, label: str) -> dict[str, Any]:
        """One lab run into `run_dir` (skipped when it completed before); its result.json."""
        if is_completed(run_dir):
            self.say(f"{label}: completed before, skipped")
            return _read_json(run_dir / "result.json")
        # resume=auto continues this directory's own checkpoint; runs_dir=run_dir keeps auto from
        # adopting some other unfinished run of the same command elsewhere under runs/
        argv = [sys.executable, "-m", "lab", *overrides, "trainer.resume=auto", f"runs_dir={_quote(run_dir)}",
                f"hydra.run.dir={_quote(run_dir)}"]
        env = {**os.environ, "WANDB_SILENT": "true",
               "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)}
        log = run_dir.with_name(run_dir.name + ".log")
        log.parent.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        with open(log, "a") as f:
            f.write(f"$ {' '.join(argv)}\n")
            f.flush()
            with self.lock:
                if self.stopping:
                    return {}
                proc = subprocess.Popen(argv, stdout=f, stderr=subprocess.STDOUT, env=env)
                self.procs.add(proc)
            code = proc.wait()
            with self.lock:
                self.procs.discard(proc)
        result = _read_json(run_dir / "result.json") if (run_dir / "result.json").exists() else {}
        seconds = time.perf_counter() - start
        if code == 0 and result.get("completed"):
            final = ", ".join(f"{k} {_fmt(v)}" for k, v in result.get("final", {}).items()
                              if k != "step" and isinstance(v, (int, float)))
            self.say(f"{label}: {result['status']}, {result['steps']:,} steps, {seconds:.0f} s; {final}")
        elif not self.stopping:
            self.say(f"{label}: FAILED (exit {code}): {_last_error(log)} (log: {log})")
        return result

    def say(self, text: str) -> None:
        """One progress line, [done/total], to stderr."""
        with self.lock:
            self.done += 1
            print(f"[{self.done}/{self.total}] {text}", file=sys.stderr, flush=True)

    def stop(self) -> None:
        """Ctrl-C or SIGTERM: launch nothing more; each lab run saves a checkpoint and exits (the
        next bench continues it)."""
        with self.lock:
            self.stopping = True
            procs = list(self.procs)
        for proc in procs:  # SIGTERM: a second SIGINT (after the terminal's) would skip the checkpoint
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()


def _last_error(log: Path) -> str:
    lines = [ln for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
    errors = [ln for ln in lines if "error" in ln.lower()]
    return (errors or lines or ["no output"])[-1].strip()[:300]


def run_dir_of(out: Path, pair: str, seed: int, init: bool = False) -> Path:
    return out / pair / f"{'init_' if init else ''}seed_{seed}"


def step0_eval(run_dir: Path) -> dict[str, float] | None:
    """The run's eval at step 0 from metrics.jsonl, if it logged one (the untrained learner)."""
    path = run_dir / "metrics.jsonl"
    if not path.exists():
        return None
    for line in path.read_text().splitlines():
        row = json.loads(line)
        if row.get("step") == 0 and any(k.startswith("eval/") for k in row):
            return {k[5:]: v for k, v in row.items() if k.startswith("eval/") and isinstance(v, (int, float))}
    return None


def run_bench(pairs: list[Pair], seeds: list[int], out: Path, extra: list[str], jobs: int) -> None:
    """Every pair x seed run (and, where a bar or the normalisation needs it, its init reference),
    `jobs` at a time; completed runs are skipped, the others continue from their checkpoints."""
    tasks = [(p, s) for p in pairs for s in seeds]
    runner = Runner(total=len(tasks) + sum(len(seeds) for p in pairs if p.needs_init()))

    def one(pair: Pair, seed: int) -> None:
        main_dir = run_dir_of(out, pair.name, seed)
        result = runner.run(pair.command(seed, extra), main_dir, f"{pair.name} seed {seed}")
        if pair.needs_init() and not runner.stopping:
            if result.get("completed") and step0_eval(main_dir) is not None:
                runner.say(f"{pair.name} seed {seed} init: the run's step-0 eval")
            else:
                runner.run(_dedupe(pair.command(seed, extra) + INIT_OVERRIDES), run_dir_of(out, pair.name, seed, True),
                           f"{pair.name} seed {seed} init (one-step run)")

    pool = ThreadPoolExecutor(max_workers=jobs)
    futures = [pool.submit(one, p, s) for p, s in tasks]
    try:
        for future in as_completed(futures):
            future.result()
    except KeyboardInterrupt:
        pool.shutdown(wait=False, cancel_futures=True)
        runner.stop()
        raise
    pool.shutdown()


# ---------------------------------------------------------------------- the table
def _fmt(v: Any) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "—"
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return str(v)
    if isinstance(v, int) or not math.isfinite(v):
        return str(v)
    return f"{v:.1f}" if abs(v) >= 100 else f"{v:.2f}" if abs(v) >= 1 else f"{v:.3f}"


def _scalars(final: dict[str, Any]) -> dict[str, float]:
    return {k: v if isinstance(v, int) else float(v) for k, v in final.items()
            if k != "step" and isinstance(v, (int, float)) and not isinstance(v, bool)}


def collect(pair: Pair, seeds: list[int], out: Path) -> dict[str, Any]:
    """Per seed: the run's directory, status, steps, wall time, final metrics and init reference."""
    runs = []
    for seed in seeds:
        run_dir = run_dir_of(out, pair.name, seed)
        result = _read_json(run_dir / "result.json")
        run: dict[str, Any] = {"seed": seed, "dir": str(run_dir), "status": result.get("status", "missing"),
                               "completed": bool(result.get("completed")), "steps": result.get("steps"),
                               "wall_time_s": result.get("wall_time_s"), "final": _scalars(result.get("final", {}))}
        if result.get("error"):
            run["error"] = result["error"]
        if pair.needs_init():
            step0 = step0_eval(run_dir)
            if step0 is not None:
                run["init"], run["init_from"] = step0, "the run's eval at step 0"
            else:
                init = _read_json(run_dir_of(out, pair.name, seed, True) / "result.json")
                if init.get("completed"):
                    run["init"] = _scalars(init.get("final", {}))
                    run["init_from"] = f"a one-step run ({run_dir_of(out, pair.name, seed, True)})"
        runs.append(run)
    return {"runs": runs}


def _reference(run: dict[str, Any], metric: str, reference: str | float | None) -> float | None:
    if reference is None or isinstance(reference, (int, float)):
        return None if reference is None else float(reference)
    if reference == "init":
        return run.get("init", {}).get(metric)
    return run["final"].get(reference)


def check_bar(pair: Pair, runs: list[dict[str, Any]], seeds: list[int]) -> dict[str, Any]:
    """Each condition's values, thresholds and verdict; and the pair's verdict."""
    done = [r for r in runs if r["completed"]]
    conditions, verdict = [], "—"
    for c in pair.conditions:
        values = [r["final"].get(c.metric) for r in done]
        refs = [_reference(r, c.metric, c.reference) for r in done] if c.reference else [1.0] * len(done)
        missing = ([c.metric] if any(v is None for v in values) else []) + \
                  ([c.reference or ""] if any(x is None for x in refs) else [])
        row: dict[str, Any] = {"condition": c.text, "over": pair.over, "values": values}
        if missing or not done:
            row.update(passed=None, why=f"no {' or '.join(missing)} in the runs' results" if missing else "no run")
        elif pair.over == "every_seed":
            thresholds = [c.threshold(x) for x in refs]
            ok = [c.holds(v, t) for v, t in zip(values, thresholds)]
            row.update(thresholds=thresholds, passed_seeds=sum(ok), passed=all(ok))
        else:
            value, threshold = float(np.mean(values)), c.threshold(float(np.mean(refs)))
            row.update(value=value, threshold=threshold, passed=c.holds(value, threshold))
        conditions.append(row)
    if pair.conditions:
        failed_runs = len(seeds) - len(done)
        if failed_runs:
            verdict = f"FAIL ({failed_runs} of {len(seeds)} runs did not complete)"
        elif any(r["passed"] is False for r in conditions):
            bad = [r for r in conditions if r["passed"] is False]
            if pair.over == "every_seed":
                verdict = f"FAIL ({min(r['passed_seeds'] for r in bad)}/{len(seeds)} seeds)"
            else:
                verdict = "FAIL (" + ", ".join(f"{r['condition'].split()[0]} {_fmt(r['value'])}" for r in bad) + ")"
        elif any(r["passed"] is None for r in conditions):
            verdict = "incomplete: " + "; ".join(r["why"] for r in conditions if r["passed"] is None)
        else:
            verdict = f"pass ({len(seeds)}/{len(seeds)} seeds)" if pair.over == "every_seed" else "pass"
    return {"text": pair.bar_text(), "conditions": conditions, "verdict": verdict}


def normalised(pair: Pair, run: dict[str, Any]) -> float | None:
    """(score - zero) / (one - zero) for a completed run, or None when a reference is missing."""
    value = run["final"].get(pair.score)
    zero = _reference(run, pair.score, pair.norm_zero) if isinstance(pair.norm_zero, str) else pair.norm_zero
    one = _reference(run, pair.score, pair.norm_one) if isinstance(pair.norm_one, str) else pair.norm_one
    if value is None or zero is None or one is None or one == zero:
        return None
    return (value - float(zero)) / (float(one) - float(zero))


def summarise(pairs: list[Pair], seeds: list[int], out: Path, matrix: Path, extra: list[str]) -> dict[str, Any]:
    """Everything bench.md, bench.json and bench.png show."""
    from lab.report import aggregate_intervals

    summary: dict[str, Any] = {"matrix": str(matrix), "out": str(out), "seeds": seeds, "extra": extra, "pairs": {}}
    for pair in pairs:
        entry = collect(pair, seeds, out)
        done = [r for r in entry["runs"] if r["completed"]]
        config = _read_yaml(Path(done[0]["dir"]) / ".hydra" / "config.yaml") if done else {}
        learns = (config.get("env") or {}).get("id") if pair.group == "env" else (config.get("data") or {}).get("name")
        entry.update(kind=pair.kind, agent=pair.agent, source=f"{pair.group}={pair.source}",
                     learns_from=learns or pair.source, score=pair.score, zoo=pair.zoo, note=pair.note,
                     command="python -m lab " + " ".join(pair.command("S", extra)),
                     bar=check_bar(pair, entry["runs"], seeds))
        names = sorted({k for r in done for k in r["final"]}, key=lambda k: (k != pair.score, k))
        entry["metrics"] = {name: {"values": [r["final"][name] for r in done if name in r["final"]]}
                            for name in names}
        entry["normalised"] = {"values": [normalised(pair, r) for r in done]}
        steps = [r["steps"] for r in done]
        entry["steps"] = [min(steps), max(steps)] if steps else None
        walls = [r["wall_time_s"] for r in done if r["wall_time_s"] is not None]
        entry["wall_time_s_mean"] = float(np.mean(walls)) if walls else None
        summary["pairs"][pair.name] = entry
    _add_intervals([m for e in summary["pairs"].values() for m in (*e["metrics"].values(), e["normalised"])])

    # rliable across pairs: a (seeds, pairs) matrix of normalised scores, the seeds every pair has
    usable = {name: e for name, e in summary["pairs"].items() if "iqm" in e["normalised"]}
    common = sorted(set.intersection(*({r["seed"] for r in e["runs"] if r["completed"]} for e in usable.values())))\
        if usable else []
    aggregates: dict[str, Any] = {}
    groups = {"all pairs": list(usable)}
    for kind in ("RL", "GAN"):
        members = [n for n, e in usable.items() if e["kind"] == kind]
        if members and len(members) < len(usable):
            groups[kind] = members
    for label, members in groups.items():
        if not members or not common:
            continue
        scores = _normalised_matrix(summary, members, common)
        aggregates[label] = {"pairs": members, "seeds": common, **aggregate_intervals(scores)}
    summary["aggregates"] = aggregates
    summary["excluded_from_aggregates"] = sorted(set(summary["pairs"]) - set(usable))
    return summary


def _add_intervals(entries: list[dict[str, Any]]) -> None:
    """Add iqm and ci95 to each {"values": [...]} (none where a value is missing): one rliable
    bootstrap per run count, every column resampled on its own (a bootstrap costs ~1 s here)."""
    from lab.report import iqm_intervals

    by_count: dict[int, list[dict[str, Any]]] = {}
    for entry in entries:
        values = entry["values"]
        if values and all(v is not None for v in values):
            by_count.setdefault(len(values), []).append(entry)
    for group in by_count.values():
        iqm, low, high = iqm_intervals(np.array([e["values"] for e in group], dtype=float).T)
        for e, i, lo, hi in zip(group, iqm, low, high):
            e.update(iqm=float(i), ci95=[float(lo), float(hi)])


def _normalised_matrix(summary: dict[str, Any], members: list[str], seeds: list[int]) -> np.ndarray:
    columns = []
    for name in members:
        by_seed = {r["seed"]: v for r, v in zip([r for r in summary["pairs"][name]["runs"] if r["completed"]],
                                                summary["pairs"][name]["normalised"]["values"])}
        columns.append([by_seed[s] for s in seeds])
    return np.array(columns, dtype=float).T


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        return yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError):
        return {}


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _interval(m: dict[str, Any] | None) -> str:
    if not m or "iqm" not in m:
        return "—"
    low, high = m.get("ci95", [math.nan, math.nan])
    return f"{_fmt(m['iqm'])} [{_fmt(low)}, {_fmt(high)}]" if not math.isnan(low) else _fmt(m["iqm"])


def markdown(summary: dict[str, Any], command: str) -> str:
    seeds = summary["seeds"]
    lines = [f"# Benchmark: {_plural(len(summary['pairs']), 'pair')} x {_plural(len(seeds), 'seed')}", "",
             f"    {command}", "",
             f"Matrix: `{summary['matrix']}`; run directories: `{summary['out']}/<pair>/seed_<S>/`. "
             "IQM: interquartile mean over seeds (of 3 seeds, their mean); [95% CI]: rliable's "
             "stratified bootstrap (percentile, 2,000 resamples; of 3 seeds, about [min, max]). "
             "Score: the pair's metric in its last eval (RL: mean return of the eval episodes).", "",
             "| pair | learns from | steps | score | IQM [95% CI] | per seed | rl-zoo mean ± std (steps) | bar | result "
             "| normalised IQM | train s/run |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    notes = []
    for name, e in summary["pairs"].items():
        score = e["metrics"].get(e["score"])
        per_seed = ", ".join(_fmt(r["final"].get(e["score"])) if r["completed"] else "failed" for r in e["runs"])
        steps = "—" if not e["steps"] else (f"{e['steps'][0]:,}" if e["steps"][0] == e["steps"][1]
                                             else f"{e['steps'][0]:,}–{e['steps'][1]:,}")
        zoo = e["zoo"]
        zoo_text = f"{float(zoo['mean']):g} ± {float(zoo['std']):g} ({int(zoo['steps']):,})" if zoo else "—"  # as published
        label = name
        if e["note"]:
            notes.append(f"{name}: {e['note']}.")
            label += f" [{len(notes)}]"
        lines.append(f"| {label} | {e['learns_from']} | {steps} | {e['score']} | {_interval(score)} | {per_seed} | "
                     f"{zoo_text} | {e['bar']['text']} | {e['bar']['verdict']} | {_interval(e['normalised'])} | "
                     f"{_fmt(e['wall_time_s_mean'])} |")
    if notes:
        lines += [""] + [f"[{i}] {n}" for i, n in enumerate(notes, 1)]

    lines += ["", "## Aggregates (rliable)", "",
              "Normalised score per run: (score - zero) / (one - zero), from the matrix: RL 0 = a uniform "
              "random policy, 1 = rl-baselines3-zoo's mean; mixtures 0 = no mode, 1 = every mode; images "
              "0 = FID at init, 1 = FID 0. Optimality gap: mean shortfall below 1 (gamma = 1). Profile: bench.png.", ""]
    if summary["aggregates"]:
        lines += ["| pairs | runs | IQM [95% CI] | optimality gap [95% CI] |", "|---|---|---|---|"]
        for label, a in summary["aggregates"].items():
            lines.append(f"| {label} | {_plural(len(a['pairs']), 'pair')} x {_plural(len(a['seeds']), 'seed')} | "
                         f"{_fmt(a['iqm'])} [{_fmt(a['iqm_ci95'][0])}, {_fmt(a['iqm_ci95'][1])}] | "
                         f"{_fmt(a['optimality_gap'])} [{_fmt(a['optimality_gap_ci95'][0])}, "
                         f"{_fmt(a['optimality_gap_ci95'][1])}] |")
    else:
        lines.append("No pair has normalised scores on a common set of seeds.")
    if summary["excluded_from_aggregates"]:
        lines += ["", "Left out of the aggregates (a run failed or a reference is missing): "
                  + ", ".join(summary["excluded_from_aggregates"]) + "."]

    lines += ["", "## Bars", "", "| pair | condition | over | value(s) | threshold(s) | met |", "|---|---|---|---|---|---|"]
    for name, e in summary["pairs"].items():
        for c in e["bar"]["conditions"]:
            if c["over"] == "every_seed":
                values = ", ".join(_fmt(v) for v in c["values"])
                thresholds = ", ".join(_fmt(t) for t in c.get("thresholds", [])) or "—"
            else:
                values, thresholds = _fmt(c.get("value")), _fmt(c.get("threshold"))
            met = {True: "yes", False: "no", None: c.get("why", "—")}[c["passed"]]
            if c["passed"] and c["over"] == "every_seed":
                met = f"yes ({c['passed_seeds']}/{len(c['values'])})"
            elif c["passed"] is False and c["over"] == "every_seed":
                met = f"no ({c['passed_seeds']}/{len(c['values'])})"
            lines.append(f"| {name} | {c['condition']} | {c['over'].replace('_', ' ')} | {values} | {thresholds} | {met} |")
        inits = [r for r in e["runs"] if "init" in r]
        if inits:
            lines.append(f"| {name} | reference: {e['score']} at init | per seed | "
                         f"{', '.join(_fmt(r['init'].get(e['score'])) for r in inits)} | — | "
                         f"from {inits[0]['init_from'].split(' (')[0]} |")

    lines += ["", "## Final metrics", "", "| pair | metric | IQM [95% CI] | per seed |", "|---|---|---|---|"]
    for name, e in summary["pairs"].items():
        for metric, m in e["metrics"].items():
            lines.append(f"| {name} | {metric} | {_interval(m)} | {', '.join(_fmt(v) for v in m['values'])} |")

    failed = [(name, r) for name, e in summary["pairs"].items() for r in e["runs"] if not r["completed"]]
    if failed:
        lines += ["", "## Runs that did not complete", ""]
        lines += [f"- {name} seed {r['seed']}: {r['status']}{': ' + r['error'] if r.get('error') else ''} "
                  f"(`{r['dir']}`)" for name, r in failed]
    lines += ["", "## Commands", ""] + [f"- {name}: `{e['command']}`" for name, e in summary["pairs"].items()]
    return "\n".join(lines) + "\n"


def plot_profile(summary: dict[str, Any], path: Path) -> bool:
    """rliable's performance profile: the fraction of runs whose normalised score exceeds tau."""
    if not summary["aggregates"]:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from rliable import library as rly
    from rliable import plot_utils

    from lab.report import BOOTSTRAP_REPS, _seeded_numpy

    scores = {label: _normalised_matrix(summary, a["pairs"], a["seeds"]) for label, a in summary["aggregates"].items()}
    top = max(1.25, max(float(s.max()) for s in scores.values()))
    taus = np.linspace(0.0, top, 101)
    with _seeded_numpy(0):
        profiles, cis = rly.create_performance_profile(scores, taus, reps=BOOTSTRAP_REPS)
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    plot_utils.plot_performance_profiles(profiles, taus, performance_profile_cis=cis, ax=ax,
                                         xlabel=r"normalised score $\tau$ (1 = zoo mean / every mode / FID 0)",
                                         ylabel=r"fraction of runs with score $> \tau$", labelsize="medium",
                                         ticklabelsize="medium", legend=True, legendsize="small")
    ax.axvline(1.0, color="gray", linestyle="--", linewidth=1)
    ax.set_title(f"lab.bench: {_plural(len(summary['pairs']), 'pair')}, seeds {summary['seeds'][0]}-{summary['seeds'][-1]}",
                 fontsize="medium")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True


# ---------------------------------------------------------------------- CLI
def preflight_pairs(pairs: list[Pair], seeds: list[int], out: Path, extra: list[str]) -> None:
    """Before anything runs: every pair's command composes (one line for a bad --extra), and
    earlier runs in OUT ran the same commands."""
    from lab.__main__ import CONF_DIR
    from lab.config import register_configs
    from lab.preflight import preflight

    register_configs()
    for pair in pairs:
        error = preflight(CONF_DIR, pair.command(seeds[0], extra))
        if error:
            raise LabError(f"{pair.name}: {error}")
        for seed in seeds:
            check_same_run(run_dir_of(out, pair.name, seed), pair.command(seed, extra))
            if pair.needs_init():
                check_same_run(run_dir_of(out, pair.name, seed, True),
                               _dedupe(pair.command(seed, extra) + INIT_OVERRIDES))


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab.bench", description=__doc__.splitlines()[0])
    parser.add_argument("pairs", nargs="*", help="pair names or globs from the matrix (default: all)")
    parser.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1 per pair (default 3)")
    parser.add_argument("--out", type=Path, default=Path("runs") / "bench",
                        help="bench directory: runs, bench.md/json/png (default runs/bench)")
    parser.add_argument("--jobs", type=int, default=1, help="lab runs at a time (default 1)")
    parser.add_argument("--extra", nargs="+", action="extend", default=[], metavar="OVERRIDE",
                        help="lab overrides for every run, after the pair's (give it last)")
    parser.add_argument("--matrix", type=Path, default=MATRIX, help=f"matrix file (default {MATRIX.relative_to(ROOT)})")
    parser.add_argument("--dry-run", action="store_true", help="print the lab commands, run nothing")
    parser.add_argument("--no-early-stop", action="store_true",
                        help="RL: train the zoo's whole budget (default: stop once an eval reaches the bar)")
    args = parser.parse_args(argv)
    command = "python -m lab.bench " + " ".join(sys.argv[1:] if argv is None else argv)
    try:
        if args.seeds < 1:
            raise LabError(f"--seeds must be at least 1, got {args.seeds}")
        if args.jobs < 1:
            raise LabError(f"--jobs must be at least 1, got {args.jobs}")
        bad = [o for o in args.extra if "=" not in o]
        if bad:
            raise LabError(f"--extra takes lab overrides key=value, got '{bad[0]}' (give --extra after the pairs)")
        matrix = load_matrix(args.matrix)
        names = select(matrix, args.pairs)
        pairs = [matrix[n] for n in names]
        for pair in pairs:
            pair.early_stop = not args.no_early_stop
        seeds = list(range(args.seeds))
        out = args.out.resolve()
        preflight_pairs(pairs, seeds, out, args.extra)
        if args.dry_run:
            for pair in pairs:
                for seed in seeds:
                    print(f"python -m lab {' '.join(pair.command(seed, args.extra))} "
                          f"hydra.run.dir={run_dir_of(out, pair.name, seed)}")
                    if pair.needs_init():
                        print(f"  (unless that run logs an eval at step 0) python -m lab "
                              f"{' '.join(_dedupe(pair.command(seed, args.extra) + INIT_OVERRIDES))} "
                              f"hydra.run.dir={run_dir_of(out, pair.name, seed, True)}")
            return 0
        out.mkdir(parents=True, exist_ok=True)
    except LabError as exc:
        print(f"lab.bench: error: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"lab.bench: error: cannot create {args.out}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    print(f"lab.bench: {_plural(len(pairs), 'pair')} x {_plural(len(seeds), 'seed')} into {out}", file=sys.stderr)
    previous = signal.signal(signal.SIGTERM, _interrupt)  # stop the runs with a checkpoint, as Ctrl-C does
    try:
        run_bench(pairs, seeds, out, args.extra, args.jobs)
    except KeyboardInterrupt:
        print("lab.bench: interrupted; the runs saved checkpoints: run the same command again to continue",
              file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)
    summary = summarise(pairs, seeds, out, args.matrix, args.extra)
    summary["command"] = command
    table = markdown(summary, command)
    (out / "bench.md").write_text(table)
    (out / "bench.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    wrote = [out / "bench.md", out / "bench.json"]
    if plot_profile(summary, out / "bench.png"):
        wrote.append(out / "bench.png")
    print(table)
    print(f"wrote {', '.join(str(p) for p in wrote)}", file=sys.stderr)
    failed = sum(not r["completed"] for e in summary["pairs"].values() for r in e["runs"])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
