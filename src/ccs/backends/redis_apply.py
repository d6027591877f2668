"""A generic "conditional apply" for Redis: run some commands only if some keys hold what the
caller expects, in one round trip (``EVALSHA``).

The script knows nothing of the protocol. It gets a list of keys, the SHA-1 (hex) of the value the
caller believes each holds ('' for "absent"), and a flat list of commands. If every key matches it
runs the commands (atomically: a script runs alone) and replies ``[1]``; if any differs it runs
nothing and replies ``[0, value...]``: the current value of every key, so that the caller can
decide again on what is really stored without another read. The protocol's transition stays in
Python (the engine computes the writes locally, on the records it believes are stored); the
server only checks the belief and applies.

Errors follow ``MULTI/EXEC``: a command refused before anything was written (``OOM`` at
``maxmemory`` with ``noeviction``: Redis refuses a script's first write, not its later ones) is
returned as the script's error and nothing was applied; a command that fails after a write (a key
of the store holding another type: someone else wrote there) does not stop the others, and the
reply is ``[2, first error]``: applied in part, as ``EXEC`` would have.

Digests, not the values themselves: measured on a typical commit (three records, one of 1.8 KB,
and four writes), comparing whole values saved the server 1-2 us of about 25 us per call, within
the noise, while it doubles the request for a large record. Keys are read with one ``MGET``
(each call a script makes costs about 2 us).

Every key a command touches is passed in ``KEYS`` too (after the checked ones), as Redis Cluster
requires; the commands themselves name their keys literally.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import redis

try:  # redis-py packs with hiredis too, after a pass over every argument in Python
    from hiredis import pack_command as _hiredis_pack
except ImportError:  # pragma: no cover - hiredis is an optional speed-up of redis-py
    _hiredis_pack = None

APPLY_LUA = b"""
local n = tonumber(ARGV[1])
local current, same = {}, true
for first = 1, n, 500 do
  local last = math.min(first + 499, n)
  local got = redis.call('MGET', unpack(KEYS, first, last))
  for j = 1, last - first + 1 do
    local i = first + j - 1
    local v, want = got[j], ARGV[first + j]
    current[i] = v
    if v then
      if want ~= redis.sha1hex(v) then same = false end
    elseif want ~= '' then
      same = false
    end
  end
end
if not same then
  local out = {0}
  for i = 1, n do out[i + 1] = current[i] end
  return out
end
local i, total, wrote, failed = n + 2, #ARGV, false, nil
while i <= total do
  local argc = tonumber(ARGV[i])
  local reply = redis.pcall(unpack(ARGV, i + 1, i + argc))
  if type(reply) == 'table' and reply.err then
    if not wrote then return reply end
    failed = failed or reply.err
  else
    wrote = true
  end
  i = i + argc + 1
end
if failed then return {2, failed} end
return {1}
"""
APPLY_SHA = hashlib.sha1(APPLY_LUA).hexdigest()  # what SCRIPT LOAD names it

APPLIED, CHANGED, PARTIAL = 1, 0, 2  # the first element of the reply


def expected(body: bytes | None) -> str:
    """What the script compares a key's value with: its SHA-1 (hex), '' for an absent key."""
    return "" if body is None else sha1_hex(body)


def sha1_hex(body: bytes) -> str:
    return hashlib.sha1(body).hexdigest()


class Commands:
    """The commands of one apply, flattened as the script reads them (``argc``, then the command)
    while they are added, with the keys they touch: no list of tuples to flatten afterwards."""

    __slots__ = ("argv", "touched")

    def __init__(self) -> None:
        self.argv: list[Any] = []
        self.touched: dict[Any, None] = {}  # in order, once each

    def add(self, *command: Any) -> None:
        """A command whose second element is the one key it touches (``SET k v``, ``ZADD k ...``)."""
        self.argv.append(len(command))
        self.argv += command
        self.touched[command[1]] = None

    def publish(self, channel: Any, message: Any) -> None:  # a channel is no key
        self.argv += (3, "PUBLISH", channel, message)

    def __bool__(self) -> bool:
        return bool(self.argv)


NO_COMMANDS = Commands()


def evalsha_command(checked: Sequence[bytes | str], digests: Sequence[str], commands: Commands,
                    *, script: bytes | None = None) -> tuple[Any, ...]:
    """The ``EVALSHA`` command (``EVAL`` of ``script`` if given): numkeys, KEYS (the checked keys,
    then every other key a command touches, as Redis Cluster requires), ARGV."""
    touched = [k for k in commands.touched if k not in checked]
    head = ("EVALSHA", APPLY_SHA) if script is None else ("EVAL", script)
    return (*head, len(checked) + len(touched), *checked, *touched, len(checked), *digests,
            *commands.argv)


def roundtrip(conn: Any, command: tuple[Any, ...]) -> Any:
    """Send one command and read its reply (an error reply is returned, not raised). A
    connection left in the middle of a reply is closed: it must not be reused."""
    try:
        packed = _packed(conn, command)
        if packed is None:
            conn.send_command(*command)
        else:
            conn.send_packed_command(packed)  # redis-py's socket error handling, health check
        return conn.read_response()
    except redis.ResponseError as exc:
        return exc
    except BaseException:
        conn.disconnect()
        raise


def _packed(conn: Any, command: tuple[Any, ...]) -> list[bytes] | None:
    """``command`` packed by hiredis, byte for byte what redis-py would send (str as UTF-8, int
    and float as their ``repr``), when the connection uses that encoding; ``None``: let redis-py
    pack it (no hiredis, another encoding, or an argument hiredis refuses: redis-py reports it)."""
    if _hiredis_pack is None:
        return None
    encoder = conn.encoder
    if encoder.encoding not in ("utf-8", "utf8") or encoder.encoding_errors != "strict":
        return None
    try:
        return [_hiredis_pack(command)]
    except (TypeError, ValueError):
        return None
