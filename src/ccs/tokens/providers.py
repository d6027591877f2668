"""Provider-neutral token counting: the provider's own tokenizer offline where one is published, its
count-tokens endpoint when an API key is configured, and a stated fallback otherwise.

=========  ===========================================  =============================================
provider   offline                                       endpoint (with a key)
=========  ===========================================  =============================================
openai     ``o200k_base`` (extra ``[openai]``:           ``POST /v1/responses/input_tokens``
           ``bpe-openai`` ships it), else ``cl100k_base``  (``OPENAI_API_KEY``)
mistral    Tekken via ``mistral-common`` (``[mistral]``:  none published; offline only
           the vocabulary ships in the wheel)
anthropic  none published: ``cl100k_base``, named as an   ``POST /v1/messages/count_tokens``
           approximation                                  (``ANTHROPIC_API_KEY``)
=========  ===========================================  =============================================

Every counter has a ``name`` saying which of these it is; reports print it next to each figure.
Endpoint counters use the standard library only (``urllib``) and are never called by the
benchmarks: their counts cannot feed the billing model (no token ids), and runs stay offline.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
import warnings
from collections import OrderedDict
from typing import Any

from ccs.protocol.errors import CoherenceError, InvalidArgument
from ccs.tokens.counter import TiktokenCounter, TokenCounter, TokenizerUnavailable, memo

PROVIDERS = ("openai", "mistral", "anthropic")


class CountEndpointError(CoherenceError):
    code = "count_endpoint_failed"
    default_recover = "check the API key and base URL, or count offline (api_key=None)"
    retryable = True


class BpeOpenAICounter:
    """``o200k_base`` (or another OpenAI encoding) from the ``bpe-openai`` package, offline."""

    def __init__(self, encoding: str = "o200k_base") -> None:
        with warnings.catch_warnings():  # its loader uses a deprecated importlib.resources call
            warnings.simplefilter("ignore", DeprecationWarning)
            try:
                import bpe_openai
            except ImportError as exc:
                raise TokenizerUnavailable("pip install 'agent-coherence[openai]' for o200k_base offline") \
                    from exc
            self._enc = bpe_openai.get_encoding(encoding)
            self._enc.encode("warm up")  # the vocabulary loads on first use
        self.name = f"bpe-openai:{encoding}"
        self._ids: OrderedDict[str, tuple[int, ...]] = OrderedDict()

    def encode(self, text: str) -> tuple[int, ...]:
        return memo(self._ids, 4096, text, lambda: tuple(self._enc.encode(text)))

    def count(self, text: str) -> int:
        return len(self.encode(text))


class MistralCounter:
    """Mistral's Tekken tokenizer from ``mistral-common`` (its vocabulary ships in the wheel)."""

    def __init__(self) -> None:
        try:
            from mistral_common.tokens.tokenizers.mistral import MistralTokenizer
        except ImportError as exc:
            raise TokenizerUnavailable("pip install 'agent-coherence[mistral]' for Mistral's tokenizer") \
                from exc
        self._tok = MistralTokenizer.v3(is_tekken=True).instruct_tokenizer.tokenizer
        self.name = "mistral-common:tekken-v3"

    def encode(self, text: str) -> tuple[int, ...]:
        return tuple(self._tok.encode(text, bos=False, eos=False))

    def count(self, text: str) -> int:
        return len(self.encode(text))


class EndpointCounter:
    """Counts with the provider's count-tokens endpoint (one HTTPS call per distinct text)."""

    def __init__(self, provider: str, model: str, api_key: str, *, base_url: str | None = None,
                 timeout: float = 30.0) -> None:
        if provider not in ("openai", "anthropic"):
            raise InvalidArgument(f"{provider!r} publishes no count-tokens endpoint", argument="provider",
                                  recover="use provider='openai' or 'anthropic', or an offline counter")
        self.provider, self.model, self._key, self.timeout = provider, model, api_key, timeout
        default = "https://api.openai.com" if provider == "openai" else "https://api.anthropic.com"
        self.base_url = (base_url or default).rstrip("/")
        self.name = f"{provider}-endpoint:{model}"
        self._cache: dict[str, int] = {}

    def _request(self, text: str) -> urllib.request.Request:
        if self.provider == "openai":
            url, body = f"{self.base_url}/v1/responses/input_tokens", {"model": self.model, "input": text}
            headers = {"Authorization": f"Bearer {self._key}"}
        else:
            url = f"{self.base_url}/v1/messages/count_tokens"
            body = {"model": self.model, "messages": [{"role": "user", "content": text}]}
            headers = {"x-api-key": self._key, "anthropic-version": "2023-06-01"}
        return urllib.request.Request(url, json.dumps(body).encode(), method="POST",
                                      headers={**headers, "content-type": "application/json"})

    def count(self, text: str) -> int:
        n = self._cache.get(text)
        if n is not None:
            return n
        try:
            with urllib.request.urlopen(self._request(text), timeout=self.timeout) as resp:
                payload: Any = json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            raise CountEndpointError(f"{self.name}: HTTP {exc.code}", provider=self.provider) from exc
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise CountEndpointError(f"{self.name}: {type(exc).__name__}: {exc}",
                                     provider=self.provider) from exc
        n = payload.get("input_tokens") if isinstance(payload, dict) else None
        if not isinstance(n, int):
            raise CountEndpointError(f"{self.name}: no input_tokens in the reply", provider=self.provider)
        self._cache[text] = n
        return n


class NamedFallback:
    """An offline stand-in for a provider without a published tokenizer: the name says so."""

    def __init__(self, inner: TokenCounter, provider: str) -> None:
        self._inner = inner
        self.name = f"approx:{inner.name} for {provider}"

    def count(self, text: str) -> int:
        return self._inner.count(text)

    def encode(self, text: str) -> tuple[int, ...]:
        return self._inner.encode(text)  # type: ignore[attr-defined]


KEYS = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY"}


def counter_for(provider: str, *, model: str | None = None, api_key: str | None = None,
                use_endpoint: bool = False, base_url: str | None = None) -> TokenCounter:
    """The most faithful counter available for ``provider``: its endpoint when ``use_endpoint``
    and a key (argument or environment) are set, else its offline tokenizer, else the fallback."""
    if provider not in PROVIDERS:
        raise InvalidArgument(f"unknown provider {provider!r}", argument="provider",
                              recover=f"use one of {PROVIDERS}")
    key = api_key or os.environ.get(KEYS.get(provider, ""), "")
    if use_endpoint and key and provider in KEYS:
        if not model:
            raise InvalidArgument("counting with the endpoint needs a model name", argument="model",
                                  recover="pass model='...' (the model the prompts go to)")
        return EndpointCounter(provider, model, key, base_url=base_url)
    if provider == "openai":
        try:
            return BpeOpenAICounter("o200k_base")
        except TokenizerUnavailable:
            return TiktokenCounter("cl100k_base")
    if provider == "mistral":
        return MistralCounter()
    return NamedFallback(TiktokenCounter("cl100k_base"), provider)
