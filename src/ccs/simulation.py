"""``ccs.simulation``: the seed package's import path for the deterministic simulation. A thin
re-export of ``ccs.sim``. See docs/seed-compatibility.md."""

from ccs.sim import *  # noqa: F403
from ccs.sim import __all__  # noqa: F401
