"""A batch's run of puts of items the caller has read is one engine transaction (one commit id
in the audit log for all of them); when one item moved, the batch behaves as it always did, put
by put: the earlier puts land, the stale one raises, the later ones do not run."""

from __future__ import annotations

import pytest
from langgraph.store.base import GetOp, PutOp

from ccs import StaleView
from ccs.adapters import CCSStore

NS = ("team", "notes")


def committed(store: CCSStore) -> list:
    return [e for e in store.core.coordinator.audit() if e.outcome == "committed"]


@pytest.mark.parametrize("engine", ["memory://", "sqlite"])
def test_puts_of_read_items_commit_as_one_transaction(engine, tmp_path):
    url = f"sqlite:///{tmp_path}/s.db" if engine == "sqlite" else engine
    store = CCSStore(engine=url)
    writer = store.for_agent("writer")
    for k in range(5):
        writer.put(NS, f"k{k}", {"n": 0})
    writer.batch([GetOp(NS, f"k{k}") for k in range(5)])
    before = len(committed(store))
    results = writer.batch([PutOp(NS, f"k{k}", {"n": k + 1}) for k in range(5)])
    assert results == [None] * 5
    new = committed(store)[before:]
    assert len(new) == 5 and {e.op for e in new} == {"transaction"}
    assert len({e.commit_id for e in new}) == 1  # one engine transaction for the five puts
    reader = store.for_agent("reader")
    assert [reader.get(NS, f"k{k}").value for k in range(5)] == [{"n": k + 1} for k in range(5)]
    store.close()


def test_a_stale_item_in_the_run_keeps_the_put_by_put_behaviour():
    store = CCSStore()
    writer, peer = store.for_agent("writer"), store.for_agent("peer")
    for k in range(4):
        writer.put(NS, f"k{k}", {"n": 0})
    writer.batch([GetOp(NS, f"k{k}") for k in range(4)])
    peer.get(NS, "k2")
    peer.put(NS, "k2", {"n": "peer"})  # k2 moves after the writer read it
    with pytest.raises(StaleView):
        writer.batch([PutOp(NS, f"k{k}", {"n": "w"}) for k in range(4)])
    reader = store.for_agent("reader")
    assert [reader.get(NS, f"k{k}").value["n"] for k in range(4)] == ["w", "w", "peer", 0]
    store.close()
