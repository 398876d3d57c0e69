"""Everything the lab learns from: Gymnasium envs (vectorised), the built-in games, GAN data.

``envs`` imports nothing of ``agents`` or ``lab``.
"""

from envs import masked, mario, smb
from envs.errors import EnvError, EnvStepError
from envs.factory import env_spec, make_vec

mario.register()  # lab/Mario-v0, the built-in platformer
masked.register()  # lab/CartPoleNoVel-v1, CartPole without velocities (for recurrent policies)
# lab/SMB-v0, the real NES game: registered by name only (nothing of the NES packages is imported);
# without the `smb` extra, building it raises one line that says how to install it.
smb.register()

__all__ = ["EnvError", "EnvStepError", "env_spec", "make_vec"]
