"""The env side's errors, each one readable line (the CLI prints them without a traceback)."""

from __future__ import annotations


class EnvError(ValueError):
    """A bad env id or env setting: one readable line."""


class EnvStepError(RuntimeError):
    """An env raised while stepping: names the env id and seed so the failure can be replayed."""
