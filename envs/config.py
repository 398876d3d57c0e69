"""Config schemas of what the learners learn from (torch-free)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Optional


def _choices(default: Any, choices: tuple, help: str = "") -> Any:
    # envs/ may not import lab/, so the metadata format of lab.config.spec is repeated here.
    return field(default=default, metadata={"choices": choices, "help": help})


@dataclass
class GymEnvConfig:
    """Any registered Gymnasium id, vectorised. Autoreset is always NEXT_STEP (Gymnasium's default)."""

    name: str = "gym"
    id: str = "CartPole-v1"
    num_envs: int = field(default=8, metadata={"gt": 0})
    vectorization: str = _choices("auto", ("auto", "native", "sync", "async"),
                                  "auto: the env's own vector implementation when it has one, else sync")
    max_episode_steps: Optional[int] = field(default=None, metadata={"gt": 0})
    eval_episodes: int = field(default=10, metadata={"gt": 0, "help": "episodes per evaluation (fixed seeds)"})
    kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass
class MarioEnvConfig(GymEnvConfig):
    """The built-in Mario-like game `lab/Mario-v0` (envs/mario). Every field below the Gym base
    is a keyword argument of `MarioVectorEnv`, under the game's own name (but `level_seed`, the
    game's `seed`: renamed so it is not mistaken for the run's seed)."""

    KWARG_NAMES: ClassVar[dict[str, str]] = {"level_seed": "seed"}
    # what evaluation plays besides the training levels: read by the source (envs/mario/supply.py:
    # heldout_sets), not keyword arguments of the env
    EVAL_KEYS: ClassVar[tuple[str, ...]] = ("eval_levels", "eval_heldout_levels", "eval_level_episodes",
                                            "eval_sticky_actions")

    name: str = "mario"
    id: str = "lab/Mario-v0"
    num_envs: int = field(default=256, metadata={"gt": 0})
    level: Any = field(default="intro", metadata={
        "help": "a built-in level (intro, pits, enemies, stairs), the path of a level file or of a folder of "
                "them, procedural, or a list of those ([intro,pits,DIR]): each game draws a level at every reset"})
    train_levels: Optional[int] = field(default=None, metadata={
        "ge": 0, "help": "level=procedural: null: one level (seed level_seed); N: the N levels with seeds "
                         "level_seed..+N-1; 0: unbounded (new levels keep coming, see level_pool)"})
    level_seed: Optional[int] = field(default=None, metadata={
        "ge": 0, "lt": 2**31, "help": "level=procedural: the (first) generated level's seed (null: 0); the run's seed is the "
                         "top-level seed"})
    difficulty: Any = field(default=0.5, metadata={
        "ge": 0, "le": 1, "help": "level=procedural: difficulty in [0, 1], or a range [low, high] (each seed its own)"})
    level_pool: int = field(default=64, metadata={
        "gt": 0, "help": "train_levels=0: levels in play at once (each reset draws one of them)"})
    level_episodes: int = field(default=64, metadata={
        "gt": 0, "help": "train_levels=0: every this many resets, the pool's oldest level leaves for a new one"})
    level_replay: float = field(default=0.0, metadata={
        "ge": 0, "le": 1, "help": "a level set or pool: the share of training draws that pick a level in proportion "
                                  "to its failure rate so far (prioritized level replay; 0: uniform); evaluation "
                                  "draws uniformly"})
    eval_levels: Any = field(default="auto", metadata={
        "help": "held-out levels evaluation plays besides the training levels: auto (heldout when training on a "
                "level set, else none), none, heldout (eval_heldout_levels procedural levels training never "
                "sees + the built-in levels it does not train on), or levels as env.level takes them"})
    eval_heldout_levels: int = field(default=200, metadata={
        "gt": 0, "help": "held-out procedural levels (seeds from 2^31 on: never training seeds), one episode each"})
    eval_level_episodes: int = field(default=20, metadata={
        "gt": 0, "help": "episodes on each held-out built-in or file level"})
    eval_sticky_actions: Optional[float] = field(default=None, metadata={
        "ge": 0, "lt": 1, "help": "sticky actions on the held-out levels (null: env.sticky_actions; 0.25: the "
                                  "Atari protocol, so repeated episodes differ)"})
    obs: str = _choices("grid", ("grid", "pixels"), "grid: (16, 16) uint8 tile codes of the camera view; pixels: frames")
    grayscale: bool = False
    resolution: Optional[int] = field(default=None, metadata={"gt": 0, "help": "obs=pixels: resample to N x N"})
    frame_stack: int = field(default=1, metadata={"gt": 0, "help": "k > 1 stacks the last k observations"})
    actions: str = _choices("simple", ("simple", "right_only", "complex"), "gym-super-mario-bros' action sets")
    frame_skip: int = field(default=4, metadata={"gt": 0, "help": "game frames per env step (rewards summed)"})
    sticky_actions: float = field(default=0.0, metadata={
        "ge": 0, "lt": 1, "help": "probability of repeating the previous frame's buttons (per frame)"})
    time_limit: int = field(default=400, metadata={"gt": 0, "help": "level timer in SMB units (24 frames each)"})
    flag_bonus: float = field(default=50.0, metadata={"help": "reward on reaching the flag"})


@dataclass
class AtariEnvConfig(GymEnvConfig):
    """Atari games (ale-py) with the DeepMind preprocessing (envs/atari.py). Every field below the
    Gym base is a keyword argument of `envs.atari.make_atari`; `env.kwargs` go to the ALE env."""

    name: str = "atari"
    id: str = "ALE/Pong-v5"
    num_envs: int = field(default=8, metadata={"gt": 0})
    vectorization: str = _choices("auto", ("auto", "sync", "async"),
                                  "auto: sync; async runs each sub-env in its own process")
    noop_max: int = field(default=30, metadata={"ge": 0, "help": "up to N no-op actions after each reset"})
    frame_skip: int = field(default=4, metadata={
        "gt": 0, "help": "frames per env step (action repeated, rewards summed, last two frames max-pooled)"})
    screen_size: int = field(default=84, metadata={"gt": 0, "help": "observations are N x N"})
    grayscale: bool = field(default=True, metadata={"help": "false: RGB, (3 x frame_stack, N, N)"})
    frame_stack: int = field(default=4, metadata={"gt": 0, "help": "observations stack the last k frames"})
    terminal_on_life_loss: bool = field(default=True, metadata={
        "help": "training only: a lost life ends the learner's episode; reported episodes are full games"})
    clip_reward: bool = field(default=True, metadata={
        "help": "training only: learners see sign(reward); reported returns are unclipped"})
    fire_reset: bool = field(default=True, metadata={
        "help": "games whose action 1 is FIRE get FIRE then action 2 after each reset (and each lost life "
                "with terminal_on_life_loss), as DeepMind's FireResetEnv; false: the agent must launch"})
    repeat_action_probability: float = field(default=0.25, metadata={
        "ge": 0, "le": 1, "help": "sticky actions (ALE v5: 0.25; 0 for the deterministic 2015 setting)"})


@dataclass
class SMBEnvConfig(GymEnvConfig):
    """The real NES Super Mario Bros (gym-super-mario-bros, envs/smb.py), with the lab game's pixel
    pipeline: the fields mirror MarioEnvConfig's, so one agent config runs on both. Needs the `smb`
    extra in an environment of its own (it pins numpy<2 and the legacy gym)."""

    name: str = "smb"
    id: str = "lab/SMB-v0"
    num_envs: int = field(default=8, metadata={"gt": 0})
    vectorization: str = _choices("auto", ("auto", "sync", "async"),
                                  "auto: sync; async runs each NES emulator in its own process")
    game: str = field(default="SuperMarioBros-1-1-v0", metadata={
        "help": "a gym-super-mario-bros id: SuperMarioBros-<world>-<stage>-v<0-3> (one stage), "
                "SuperMarioBros-v0 (the whole game), SuperMarioBrosRandomStages-v0, SuperMarioBros2-v0"})
    obs: str = _choices("pixels", ("pixels",), "the NES screen (240x256 RGB, or as set below); no tile grid")
    grayscale: bool = False
    resolution: Optional[int] = field(default=None, metadata={"gt": 0, "help": "resample to N x N (nearest)"})
    frame_stack: int = field(default=1, metadata={"gt": 0, "help": "k > 1 stacks the last k observations"})
    actions: str = _choices("simple", ("simple", "right_only", "complex"), "gym-super-mario-bros' action sets")
    frame_skip: int = field(default=4, metadata={
        "gt": 0, "help": "NES frames per env step (rewards summed, the last two frames max-pooled)"})


ENV_SCHEMAS = {"gym": GymEnvConfig, "mario": MarioEnvConfig, "atari": AtariEnvConfig, "smb": SMBEnvConfig}
