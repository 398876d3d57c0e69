"""Everything the lab learns from: Gymnasium envs (vectorised), the built-in games, GAN data.

``envs`` imports nothing of ``agents`` or ``lab``.
"""

from envs import mario
from envs.factory import EnvError, env_spec, make_vec

mario.register()  # lab/Mario-v0, the built-in platformer

__all__ = ["EnvError", "env_spec", "make_vec"]
