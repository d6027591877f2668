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
    return "" if body is None else hashlib.sha1(body).hexdigest()


def apply_args(checked: Sequence[bytes | str], bodies: Sequence[bytes | None],
               commands: Sequence[tuple[Any, ...]]) -> list[Any]:
    """``EVALSHA``'s arguments after the script's SHA: numkeys, KEYS, ARGV."""
    touched = dict.fromkeys(c[1] for c in commands if c[0] != "PUBLISH")  # PUBLISH: a channel
    for key in checked:
        touched.pop(key, None)
    keys = [*checked, *touched]
    args: list[Any] = [len(keys), *keys, len(checked), *map(expected, bodies)]
    for command in commands:
        args.append(len(command))
        args.extend(command)
    return args
