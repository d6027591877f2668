"""Plain files under a root, shared coherently by processes (see ``volume.py``)."""

from __future__ import annotations

from ccs.adapters.coherent_volume.config import CONFIG_ID
from ccs.adapters.coherent_volume.volume import CoherentVolume

__all__ = ["CONFIG_ID", "CoherentVolume"]
