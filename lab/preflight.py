"""The CLI's preflight: compose the overrides once and check them before Hydra runs the job.

A bad override (unknown group or key, a value out of range, a missing pair preset or launcher)
becomes one LabError line naming the problem and the valid choices, without importing torch;
`explain_hydra_error` turns Hydra/OmegaConf composition errors met later into such lines.
"""

from __future__ import annotations

import os
import re
from typing import Any, Iterable

from lab.core.errors import LabError


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else text


def explain_hydra_error(exc: BaseException) -> str | None:
    """One line for a Hydra/OmegaConf composition error, or None if it is not one."""
    from hydra.errors import ConfigCompositionException, MissingConfigException, OverrideParseException
    from omegaconf.errors import ConfigAttributeError, ConfigKeyError, ValidationError

    from lab.core.config import did_you_mean

    if isinstance(exc, LabError):
        return str(exc)
    if isinstance(exc, MissingConfigException):
        text = str(exc)
        m = re.search(r"Could not find '([^']+)/([^'/]+)'", text)
        options = [o for o in getattr(exc, "options", None) or re.findall(r"^\t(\S+)$", text, re.M)
                   if not o.endswith("_schema")]
        if m and options:
            group, name = m.groups()
            return (f"unknown {group} '{name}'; choose one of: {', '.join(sorted(options))}"
                    f"{did_you_mean(name, options)}")
        if m:
            return f"unknown config '{m.group(1)}/{m.group(2)}'"
        return _first_line(text)
    if isinstance(exc, OverrideParseException):
        return f"{_first_line(str(exc))}; overrides look like key=value (e.g. agent.lr=1e-3)"
    if isinstance(exc, ConfigCompositionException):
        cause = exc.__cause__
        if isinstance(cause, (ConfigAttributeError, ConfigKeyError)):
            return _unknown_key(cause)
        if isinstance(cause, ValidationError):
            key = getattr(cause, "full_key", "?")
            return f"{key}: {_first_line(str(cause.msg if hasattr(cause, 'msg') else cause))}"
        text = _first_line(str(exc))
        if text.startswith("Ambiguous value"):
            return f"{text}: to sweep over values add -m (python -m lab -m key=a,b)"
        return text
    return None


def _free_form(node: object) -> bool:
    """A config section typed as a plain dict (e.g. env.kwargs, keyword arguments handed on), not a
    schema dataclass: any key is valid there once added with Hydra's '+'."""
    from omegaconf import DictConfig, OmegaConf

    try:
        return isinstance(node, DictConfig) and OmegaConf.get_type(node) is dict
    except Exception:
        return False


def _unknown_key(cause: Exception) -> str:
    from omegaconf import OmegaConf

    from lab.core.config import did_you_mean

    from lab.config import MOVED_KEYS

    full_key = getattr(cause, "full_key", None) or "?"
    if full_key in MOVED_KEYS:
        return f"{full_key} is now {MOVED_KEYS[full_key]}"
    parent = getattr(cause, "parent_node", None)  # not `or`: an empty section is falsy
    if parent is None:
        parent = getattr(cause, "object", None)
    leaf = full_key.rsplit(".", 1)[-1]
    valid: list[str] = []
    try:
        if parent is not None:
            valid = [str(k) for k in OmegaConf.to_container(parent, resolve=False).keys()]  # type: ignore[union-attr]
    except Exception:
        valid = []
    section = full_key.rsplit(".", 1)[0] if "." in full_key else "the root config"
    if _free_form(parent):  # a dict field (env.kwargs): its keys are passed on as they are, added with '+'
        return (f"unknown key '{full_key}'{did_you_mean(leaf, valid) if valid else ''}; {section} holds keyword "
                f"arguments passed on as they are: add one with '+{full_key}=VALUE'")
    if valid:
        return (f"unknown key '{full_key}'{did_you_mean(leaf, valid)}; valid keys in {section}: "
                f"{', '.join(valid)}")
    return f"unknown key '{full_key}'"


def _first_values(overrides: list[str]) -> Iterable[list[str]]:
    """For a sweep (a=1,2 b=x,y), the combinations that try each value once: a=1 b=x, a=2 b=x, a=1 b=y."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parsed = OverridesParser.create().parse_overrides(overrides)
    values: list[list[str]] = []
    for text, ov in zip(overrides, parsed):
        if ov.is_sweep_override():
            try:
                choices = [f"{ov.get_key_element()}={v}" for v in ov.sweep_string_iterator()]
            except Exception:  # interval/range sweeps of a tuner: nothing to try here
                choices = []
            values.append(choices)
        else:
            values.append([text])
    base = [v[0] for v in values if v]
    yield base
    for i, choices in enumerate(values):
        for choice in choices[1:]:
            combo = [v[0] for v in values[:i] if v] + [choice] + [v[0] for v in values[i + 1:] if v]
            yield combo


def preflight(conf_dir: str, argv: list[str]) -> str | None:
    """Compose the config for `argv` (each sweep value once) and return an error line, or None."""
    return check_overrides(conf_dir, argv)[0]


def check_overrides(conf_dir: str, argv: list[str]) -> tuple[str | None, Any]:
    """preflight's error line (or None), and the first combination's config with its `hydra` node
    (what names the run directory: lab/__main__.py claims it from this, composing nothing twice)."""
    from hydra import compose, initialize_config_dir

    from lab.config import validate

    multirun = any(a in ("-m", "--multirun") for a in argv)
    # One job without flags is composed whole, hydra's own overrides included (hydra.run.dir): the
    # config is its run's (lab/run.py: run_one). Otherwise (a sweep, --cfg ...) Hydra's own keys are
    # Hydra's business, but hydra.searchpath stays: presets outside conf/ (a tuning study's) are
    # found through it
    whole = not any(a.startswith("-") for a in argv)
    overrides = [a for a in argv if whole or (not a.startswith("-") and not a.startswith("hydra/")
                 and (not a.startswith("hydra.") or a.startswith("hydra.searchpath=")))]
    # `--cfg job` and friends take a value that is not an override
    for flag in ("--cfg", "-c", "--package", "-p", "--config-name", "-cn", "--config-path", "-cp",
                 "--config-dir", "-cd", "--experimental-rerun"):
        if flag in argv:
            i = argv.index(flag)
            if i + 1 < len(argv) and argv[i + 1] in overrides:
                overrides.remove(argv[i + 1])
    try:
        combos = list(_first_values(overrides)) if multirun else [overrides]
        first = None
        for combo in combos:
            error = _missing_preset(conf_dir, combo)
            if error:
                return error, None
            with initialize_config_dir(config_dir=conf_dir, version_base="1.3"):
                cfg = compose("config", overrides=combo, return_hydra_config=first is None)
            first = cfg if first is None else first
            error = validate(cfg)
            if error:
                return error, None
        return missing_launcher(conf_dir, argv), first
    except Exception as exc:
        message = explain_hydra_error(exc)
        if message is None:
            raise
        return message, None


# Groups the root config loads as `optional`: Hydra skips an optional default whose option it
# cannot find, so without this check `agent_env=typo` (or a tuning study's preset without the
# hydra.searchpath that finds it) would train silently without the preset.
_OPTIONAL_GROUPS = ("agent_env", "agent_data")


def _missing_preset(conf_dir: str, overrides: list[str]) -> str | None:
    """One line for a hydra.searchpath directory that does not exist or an optional preset not found."""
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from lab.core.config import did_you_mean

    parsed = OverridesParser.create().parse_overrides(overrides)
    searchpath = [text for text, ov in zip(overrides, parsed) if ov.get_key_element() == "hydra.searchpath"]
    for ov in parsed:
        if ov.get_key_element() == "hydra.searchpath" and isinstance(ov.value(), list):
            for entry in ov.value():
                path = str(entry).removeprefix("file://")
                if str(entry).startswith("file://") and not os.path.isdir(path):
                    return f"hydra.searchpath: no directory {path} (give file://DIR, e.g. a tuning study's directory)"
    chosen = [(ov.key_or_group, ov.value()) for ov in parsed
              if ov.key_or_group in _OPTIONAL_GROUPS and not ov.is_delete() and isinstance(ov.value(), str)]
    for group, name in chosen:
        with initialize_config_dir(config_dir=conf_dir, version_base="1.3"):
            options = GlobalHydra.instance().config_loader().get_group_options(  # type: ignore[union-attr]
                group, config_name="config", overrides=searchpath)
        if name not in options:
            hint = "" if searchpath else "; a tuning study's preset also needs 'hydra.searchpath=[file://STUDY_DIR]'"
            return (f"unknown {group} '{name}'; choose one of: {', '.join(sorted(options))}"
                    f"{did_you_mean(name, options)}{hint}")
    return None


# Launcher plugins kept out of the main environment, and where to get them.
_LAUNCHER_INSTALL = {
    "hydra_ray_launcher": 'the `ray` extra, in an environment of its own: python3 -m venv .venv-ray && '
                          '.venv-ray/bin/pip install torch==2.13.0 && .venv-ray/bin/pip install -e ".[ray]"',
}


def missing_launcher(conf_dir: str, argv: list[str]) -> str | None:
    """One line when `-m hydra/launcher=NAME` needs a plugin this environment lacks (else Hydra's traceback)."""
    import importlib.util

    from hydra import compose, initialize_config_dir

    chosen = [a for a in argv if a.startswith("hydra/launcher=")]
    if not chosen or not any(a in ("-m", "--multirun") for a in argv):
        return None
    with initialize_config_dir(config_dir=conf_dir, version_base="1.3"):
        target = str(compose("config", overrides=chosen[-1:], return_hydra_config=True).hydra.launcher._target_)
    module = target.rsplit(".", 1)[0]
    try:
        if importlib.util.find_spec(module) is not None:
            return None
    except ImportError:
        pass
    plugin = module.split(".")[1] if module.startswith("hydra_plugins.") else module
    how = _LAUNCHER_INSTALL.get(plugin, f"pip install {plugin.replace('_', '-')}")
    return f"{chosen[-1]} needs the launcher plugin {plugin.replace('_', '-')}, not installed here; install {how}"
