"""What a config read back from disk may make the lab import.

A run directory or checkpoint can come from anywhere (a colleague, a cluster, a download), and
its config names things the lab turns into code: a Hydra ``_target_``, the learner module
(``agent.learner``), and a Gymnasium env id of the form ``module:Env`` (Gymnasium imports ``module``
to make it). ``lab.watch``, resume and
``lab.report`` check such configs here first: targets must live in the lab's own packages or an
allow-list (torch optimizers, Gymnasium and the env packages the lab supports). Anything else is
refused with one line naming the key; a researcher's own env package can be trusted explicitly
with ``LAB_TRUSTED_MODULES=mypkg,otherpkg``. (Checkpoints themselves are loaded with
``torch.load(weights_only=True)``, which refuses pickled code: lab/core/checkpoint.py.)
"""

from __future__ import annotations

import os
from typing import Any

from lab.core.errors import LabError

ALLOWED = ("lab", "agents", "envs", "torch.optim", "gymnasium", "ale_py", "gym_super_mario_bros", "shimmy")


def trusted(module: str, also: tuple[str, ...] = ()) -> bool:
    extra = tuple(m.strip() for m in os.environ.get("LAB_TRUSTED_MODULES", "").split(",") if m.strip())
    return any(module == ok or module.startswith(ok + ".") for ok in ALLOWED + extra + also)


def check_config(config: Any, where: str, also: tuple[str, ...] = ()) -> None:
    """Raise LabError if `config` (a plain dict/list tree or DictConfig) names untrusted code.

    also: modules trusted in this call (resume trusts what the user's own command names)."""
    from omegaconf import DictConfig, ListConfig, OmegaConf

    if isinstance(config, (DictConfig, ListConfig)):
        config = OmegaConf.to_container(config, resolve=False)
    for key, value in _walk(config, ""):
        if key.endswith("_target_") and isinstance(value, str):
            module = value.rsplit(".", 1)[0]
        elif key == "env.id" and isinstance(value, str) and ":" in value:
            module = value.split(":", 1)[0]
        elif key == "agent.learner" and isinstance(value, str):  # the module that builds the learner
            module = value
        else:
            continue
        if not trusted(module, also):
            raise LabError(f"the config in {where} asks to import {module!r} ({key}={value}), which is outside "
                           f"the lab's packages and its allow-list ({', '.join(ALLOWED)}); refusing it "
                           f"(trust a package with LAB_TRUSTED_MODULES={module.split('.')[0]})")


def _walk(node: Any, prefix: str):
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _walk(v, f"{prefix}{k}.")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _walk(v, f"{prefix}{i}.")
    else:
        yield prefix[:-1], node
