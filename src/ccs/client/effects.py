"""Effect gate: run an external side effect only on inputs that have not moved, exactly once per key.

    with agent.effect(depends_on=["plan"]) as e:
        e.run(send_email, {"to": "ops@example.com"}, key="plan-email-7")

``run`` does three steps, each one engine transaction or one call:

1. **decide**: check that every input is still at the version (and epoch) this agent read it at
   and, in the same transaction, record a *pending* intent in the engine's outbox under ``key``
   (the idempotency id). An input that moved refuses it with the error a write derived from it
   would get (``StaleView``, ``StaleEpoch``, ``GrantReclaimed``): nothing is recorded or run.
2. **run**: call ``side_effect(key, payload)``. The effect must use ``key`` for its own
   deduplication (an idempotency key of the API it calls, a file name, a unique row).
3. **record**: mark the intent *done* with the effect's result.

What is guaranteed, on every engine:

* the effect is decided on current inputs: at the decision transaction every input was at the
  version the agent read, and any later commit to an input is ordered after the effect;
* an effect decided is never lost: a crash between steps 1 and 3 leaves the intent pending, and
  ``agent.resume_effects(handlers)`` (or another process doing so) runs it again *with the same
  key*;
* a key that is done is never run again while its record is kept: ``run`` with it returns the
  recorded result. ``agent.prune_effects(older_than=...)`` deletes done records past a horizon;
  a key deleted so runs again.

So the effect is called **at least once per key**, and more than once only when a crash (or a
concurrent resume) hit between steps 1 and 3; it *happens* exactly once when the effect
deduplicates by its key. An effect that raises stays pending (it may have half happened) and
the exception propagates; ``resume_effects`` retries it.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ccs import failpoints
from ccs.client.entries import new_commit_id
from ccs.coordinator import effects as outbox
from ccs.protocol.arguments import check_number
from ccs.protocol.effects import DONE
from ccs.protocol.errors import (
    ConflictError,
    InvalidArgument,
    InvalidIdentifier,
    InvalidValue,
    OutcomeUnknown,
)
from ccs.protocol.ids import agent_name, check_artifact_id

if TYPE_CHECKING:
    from ccs.client.agent import Agent


@dataclass(frozen=True, slots=True)
class EffectRecord:
    """One outbox entry: an effect decided on ``inputs`` (artifact -> [version, epoch])."""

    key: str
    effect: str
    payload: Any
    inputs: dict[str, list]
    agent: str
    status: str  # "pending" or "done"
    result: Any = None
    created_at: float = 0.0

    @staticmethod
    def from_document(doc: Mapping[str, Any]) -> EffectRecord:
        return EffectRecord(doc["key"], doc["effect"], doc.get("payload"), dict(doc["inputs"]),
                            doc["agent"], doc["status"], doc.get("result"),
                            float(doc.get("created_at", 0.0)))


def _check_key(key: object) -> str:
    try:
        return check_artifact_id(key)
    except InvalidIdentifier as err:
        raise InvalidArgument(f"invalid effect key: {err.message}", parameter="key",
                              recover="use a non-empty string (at most 1024 bytes of UTF-8, no "
                                      "control characters); nothing was recorded or run") from None


def _recordable(result: Any) -> Any:
    """The effect's result as the outbox stores it: itself if JSON can hold it, else its repr."""
    try:
        json.dumps(result)
        return result
    except (TypeError, ValueError):
        return repr(result)


NEXT_CALL = ("{artifact} moved to version {version} since you read it: read it again, decide "
             "whether the effect still applies, and run it again with agent.effect(depends_on=...)")


def _packet(agent: Agent, err: ConflictError) -> ConflictError:
    """Let the refusal render as a conflict packet (``err.conflict_packet()``, from
    ``ccs.merge.packet`` where this build has it): based on the first moved input at the version
    read, with nothing of yours to diff (an effect writes no content), and the next call to make.
    Without that module the error still names every moved input in ``details["moved"]``."""
    try:
        from ccs.merge.packet import RefusalContext
    except ImportError:
        return err
    first = err.details["moved"][0]
    aid, version = first["artifact"], first["read_version"]
    entry = agent._lookup(aid)
    if entry is not None and entry.version == version and entry.data is not None:
        base = (entry.data, entry.content.kind)
    else:
        data = agent.coordinator.content_at(aid, version) if version else None
        base = None if data is None else (data, "bytes" if entry is None else entry.content.kind)
    err.context = RefusalContext(aid, version, None if base is None else base[0],
                                 "bytes" if base is None else base[1], agent.coordinator,
                                 base=base, next_call=NEXT_CALL)
    return err


class Effect:
    """The inputs an effect depends on, as this agent read them (see the module docstring)."""

    def __init__(self, agent: Agent, depends_on: Iterable[str]) -> None:
        if isinstance(depends_on, str) or not isinstance(depends_on, Iterable):
            raise InvalidArgument("depends_on must be a list of artifact ids",
                                  parameter="depends_on")
        self.agent = agent
        self.inputs: dict[str, tuple[int, int | None]] = {}
        for aid in depends_on:
            entry = agent._lookup(aid)
            if entry is None:  # never read: this read is the one the effect depends on
                entry = agent.view(aid)
            self.inputs[aid] = (entry.version, entry.epoch)
        self.replayed = False  # the last run returned a recorded result without running

    def run(self, side_effect: Callable[[str, Any], Any], payload: Any = None, *,
            key: str | None = None, name: str | None = None) -> Any:
        """Run ``side_effect(key, payload)`` if every input is unchanged; returns its result
        (the recorded one, without running, when ``key`` is already done). ``payload`` (JSON)
        and ``name`` are recorded so ``resume_effects`` can run it again after a crash."""
        if not callable(side_effect):
            raise InvalidArgument(f"side_effect must be callable, got {type(side_effect).__name__}",
                                  parameter="side_effect")
        key = _check_key(uuid.uuid4().hex if key is None else key)
        name = getattr(side_effect, "__qualname__", type(side_effect).__name__) \
            if name is None else name
        if not isinstance(name, str) or not name:
            raise InvalidArgument(f"name must be a non-empty string, got {name!r}",
                                  parameter="name")
        try:
            json.dumps(payload)
        except (TypeError, ValueError) as exc:
            raise InvalidValue(f"effect payload must be JSON-serializable: {exc}",
                               recover="pass JSON data; nothing was recorded or run") from None
        agent = self.agent
        doc = {"key": key, "effect": name, "payload": payload, "agent": agent.id,
               "agent_name": agent.name, "inputs": {a: list(v) for a, v in self.inputs.items()},
               "status": "pending", "created_at": time.time()}
        commit_id = new_commit_id()
        try:
            state, doc = agent.core.call_with_retry(lambda: outbox.record_intent(
                agent.coordinator, agent.id, key, self.inputs, doc, commit_id))
        except (ConflictError, OutcomeUnknown) as exc:
            for aid in self.inputs:  # what this agent read has moved (or may have): revalidate
                entry = agent._lookup(aid)
                if entry is not None:
                    entry.valid = False
                    entry.prefetched = None
            if isinstance(exc, ConflictError):
                raise _packet(agent, exc) from None
            raise
        if not state.created and (doc.get("effect") != name
                                  or doc.get("payload") != json.loads(json.dumps(payload))):
            raise InvalidArgument(
                f"effect key {key!r} already names another effect (recorded as "
                f"{doc.get('effect')!r}, with its own payload)", parameter="key",
                recover="use a key per effect: a key is the effect's identity, and a repeated key "
                        "runs nothing new; nothing was run")
        self.replayed = state.version >= DONE
        if self.replayed:
            return doc.get("result")
        return complete(agent, doc, side_effect)

    def __enter__(self) -> Effect:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


def complete(agent: Agent, doc: dict[str, Any], side_effect: Callable[[str, Any], Any]) -> Any:
    """Steps 2 and 3 for a pending intent: run the effect with its key, record it done."""
    key = doc["key"]
    failpoints.hit("effect.before_run", agent=agent, key=key)
    result = side_effect(key, doc.get("payload"))
    failpoints.hit("effect.after_run", agent=agent, key=key)
    done = {**doc, "status": "done", "result": _recordable(result), "done_at": time.time(),
            "done_by": agent.id}
    commit_id = new_commit_id()
    agent.core.call_with_retry(lambda: outbox.finish_intent(
        agent.coordinator, agent.id, key, done, commit_id))
    return result


def effects(agent: Agent, *, all_agents: bool = False, status: str | None = None
            ) -> list[EffectRecord]:
    """Outbox entries recorded by agents of this agent's name (any process), or of all agents."""
    out = []
    for rec, key in outbox.outbox(agent.coordinator):
        doc = outbox.read_document(agent.coordinator, rec.content, key)
        if (all_agents or doc.get("agent_name") == agent.name) \
                and (status is None or doc.get("status") == status):
            out.append(EffectRecord.from_document(doc))
    return sorted(out, key=lambda r: (r.created_at, r.key))


def prune(agent: Agent, older_than: float) -> list[str]:
    """Delete the done outbox records (of every agent) recorded done more than ``older_than``
    seconds ago; returns their keys. Pending ones are never deleted. A key deleted is forgotten:
    ``run`` with it again runs the effect again (see docs/effects.md, "Retention")."""
    older_than = check_number("older_than", older_than, minimum=0)
    coord = agent.coordinator
    keys, done_before = agent.core.call_with_retry(lambda: outbox.prunable(coord, older_than))
    return [key for key in keys if agent.core.call_with_retry(
        lambda key=key: outbox.prune(coord, agent.id, key, done_before))]


def resume(agent: Agent, handlers: Mapping[str, Callable[[str, Any], Any]], *,
           all_agents: bool = False, older_than: float = 0.0) -> list[EffectRecord]:
    """Run every pending effect (of this agent's name, or all) again with its own key, by the
    handler registered under its name, and mark it done; returns the ones completed. Effects
    with no handler are left pending; so are ones recorded less than ``older_than`` seconds ago
    (their process may still be running them)."""
    if not isinstance(handlers, Mapping):
        raise InvalidArgument("handlers must map effect names to callables", parameter="handlers")
    done = []
    now = time.time()
    for rec in effects(agent, all_agents=all_agents, status="pending"):
        handler = handlers.get(rec.effect)
        if handler is None or now - rec.created_at < older_than:
            continue
        doc = {"key": rec.key, "effect": rec.effect, "payload": rec.payload,
               "inputs": rec.inputs, "agent": rec.agent, "agent_name": agent_name(rec.agent),
               "status": "pending", "created_at": rec.created_at}
        result = complete(agent, doc, handler)
        done.append(EffectRecord(rec.key, rec.effect, rec.payload, rec.inputs, rec.agent, "done",
                                 _recordable(result), rec.created_at))
    return done
