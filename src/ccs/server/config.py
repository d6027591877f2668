"""``ccs serve`` configuration: where it listens, its tokens, and which agents each token may act as.

The token is a bearer secret in a file only its owner can read (0600): generated there on first
start, read on later ones. A file others can read, or that another user owns, is refused, as ssh
refuses a private key anyone can read. ``--bind-agents FILE`` (also 0600) maps further tokens to
the agent names each may act as, so one session cannot write as another.
"""

from __future__ import annotations

import ipaddress
import json
import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path

from ccs.coordinator import Limits
from ccs.protocol.errors import InvalidArgument
from ccs.protocol.ids import check_agent_name

TOKEN_FILE_NAME = "serve-token"
MIN_TOKEN_CHARS = 16
ANY_AGENT = "*"
# The JSON envelope around one artifact's content: field names, agent name, artifact id (each
# at most a few KiB), and room for a transaction's per-artifact overhead.
ENVELOPE_BYTES = 64 * 1024


def default_token_file() -> Path:
    """``$XDG_CONFIG_HOME/agent-coherence/serve-token`` (``~/.config/...`` without it)."""
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "agent-coherence" / TOKEN_FILE_NAME


def max_body_bytes(limits: Limits) -> int:
    """The largest request body: one artifact at the library's content limit, sent as base64
    (4 bytes per 3), plus the envelope. Anything larger could not be stored anyway."""
    return (limits.max_content_bytes + 2) // 3 * 4 + ENVELOPE_BYTES


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_private(path: Path, what: str) -> os.stat_result:
    st = path.stat()
    if not stat.S_ISREG(st.st_mode):
        raise InvalidArgument(f"{what} {path} is not a regular file", parameter=what.replace(" ", "_"))
    if st.st_mode & 0o077:
        raise InvalidArgument(
            f"{what} {path} can be read by other users (mode {stat.S_IMODE(st.st_mode):o})",
            parameter=what.replace(" ", "_"), recover=f"chmod 600 {path}, then start again")
    if hasattr(os, "getuid") and st.st_uid != os.getuid():
        raise InvalidArgument(f"{what} {path} belongs to another user (uid {st.st_uid})",
                              parameter=what.replace(" ", "_"),
                              recover="use a token file you own, mode 600")
    return st


def load_or_create_token(path: Path) -> tuple[str, bool]:
    """The token in ``path``, created (0600, in a 0700 directory) if the file does not exist.
    Returns the token and whether it was created now."""
    created = False
    if not path.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another server created it meanwhile: use theirs
            pass
        else:
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_urlsafe(32) + "\n")
            created = True
    _check_private(path, "token file")
    token = path.read_text(encoding="utf-8").strip()
    if len(token) < MIN_TOKEN_CHARS or any(c.isspace() for c in token):
        raise InvalidArgument(f"token file {path} holds no usable token (one line of at least "
                              f"{MIN_TOKEN_CHARS} characters, no spaces)", parameter="token_file",
                              recover=f"remove {path} to have a new token generated, or write one there")
    return token, created


def load_bindings(path: Path) -> dict[str, frozenset[str] | None]:
    """``{"<token>": ["planner", "writer"], "<token2>": ["*"]}`` -> token -> allowed agent names
    (``None``: any name). A name ending in ``*`` is a prefix pattern: ``claude-code:*`` allows
    every Claude Code session's agent (``claude-code:<session_id>``), and only those."""
    _check_private(path, "bind-agents file")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidArgument(f"bind-agents file {path} is not JSON ({exc})", parameter="bind_agents") \
            from None
    if not isinstance(raw, dict) or not raw:
        raise InvalidArgument(f"bind-agents file {path} must map tokens to lists of agent names",
                              parameter="bind_agents",
                              recover='write {"<token>": ["planner"], "<other token>": ["writer"]}')
    out: dict[str, frozenset[str] | None] = {}
    for token, names in raw.items():
        if len(token) < MIN_TOKEN_CHARS or any(c.isspace() for c in token):
            raise InvalidArgument(f"bind-agents file {path}: a token shorter than {MIN_TOKEN_CHARS} "
                                  "characters or with spaces", parameter="bind_agents")
        if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
            raise InvalidArgument(f"bind-agents file {path}: the names of a token must be a non-empty "
                                  "list of strings", parameter="bind_agents")
        for name in names:
            if name == ANY_AGENT:
                continue
            if "*" in name[:-1]:
                raise InvalidArgument(f"bind-agents file {path}: {name[:80]!r}: '*' may only end a "
                                      "name (a prefix pattern such as 'claude-code:*')",
                                      parameter="bind_agents")
            check_agent_name(name.removesuffix("*"))
        out[token] = None if ANY_AGENT in names else frozenset(names)
    return out


@dataclass(frozen=True)
class ServeConfig:
    engine: str
    host: str = "127.0.0.1"
    port: int = 8787
    token_file: Path | None = None  # None: default_token_file()
    bind_agents: Path | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    read_only: bool = False
    request_timeout: float = 30.0
    strategy: str = "lazy"

    @property
    def tls(self) -> bool:
        return self.tls_cert is not None

    def check(self) -> None:
        """Refuse what would expose the state: a non-loopback bind without TLS and an explicit
        token file, half a TLS configuration, a non-positive timeout."""
        if (self.tls_cert is None) != (self.tls_key is None):
            raise InvalidArgument("--tls-cert and --tls-key go together", parameter="tls",
                                  recover="pass both, or neither")
        if not is_loopback(self.host) and (not self.tls or self.token_file is None):
            raise InvalidArgument(
                f"refusing to listen on {self.host}, which is not a loopback address, without TLS "
                "and an explicit token file", parameter="host",
                recover="pass --tls-cert, --tls-key and --token-file (or listen on 127.0.0.1 and "
                        "put a TLS-terminating proxy in front)")
        if not (self.request_timeout > 0):
            raise InvalidArgument("--request-timeout must be > 0 seconds", parameter="request_timeout")
        if not (0 <= self.port <= 65535):
            raise InvalidArgument(f"--port must be 0..65535, got {self.port}", parameter="port")
