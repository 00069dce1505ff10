"""A synthetic forecasting task in which the start of every sequence genuinely matters.

The process: a randomly drawn, stable, nonlinear state-space model with a latent state
``z_t`` (``D = latent_dim``) observed through ``C = num_channels < D`` noisy linear channels::

    z_{t+1} = (1 - a) * z_t + a * tanh(W z_t + b) + s * sqrt(2 a) * eps_t     eps_t ~ N(0, I_D)
    x_t     = U z_t + obs_noise * eta_t                                        eta_t ~ N(0, I_C)

* ``a`` (``(D,)``) are leak rates ``1 / tau`` with time constants ``tau`` spread geometrically
  over ``[min_timescale, max_timescale]`` (2 to 40 steps), so some latent components forget in a
  couple of steps and others remember for longer than a whole short window (25 steps).
* ``W`` (``(D, D)``) is Gaussian rescaled to a maximum absolute row sum ``rho < 1``. ``tanh`` is
  1-Lipschitz, so the update is a contraction in the max-norm (its Jacobian has max-norm at most
  ``max_i 1 - a_i (1 - rho) < 1``): the system is stable and has one stationary distribution.
* ``b`` (``(D,)``) has entries of magnitude 1 to 2 with random signs, which puts the stationary
  mean of ``z`` near ``±tanh(b) ≈ ±0.9`` in every component, about three stationary standard
  deviations (``≈ s = 0.3``) away from zero.
* ``U`` (``(C, D)``) is Gaussian / ``sqrt(D)``: three channels see mixtures of eight latents, so
  no single observation reveals ``z_t``; it has to be inferred from the history.

Why this process: every sequence (short window or long series) starts from the *stationary*
distribution, reached by ``burn_in`` unobserved steps from ``z = 0`` before the first emission.
At a sequence's first step the forecaster has no history, so the best it can do is the
stationary prior; an RNN that starts from ``h0 = 0`` has to learn that its zero state means
"typical latent, far from zero" while its running state means "the filtered latent", and the
slow latent components keep that start-up error alive for tens of steps. A process started from
``z = 0`` instead (what a zero state "believes") is off by about four stationary standard
deviations at step 0 and still by about one after 25 steps (``tests/data/test_synthetic.py``
checks this with numbers). So ``h0`` matters, and it matters far more per time step when the data
are 2,000 windows of 25 steps (``synthetic_short``, regime ``windows``) than 10 series of 5,000
steps (``synthetic_long``, regime ``stateful``) — the two regimes of claim H4, drawn from the
same system at the same total number of training steps.

Why ``forecast`` rather than tokens: the latent is continuous, the per-step MSE directly shows
the start-up transient as a function of position, and the error floor (observation noise) is
known. Values are standardised per channel with the train split's statistics only.

Determinism: the system (``W, b, a, U``) depends only on ``system_seed`` (shared by both
regimes); the sequences depend on ``seed`` and the split, each split drawn from its own
``numpy.random.Generator`` (train, val and test are disjoint draws, and changing one split's size
leaves the others unchanged). The global RNGs are never touched.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import torch

from .base import REGIMES, SequenceDataset, Split, normalize

SPLITS = ("train", "val", "test")

# Defaults per regime: equal total steps (train 50,000; val and test 10,000 each).
DEFAULT_SIZES = {
    "windows": {"num_sequences": 2000, "length": 25, "val_sequences": 400, "test_sequences": 400},
    "stateful": {"num_sequences": 10, "length": 5000, "val_sequences": 2, "test_sequences": 2},
}
DEFAULT_NAMES = {"windows": "synthetic_short", "stateful": "synthetic_long"}


@dataclass(frozen=True)
class System:
    """The process parameters (see the module docstring).

    Attributes:
        W: ``(D, D)`` recurrent weights, maximum absolute row sum ``rho``.
        b: ``(D,)`` bias, magnitudes in ``[1, 2]``.
        leak: ``(D,)`` leak rates ``a = 1 / tau``.
        noise: ``(D,)`` latent noise std per step, ``s * sqrt(2 a)``.
        U: ``(C, D)`` observation matrix.
        obs_noise: observation noise std.
    """

    W: np.ndarray
    b: np.ndarray
    leak: np.ndarray
    noise: np.ndarray
    U: np.ndarray
    obs_noise: float

    @property
    def latent_dim(self) -> int:
        return self.W.shape[0]

    @property
    def num_channels(self) -> int:
        return self.U.shape[0]

    def fingerprint(self) -> str:
        """A short hash of the parameters: equal across regimes iff the system is the same."""
        h = hashlib.sha256()
        for arr in (self.W, self.b, self.leak, self.noise, self.U, np.array([self.obs_noise])):
            h.update(np.ascontiguousarray(arr, dtype=np.float64).tobytes())
        return h.hexdigest()[:16]


def make_system(
    system_seed: int = 0,
    *,
    latent_dim: int = 8,
    num_channels: int = 3,
    rho: float = 0.9,
    min_timescale: float = 2.0,
    max_timescale: float = 40.0,
    latent_noise: float = 0.3,
    obs_noise: float = 0.1,
) -> System:
    """Draw the system from ``system_seed`` alone (tag 0 keeps it apart from the split streams)."""
    if not 0 < rho < 1:
        raise ValueError(f"rho must be in (0, 1) for a stable system, got {rho}")
    if not 1 <= min_timescale <= max_timescale:
        raise ValueError(
            f"need 1 <= min_timescale <= max_timescale, got {min_timescale}, {max_timescale}"
        )
    rng = np.random.default_rng([system_seed, 0])
    tau = rng.permutation(np.geomspace(min_timescale, max_timescale, latent_dim))
    leak = 1.0 / tau
    W = rng.standard_normal((latent_dim, latent_dim))
    W *= rho / np.abs(W).sum(1).max()  # max-norm rho < 1 → contraction
    b = rng.choice([-1.0, 1.0], latent_dim) * rng.uniform(1.0, 2.0, latent_dim)
    U = rng.standard_normal((num_channels, latent_dim)) / np.sqrt(latent_dim)
    # sqrt(2a) keeps the stationary spread near latent_noise whatever each component's timescale.
    noise = latent_noise * np.sqrt(2.0 * leak)
    return System(W=W, b=b, leak=leak, noise=noise, U=U, obs_noise=float(obs_noise))


def simulate(
    system: System,
    num_sequences: int,
    length: int,
    rng: np.random.Generator,
    *,
    burn_in: int = 320,
    z0: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Run ``num_sequences`` independent chains, vectorised over sequences.

    Args:
        z0: ``(D,)`` or ``(S, D)`` starting latent before the burn-in; default zeros. With
            ``burn_in=320`` (eight times the slowest time constant) the start is forgotten and the
            first emitted step is a stationary draw.

    Returns:
        ``(z, x)``: latents ``(S, length, D)`` and observations ``(S, length, C)``, float64.
    """
    # float32 noise is drawn ~3x faster than float64 and is plenty for a synthetic benchmark.
    eps = rng.standard_normal(
        (burn_in + length, num_sequences, system.latent_dim), dtype=np.float32
    )
    eta = rng.standard_normal((num_sequences, length, system.num_channels), dtype=np.float32)
    return _run(system, eps, eta, burn_in, z0)


def load(
    *,
    regime: str = "windows",
    num_sequences: int | None = None,
    length: int | None = None,
    val_sequences: int | None = None,
    test_sequences: int | None = None,
    seed: int = 0,
    system_seed: int = 0,
    burn_in: int | None = None,
    standardize: bool = True,
    name: str | None = None,
    **system_options,
) -> SequenceDataset:
    """Sample the synthetic forecasting dataset.

    Args:
        regime: ``"windows"`` (default sizes 2,000 / 400 / 400 sequences of 25 steps) or
            ``"stateful"`` (10 / 2 / 2 sequences of 5,000 steps); any size left ``None`` takes
            the regime's default.
        seed: picks the sampled sequences (each split from its own stream).
        system_seed: picks the process parameters; keep it equal across regimes.
        burn_in: unobserved steps from ``z = 0`` before the first emission; default
            ``8 * max_timescale`` (320), which leaves the start bias below 0.01 stationary
            standard deviations, so every sequence begins at a stationary draw.
        standardize: apply train-split mean/std per channel (off only for inspection/tests).
        name: overrides ``synthetic_short`` / ``synthetic_long``.
        **system_options: forwarded to :func:`make_system` (``latent_dim``, ``num_channels``,
            ``rho``, ``min_timescale``, ``max_timescale``, ``latent_noise``, ``obs_noise``).

    Returns:
        A ``forecast`` :class:`SequenceDataset`; each split's ``values`` is ``(S * length, C)``
        float32 and ``lengths`` is ``(S,)``.
    """
    if regime not in REGIMES:
        raise ValueError(f"unknown regime {regime!r}; valid choices: {', '.join(REGIMES)}")
    given = {
        "num_sequences": num_sequences,
        "length": length,
        "val_sequences": val_sequences,
        "test_sequences": test_sequences,
    }
    sizes = {k: DEFAULT_SIZES[regime][k] if v is None else int(v) for k, v in given.items()}
    if sizes["length"] < 2:
        raise ValueError(f"length must be >= 2 (one input/target pair), got {sizes['length']}")
    if sizes["num_sequences"] < 1 or sizes["val_sequences"] < 0 or sizes["test_sequences"] < 0:
        raise ValueError(f"need num_sequences >= 1 and val/test_sequences >= 0, got {sizes}")
    if burn_in is None:
        burn_in = int(np.ceil(8 * system_options.get("max_timescale", 40.0)))
    if burn_in < 0:
        raise ValueError(f"burn_in must be >= 0, got {burn_in}")
    system = make_system(system_seed, **system_options)
    counts = dict(
        zip(
            SPLITS,
            (sizes["num_sequences"], sizes["val_sequences"], sizes["test_sequences"]),
            strict=True,
        )
    )
    # One generator per split, one time loop for all three: the splits are independent draws,
    # yet generation runs burn_in + length vectorised steps in total, not three times that.
    L = sizes["length"]
    rngs = [np.random.default_rng([seed, 1 + i]) for i in range(len(SPLITS))]
    eps, eta = [], []
    for split, rng in zip(SPLITS, rngs, strict=True):
        eps.append(
            rng.standard_normal((burn_in + L, counts[split], system.latent_dim), dtype=np.float32)
        )
        eta.append(rng.standard_normal((counts[split], L, system.num_channels), dtype=np.float32))
    _, x = _run(system, np.concatenate(eps, axis=1), np.concatenate(eta, axis=0), burn_in)
    bounds = np.cumsum([0] + [counts[s] for s in SPLITS])
    splits = {}
    for i, split in enumerate(SPLITS):
        part = x[bounds[i] : bounds[i + 1]]
        values = torch.from_numpy(part.reshape(-1, system.num_channels).astype(np.float32))
        splits[split] = Split(values, torch.full((counts[split],), L, dtype=torch.long))
    mean = std = None
    if standardize:
        mean, std = normalize(splits["train"], splits["val"], splits["test"])
    return SequenceDataset(
        name=name or DEFAULT_NAMES[regime],
        task="forecast",
        regime=regime,
        **splits,
        num_channels=system.num_channels,
        norm_mean=mean,
        norm_std=std,
        info={
            "source": "synthetic nonlinear state-space process (initstate.data.synthetic)",
            "seed": seed,
            "system_seed": system_seed,
            "system_fingerprint": system.fingerprint(),
            "latent_dim": system.latent_dim,
            "timescales": [round(float(t), 2) for t in sorted(1.0 / system.leak)],
            "burn_in": burn_in,
            **sizes,
            **system_options,
        },
    )


def _run(
    system: System, eps: np.ndarray, eta: np.ndarray, burn_in: int, z0: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Latents ``(S, L, D)`` and observations ``(S, L, C)`` from the noise: ``eps`` is
    ``(burn_in + L, S, D)`` (time-major, so each step reads one contiguous slab), ``eta`` is
    ``(S, L, C)``."""
    steps, S, D = eps.shape
    z = np.zeros((S, D)) if z0 is None else np.broadcast_to(np.asarray(z0, float), (S, D)).copy()
    zs = np.empty((steps - burn_in, S, D))
    keep, leak, Wt, b, noise = 1.0 - system.leak, system.leak, system.W.T, system.b, system.noise
    for t in range(steps):  # the time recursion is sequential; each step is vectorised over S
        z = keep * z + leak * np.tanh(z @ Wt + b) + noise * eps[t]
        if t >= burn_in:
            zs[t - burn_in] = z
    zs = zs.transpose(1, 0, 2)
    return zs, zs @ system.U.T + system.obs_noise * eta
