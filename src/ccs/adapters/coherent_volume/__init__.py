"""Plain files under a root, shared coherently by processes (see ``volume.py``)."""

from __future__ import annotations

from ccs.adapters.coherent_volume.volume import CONFIG_ID, CoherentVolume

__all__ = ["CONFIG_ID", "CoherentVolume"]
