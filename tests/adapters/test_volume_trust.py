"""A volume whose state was lost, emptied or damaged: bytes on disk the state does not know are
foreign (adopted on read, never overwritten unread), a damaged state file is a typed error that
touches no file, and lost managed globs are not silently widened to ``**``."""

from __future__ import annotations

import os
import sqlite3
from contextlib import closing

import pytest

from ccs.adapters.coherent_volume import CoherentVolume
from ccs.protocol.errors import CorruptState, ForeignEdit

MANAGED = ("plans/**",)


def tree(root) -> dict[str, bytes]:
    """Every workspace file (outside .ccs/) and its bytes."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        if ".ccs" in dirnames:
            dirnames.remove(".ccs")
        for name in filenames:
            path = os.path.join(dirpath, name)
            with open(path, "rb") as f:
                out[os.path.relpath(path, root)] = f.read()
    return out


def make_state(root, n: int = 2) -> None:
    with CoherentVolume(root, managed=MANAGED, agent="before") as v:
        for i in range(n):
            v.write(f"plans/f{i}.md", f"file {i}, written through the volume\n" * (1 + 400 * i))
    db = os.path.join(root, ".ccs", "state.db")
    with closing(sqlite3.connect(db)) as conn:  # fold the WAL into the file: it alone is the state
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    for suffix in ("-wal", "-shm"):
        if os.path.exists(db + suffix):
            os.unlink(db + suffix)


def lose_state(root, how: str) -> None:
    db = os.path.join(root, ".ccs", "state.db")
    if how == "emptied":
        open(db, "wb").close()  # 0 bytes: SQLite would take it for a new, empty database
    else:
        os.unlink(db)
    assert os.listdir(os.path.join(root, ".ccs", "locks")), "the lock files (old marks) stay"


@pytest.mark.parametrize("how", ["emptied", "deleted"])
def test_lost_state_adopts_files_on_read_and_never_overwrites_them_unread(tmp_path, how):
    make_state(tmp_path)
    lose_state(tmp_path, how)
    before = tree(tmp_path)
    with CoherentVolume(tmp_path, managed=MANAGED, agent="after") as v:
        # A write from a volume that never read the file must not replace its bytes.
        with pytest.raises(ForeignEdit) as info:
            v.write("plans/f1.md", "blind overwrite\n")
        err = info.value.to_dict()
        assert err["code"] == "foreign_edit" and "read()" in err["recover"]
        with pytest.raises(ForeignEdit):
            v.write_cas_at("plans/f1.md", 0, "blind overwrite\n")
        with pytest.raises(ForeignEdit):
            v.publish({"plans/f1.md": "blind\n", "plans/new.md": "new\n"})
        assert tree(tmp_path) == before

        # Reading adopts the bytes on disk as a new version, like a foreign edit.
        assert v.read("plans/f0.md") == "file 0, written through the volume\n"
        assert v.read_with_version("plans/f0.md").version == 1
        assert [f["disk"] for f in v.status()["files"]] == ["clean"]
        text = v.read("plans/f1.md")
        assert v.write("plans/f1.md", text + "an informed change\n") == 2
    assert tree(tmp_path)["plans/f1.md"] == before["plans/f1.md"] + b"an informed change\n"


def test_lost_state_does_not_silently_become_a_workspace_managing_everything(tmp_path):
    """With the state gone, the globs it recorded are gone too: managed=None (the MCP server's
    default without SWG_MANAGED) must not quietly become ``**``."""
    make_state(tmp_path)
    lose_state(tmp_path, "emptied")
    before = tree(tmp_path)
    with pytest.raises(CorruptState) as info:
        CoherentVolume(tmp_path, managed=None, agent="guess")
    err = info.value.to_dict()
    assert err["code"] == "corrupt_state" and "managed=" in err["recover"]
    assert tree(tmp_path) == before
    with CoherentVolume(tmp_path, managed=MANAGED, agent="told") as v:  # saying the globs works
        assert v.read("plans/f0.md") == "file 0, written through the volume\n"
    with CoherentVolume(tmp_path, managed=None, agent="later") as v:  # and is recorded again
        assert v.managed == MANAGED


def test_new_workspace_with_managed_none_still_defaults_to_everything(tmp_path):
    (tmp_path / "notes.md").write_text("mine\n")
    with CoherentVolume(tmp_path, managed=None, agent="first") as v:
        assert v.managed == ("**",)
        with pytest.raises(ForeignEdit):
            v.write("notes.md", "overwrite\n")
        assert v.read("notes.md") == "mine\n"
    assert (tmp_path / "notes.md").read_text() == "mine\n"


def _garbage(data: bytes) -> bytes:
    return bytes(range(256)) * (len(data) // 256)


def _truncated_mid_page(data: bytes) -> bytes:
    return data[: len(data) // 2 + 1000]


def _damaged_pages(data: bytes) -> bytes:
    # The header page and the schema stay; the pages after the first few are overwritten.
    keep = 4 * 4096
    return data[:keep] + b"\xa5" * (len(data) - keep)


def _other_application(_: bytes) -> bytes:
    return b""  # replaced below by a real SQLite file with another schema


@pytest.mark.parametrize("damage", [_garbage, _truncated_mid_page, _damaged_pages, _other_application],
                         ids=["garbage", "truncated_mid_page", "damaged_pages", "other_application"])
def test_damaged_state_is_a_typed_error_that_touches_no_file(tmp_path, damage):
    make_state(tmp_path, n=6)
    db = tmp_path / ".ccs" / "state.db"
    db.write_bytes(damage(db.read_bytes()))
    if damage is _other_application:
        db.unlink()
        with closing(sqlite3.connect(db)) as conn:
            conn.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)")
            conn.commit()
    before, state_before = tree(tmp_path), db.read_bytes()

    def use():
        with CoherentVolume(tmp_path, managed=MANAGED, agent="after") as v:
            for i in range(6):
                v.read(f"plans/f{i}.md")
            v.status()
            v.write("plans/f0.md", "overwrite\n")

    with pytest.raises(CorruptState) as info:
        use()
    err = info.value.to_dict()
    assert err["code"] == "corrupt_state" and err["recover"]
    assert "state.db" in info.value.message or "state.db" in str(err.get("details"))
    assert tree(tmp_path) == before
    if damage is not _other_application:
        assert db.read_bytes() == state_before
