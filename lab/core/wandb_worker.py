"""The W&B worker: a child process that owns the W&B run, so W&B never shares a CPU core or the GIL
with training.

The worker (``spawn``) imports wandb and starts its service at once, then reads
pickled items from stdin: first the ``wandb.init`` kwargs, then ``("log", metrics)``,
``("summary", values)``, ``("video", (key, path, step))``, and ``None`` (finish). It answers on
stdout, one line each: ``done`` per item handled (the parent's measure of progress),
``where <url or sync command>`` once the run exists, ``warn <text>`` when W&B fails (after
which the items are read and dropped). Its stderr (W&B's own warnings) is dropped: they are in
the run's wandb/debug*.log files, and the console keeps the lab's lines.

Starting it costs ~0.6 s of CPU (importing wandb, starting W&B's service), so the CLI starts it
first thing (``prestart``), on the other core, while the lab composes the config and imports
torch; the run then takes it (``take``), or kills it when the run turns out not to use W&B.
"""

from __future__ import annotations

import atexit
import os
import pickle
import subprocess
import sys
from pathlib import Path

_prestarted: subprocess.Popen | None = None


def spawn() -> subprocess.Popen:
    root = str(Path(__file__).resolve().parents[2])  # where `lab` is, installed or not
    start = f"import sys; sys.path.insert(0, {root!r}); from lab.core.wandb_worker import main; main()"
    return subprocess.Popen([sys.executable, "-c", start], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL)


def prestart() -> None:
    """Start a worker ahead of need (the CLI, before it composes the run's config)."""
    global _prestarted
    if _prestarted is None:
        _prestarted = spawn()
        atexit.register(discard)  # a run that never took it (a bad override, --help): stop it


def take() -> subprocess.Popen:
    """The prestarted worker if there is one still alive, else a new one."""
    global _prestarted
    proc, _prestarted = _prestarted, None
    return proc if proc is not None and proc.poll() is None else spawn()


def discard() -> None:
    """The run does not use W&B: stop the prestarted worker, if any."""
    global _prestarted
    if _prestarted is not None:
        _prestarted.kill()
        _prestarted.wait()
        _prestarted = None


def say(line: str) -> None:
    sys.stdout.write(line.replace("\n", " ") + "\n")
    sys.stdout.flush()


def main() -> None:
    # W&B's Weave integration takes the lab's `agents` package for an LLM-agents library and
    # advertises itself on the console: it has nothing to trace here
    os.environ.setdefault("WANDB_DISABLE_WEAVE", "true")
    stdin = sys.stdin.buffer
    run, failed = None, False
    try:
        import wandb

        wandb.setup()  # starts W&B's service now, while the parent is still importing torch
    except Exception as exc:
        say(f"warn W&B failed to start, continuing without it: {exc}")
        failed = True
    try:
        kwargs = pickle.load(stdin)
    except EOFError:
        return
    if not failed:
        try:
            # silent: no banner, sparkline summary or advertisement (issue 14); the parent says
            # in one line where the run is
            run = wandb.init(**kwargs, settings=wandb.Settings(silent=True, console="off"))
            run.define_metric("step")
            run.define_metric("*", step_metric="step")
            say("where " + (run.url if kwargs.get("mode") == "online" and run.url
                            else f"wandb sync {run.dir.rsplit('/files', 1)[0]}"))
        except Exception as exc:  # never stop training for W&B
            say(f"warn W&B init failed, continuing without it: {exc}")
            failed = True
    say("done")
    while True:
        try:
            item = pickle.load(stdin)
        except EOFError:  # the parent died: finish what we have
            item = None
        if item is None:
            break
        if not failed:
            try:
                kind, payload = item
                if kind == "log":
                    run.log(payload)
                elif kind == "summary":
                    run.summary.update(payload)
                elif kind == "video":
                    key, path, step = payload
                    run.log({"step": step, key: wandb.Video(str(path), format="mp4")})
            except Exception as exc:
                say(f"warn W&B logging failed, continuing without it: {exc}")
                failed = True
        say("done")
    if run is not None:
        try:
            run.finish()
        except Exception as exc:
            say(f"warn W&B finish failed: {exc}")
    say("done")


if __name__ == "__main__":
    main()
