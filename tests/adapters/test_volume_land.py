"""Landing a commit: the volume writes what it just committed under the file's lock without
reading the record back; a commit made meanwhile outside any volume is a pending repair."""

from __future__ import annotations

from ccs.adapters.coherent_volume import CoherentVolume

F = "f.txt"


def test_writes_do_not_read_the_record_back(tmp_path):
    with CoherentVolume(tmp_path, agent="a") as a:
        a.write(F, "1")
        reads = []
        real = a.coordinator.artifact
        a.coordinator.artifact = lambda aid: reads.append(aid) or real(aid)
        a.write(F, "2")
        a.write_cas_at(F, 2, "3")
        a.write_cas(F, lambda s: s + "4")
        a.delete(F)
        assert reads == []
    assert not (tmp_path / F).exists()


def test_commit_from_outside_any_volume_meanwhile_is_repaired_on_next_access(tmp_path):
    with CoherentVolume(tmp_path, agent="a") as a:
        a.write(F, "1")
        outsider = a.core.agent("outsider")
        commit = a.agent.write

        def commit_then_outsider(aid, payload):
            version = commit(aid, payload)
            outsider.read_with_version(aid)
            outsider.write(aid, b"from outside")  # no volume, no lock
            return version

        a.agent.write = commit_then_outsider
        assert a.write(F, "2") == 2
        assert (tmp_path / F).read_text() == "2"
        assert a.status(F)["files"][0]["disk"] == "pending"
        assert a.read(F) == "from outside"
    assert (tmp_path / F).read_text() == "from outside"
