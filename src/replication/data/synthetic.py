"""A synthetic forecasting task in which the start of every sequence genuinely matters.

The process: ``K`` randomly drawn, noisy, nonlinear limit-cycle oscillators (complex states
``w_k``, latent ``z = [Re w, Im w]`` of size ``D = 2K``) seen through ``C < D`` noisy linear
channels::

    w_{t+1} = exp(i theta_k (1 + shear (|w_t| / r_k - 1))) * w_t * (r_k / |w_t|) ** lam_k
              + sigma_k * (eps_t + i eps'_t) / sqrt(2)                       eps ~ N(0, 1)
    x_t     = U [Re w_t, Im w_t] + obs_noise * eta_t                          eta ~ N(0, I_C)

* the amplitude map ``log|w'| = (1 - lam) log|w| + lam log r`` attracts every non-zero state to
  the ring ``|w_k| = r_k`` (radius 0.5 to 1.5) with rate ``lam_k`` (0.1 to 0.3 per step) and is
  stable for any amplitude; the origin is its one *unstable* fixed point.
* ``theta_k = 2 pi / period_k`` with periods spread geometrically over 4 to 24 steps; ``shear``
  makes the frequency grow with the amplitude (amplitude-phase coupling, a genuinely nonlinear
  effect that no linear filter captures).
* ``sigma_k = phase_noise * r_k`` (0.1 rad per step) diffuses the phases, so the process is
  ergodic with a unique stationary law: phases uniform, amplitudes near ``r_k``.
* ``U`` (``(C, D)``, Gaussian / ``sqrt(K)``): two channels see mixtures of four oscillators, so no
  single observation reveals the phases; they must be inferred from the history.

Every sequence (short window or long series) starts from the stationary law, reached by
``burn_in`` unobserved steps from ``w = 0``: isotropic noise keeps the phases exactly uniform, and
100 steps (ten times the slowest amplitude time constant) take the amplitudes to the ring.

Why this process: the typical state is far from zero: every oscillator sits on its ring,
``|w_k| ≈ r_k`` with a spread of 0.10 to 0.16 ``r_k`` (``system_seed`` 0), i.e. zero
lies 6 to 10 standard deviations away, and it is the unstable fixed point that the process never visits. A zero state is
therefore systematically wrong, not merely uninformed: the same process started from ``w = 0``
emits 9% of the stationary amplitude at step 0, about half after 5 steps, three quarters after 10.
And the first steps are intrinsically hard: at a sequence's start the forecaster knows neither
phases nor amplitudes, so the best linear forecast from the history available has 11 to 14 times
its steady-state MSE at step 0 and still about 1.5 times at step 5 (``system_seed`` 0)
(``tests/data/test_synthetic.py`` checks these numbers). So ``h0`` matters, far more per time step
for 2,000 windows of 25 steps (``synthetic_short``, regime ``windows``) than for 10 series of
5,000 steps (``synthetic_long``, regime ``stateful``), the two sides of claim H4, drawn from the
same system at the same total number of training steps. (A latent whose *mean* is shifted away
from zero would not do: observed linearly, the shift is a constant that normalisation and any
output bias remove; phases and amplitudes are what no bias can supply.)

Why ``forecast`` rather than tokens: the latent is continuous, the per-step MSE directly shows the
start-up transient as a function of position, and the error floor (observation noise) is known.
Values are standardised per channel with the train split's statistics only.

Determinism: the system depends only on ``system_seed`` (shared by both regimes); the sequences
depend on ``seed`` and the split, each split drawn from its own ``numpy.random.Generator`` (train,
val and test are disjoint draws, and one split's size leaves the others unchanged). The global
RNGs are never touched.
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
MIN_RELAX = 0.1  # make_system's default slowest amplitude relaxation rate (sets the burn-in)


@dataclass(frozen=True)
class System:
    """The process parameters (see the module docstring); ``K`` oscillators, ``C`` channels.

    Attributes:
        theta: ``(K,)`` angle per step at the ring (``2 pi / period``).
        radius: ``(K,)`` ring radii ``r_k``.
        relax: ``(K,)`` amplitude relaxation rates ``lam_k``.
        noise: ``(K,)`` complex noise std ``sigma_k``.
        U: ``(C, 2K)`` observation matrix acting on ``[Re w, Im w]``.
        shear: relative frequency change per unit relative amplitude change.
        obs_noise: observation noise std.
    """

    theta: np.ndarray
    radius: np.ndarray
    relax: np.ndarray
    noise: np.ndarray
    U: np.ndarray
    shear: float
    obs_noise: float

    @property
    def num_oscillators(self) -> int:
        return len(self.theta)

    @property
    def num_channels(self) -> int:
        return self.U.shape[0]

    def fingerprint(self) -> str:
        """A short hash of the parameters: equal across regimes iff the system is the same."""
        h = hashlib.sha256()
        for arr in (self.theta, self.radius, self.relax, self.noise, self.U):
            h.update(np.ascontiguousarray(arr, dtype=np.float64).tobytes())
        h.update(np.array([self.shear, self.obs_noise]).tobytes())
        return h.hexdigest()[:16]


def make_system(
    system_seed: int = 0,
    *,
    num_oscillators: int = 4,
    num_channels: int = 2,
    min_period: float = 4.0,
    max_period: float = 24.0,
    min_relax: float = MIN_RELAX,
    max_relax: float = 0.3,
    phase_noise: float = 0.1,
    shear: float = 0.3,
    obs_noise: float = 0.1,
) -> System:
    """Draw the system from ``system_seed`` alone (tag 0 keeps it apart from the split streams)."""
    if not 2 < min_period <= max_period:
        raise ValueError(f"need 2 < min_period <= max_period, got {min_period}, {max_period}")
    if not 0 < min_relax <= max_relax < 1:
        raise ValueError(f"need 0 < min_relax <= max_relax < 1, got {min_relax}, {max_relax}")
    K = num_oscillators
    rng = np.random.default_rng([system_seed, 0])
    # Geometric spacing guarantees both fast and slow oscillators whatever the seed.
    period = rng.permutation(np.geomspace(min_period, max_period, K))
    relax = rng.uniform(min_relax, max_relax, K)
    radius = rng.uniform(0.5, 1.5, K)
    U = rng.standard_normal((num_channels, 2 * K)) / np.sqrt(K)
    return System(
        theta=2 * np.pi / period,
        radius=radius,
        relax=relax,
        noise=phase_noise * radius,  # relative to the radius: the same phase diffusion per ring
        U=U,
        shear=float(shear),
        obs_noise=float(obs_noise),
    )


def simulate(
    system: System,
    num_sequences: int,
    length: int,
    rng: np.random.Generator,
    *,
    burn_in: int = 100,
    w0: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Run ``num_sequences`` independent chains, vectorised over sequences.

    Args:
        w0: ``(K,)`` or ``(S, K)`` complex start before the burn-in; default zeros. Use
            ``burn_in=0`` to see what a zero start does.

    Returns:
        ``(z, x)``: latents ``(S, length, 2K)`` as ``[Re w, Im w]`` and observations
        ``(S, length, C)``, float64.
    """
    eps, eta = _noise(system, num_sequences, length, burn_in, rng)
    return _run(system, eps, eta, burn_in, w0)


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
        burn_in: unobserved steps from ``w = 0`` before the first emission; default
            ``ceil(10 / min_relax)`` (100), which leaves the amplitudes within ``e^-10`` of
            stationarity, so every sequence begins at a stationary draw.
        standardize: apply train-split mean/std per channel (off only for inspection/tests).
        name: overrides ``synthetic_short`` / ``synthetic_long``.
        **system_options: forwarded to :func:`make_system` (``num_oscillators``,
            ``num_channels``, ``min_period``, ``max_period``, ``min_relax``, ``max_relax``,
            ``phase_noise``, ``shear``, ``obs_noise``).

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
    system = make_system(system_seed, **system_options)
    if burn_in is None:
        burn_in = int(np.ceil(10 / system_options.get("min_relax", MIN_RELAX)))
    if burn_in < 0:
        raise ValueError(f"burn_in must be >= 0, got {burn_in}")
    L = sizes["length"]
    counts = [sizes["num_sequences"], sizes["val_sequences"], sizes["test_sequences"]]
    # One generator per split but one time loop for all three: the splits are independent draws,
    # yet generation costs burn_in + L vectorised steps in total, not three times that.
    noises = [
        _noise(system, n, L, burn_in, np.random.default_rng([seed, 1 + i]))
        for i, n in enumerate(counts)
    ]
    eps = np.concatenate([e for e, _ in noises], axis=1)
    eta = np.concatenate([e for _, e in noises], axis=0)
    _, x = _run(system, eps, eta, burn_in)
    bounds = np.cumsum([0, *counts])
    splits = {}
    for i, split in enumerate(SPLITS):
        part = x[bounds[i] : bounds[i + 1]].reshape(-1, system.num_channels)
        splits[split] = Split(
            torch.from_numpy(part.astype(np.float32)), torch.full((counts[i],), L, dtype=torch.long)
        )
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
            "source": "synthetic limit-cycle oscillators (replication.data.synthetic)",
            "seed": seed,
            "system_seed": system_seed,
            "system_fingerprint": system.fingerprint(),
            "periods": [round(float(p), 2) for p in 2 * np.pi / system.theta],
            "burn_in": burn_in,
            **sizes,
            **system_options,
        },
    )


def _noise(system: System, S: int, L: int, burn_in: int, rng: np.random.Generator):
    """``eps`` ``(burn_in + L, S, 2K)`` (time-major: each step reads one contiguous slab) and
    ``eta`` ``(S, L, C)``; float32 because it is drawn ~3x faster and is plenty here."""
    eps = rng.standard_normal((burn_in + L, S, 2 * system.num_oscillators), dtype=np.float32)
    eta = rng.standard_normal((S, L, system.num_channels), dtype=np.float32)
    return eps, eta


def _run(
    system: System, eps: np.ndarray, eta: np.ndarray, burn_in: int, w0: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Latents ``(S, L, 2K)`` and observations ``(S, L, C)`` from the noise (see :func:`_noise`)."""
    steps, S, _ = eps.shape
    K = system.num_oscillators
    w = np.zeros((S, K), complex)
    if w0 is not None:
        w = np.broadcast_to(np.asarray(w0, complex), (S, K)).copy()
    ws = np.empty((steps - burn_in, S, K), complex)
    r, lam, theta, shear = system.radius, system.relax, system.theta, system.shear
    kick = system.noise / np.sqrt(2)
    for t in range(steps):  # the recursion is sequential in time; each step is vectorised over S
        amp = np.maximum(np.abs(w), 1e-12)  # w = 0 maps to 0 (times a finite gain), never NaN
        turn = np.exp(1j * theta * (1 + shear * (amp / r - 1)))
        w = turn * w * (r / amp) ** lam + kick * (eps[t, :, :K] + 1j * eps[t, :, K:])
        if t >= burn_in:
            ws[t - burn_in] = w
    z = np.concatenate([ws.real, ws.imag], axis=-1).transpose(1, 0, 2)
    return z, z @ system.U.T + system.obs_noise * eta
