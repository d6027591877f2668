"""The installed package's version, for ``ccs --version`` and the MCP server's ``serverInfo``."""

from __future__ import annotations


def package_version() -> str:
    """The installed distribution's version (``ccs.__version__`` when running from a source tree)."""
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version("agent-coherence")
    except PackageNotFoundError:
        from ccs import __version__
        return __version__
