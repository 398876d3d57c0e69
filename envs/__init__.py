"""Everything the lab learns from: Gymnasium envs (vectorised), the built-in games, GAN data.

``envs`` imports nothing of ``agents`` or ``lab``.
"""

from envs.factory import EnvError, env_spec, make_vec

__all__ = ["EnvError", "env_spec", "make_vec"]
