"""Initial-state strategies: one small module each, registered by name in :data:`STRATEGIES`.

Imported in the order the choices are listed to users (zero, noisy, learned, learned_noisy,
adaptive, encoder, context).
"""

# isort: off
from .base import BUILTINS, STRATEGIES, InitialState, register
from .build import build_strategy
from .zero import Zero
from .noisy import Noisy
from .learned import Learned, LearnedNoisy
from .adaptive import Adaptive
from .encoder import Encoder
from .context import Context
# isort: on

BUILTINS.update(STRATEGIES)  # register() now refuses to replace these unless replace=True

__all__ = [
    "BUILTINS",
    "STRATEGIES",
    "Adaptive",
    "Context",
    "Encoder",
    "InitialState",
    "Learned",
    "LearnedNoisy",
    "Noisy",
    "Zero",
    "build_strategy",
    "register",
]
