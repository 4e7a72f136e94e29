"""The context store under hostile input: NUL words, damaged stores, directories and
read-only files or folders.

Tests run as root, which ignores file permissions; the read-only cases therefore run
their store code in a subprocess as the unprivileged user `nobody` (setpriv), where
the permission checks are real.
"""
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

import spacy_bertram
from spacy_bertram.contexts import ContextStore
from spacy_bertram.contexts.store import is_indexed_word

PACKAGE_ROOT = Path(spacy_bertram.__file__).parents[1]
NOBODY = 65534


def _as_unprivileged(code: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run Python code as `nobody` (or as this user when it is not root)."""
    command = [sys.executable, "-c", code]
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("needs setpriv to drop root privileges")
        command = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"] + command
    env = dict(os.environ, PYTHONPATH=str(PACKAGE_ROOT), HOME=str(cwd))
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture
def shared_dir():
    """A folder `nobody` can reach (pytest's tmp_path lies under a root-only folder)."""
    folder = Path(tempfile.mkdtemp(prefix="bertram-ro-", dir="/tmp"))
    folder.chmod(0o755)
    yield folder
    for path in [folder, *folder.rglob("*")]:
        if path.is_dir():
            path.chmod(0o755)
    shutil.rmtree(folder)


def _small_store(path: Path) -> None:
    with ContextStore(path) as store:
        store.add_sentences(["The cat sat on the mat.", "A cat, a dog."])


def test_nul_words_are_never_indexed_nor_looked_up(tmp_path):
    with ContextStore(tmp_path / "s.db") as store:
        store.add_sentences(["The cat sat.", "A cat ran."])
        got = store.contexts_many(["ca\0t", "cat", "\0"])
        assert got["ca\0t"] == got["\0"] == [] and sorted(got["cat"]) == ["A cat ran.", "The cat sat."]
        assert store.contexts("ca\0t") == [] and store.count("ca\0t") == 0
    assert not is_indexed_word("ca\0t") and is_indexed_word("cat")


@pytest.mark.parametrize("damage", ["DELETE FROM meta WHERE key = 'seed'", "DELETE FROM meta", "DROP TABLE sources"])
@pytest.mark.parametrize("read_only", [False, True])
def test_a_store_missing_its_settings_is_named_with_the_fix(tmp_path, damage, read_only):
    path = tmp_path / "s.db"
    _small_store(path)
    with sqlite3.connect(path) as conn:
        conn.execute(damage)
    expected = r"s\.db is not a complete spacy-bertram context store .*python -m spacy_bertram index"
    with pytest.raises(ValueError, match=expected):
        ContextStore(path, read_only=read_only)


@pytest.mark.parametrize("read_only", [False, True])
def test_a_directory_is_not_a_store(tmp_path, read_only):
    with pytest.raises(ValueError, match=rf"{tmp_path} is a directory, not a context store; .*contexts\.sqlite"):
        ContextStore(tmp_path, read_only=read_only)


def test_a_wal_store_in_a_read_only_folder_is_readable(shared_dir):
    folder = shared_dir / "packaged"
    folder.mkdir()
    _small_store(folder / "s.db")
    assert sorted(p.name for p in folder.iterdir()) == ["s.db"]  # checkpointed on close
    folder.chmod(0o555)
    code = (
        "from spacy_bertram.contexts import ContextStore\n"
        "store = ContextStore('packaged/s.db', read_only=True)\n"
        "print(store.count('cat'), store.contexts('dog'), store.stats()['words'])\n"
    )
    result = _as_unprivileged(code, shared_dir)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[0] == "2 ['A cat, a dog.'] 7"
    assert sorted(p.name for p in folder.iterdir()) == ["s.db"]


def test_unmerged_wal_in_a_read_only_folder_is_named(shared_dir):
    folder = shared_dir / "copied"
    folder.mkdir()
    writer = ContextStore(shared_dir / "live.db")
    writer.add_sentences(["The cat sat."])  # stays in live.db-wal while the writer is open
    for name in ("live.db", "live.db-wal"):
        shutil.copy(shared_dir / name, folder / name)
    writer.close()
    folder.chmod(0o555)
    code = "from spacy_bertram.contexts import ContextStore\nContextStore('copied/live.db', read_only=True)\n"
    result = _as_unprivileged(code, shared_dir)
    assert result.returncode == 1
    assert "copied/live.db cannot be read in place" in result.stderr and "live.db-wal" in result.stderr


@pytest.mark.parametrize("read_only_part", ["file", "folder"])
def test_writing_a_read_only_store_names_the_path_and_the_fix(shared_dir, read_only_part):
    folder = shared_dir / "stores"
    folder.mkdir()
    _small_store(folder / "s.db")
    (shared_dir / "corpus.txt").write_text("The cat sat on the mat.\n")
    (folder / "s.db").chmod(0o444)
    if read_only_part == "folder":
        folder.chmod(0o555)
    before = (folder / "s.db").read_bytes()
    code = "from spacy_bertram.cli import main\nmain()\n"
    result = _as_unprivileged(
        "import sys\nsys.argv = ['spacy_bertram', 'index', 'corpus.txt', '--store', 'stores/s.db']\n" + code,
        shared_dir,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and "OperationalError" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if "stores/s.db" in line]
    assert lines and "Cannot write the context store stores/s.db" in lines[0] and "new store path" in lines[0]
    assert (folder / "s.db").read_bytes() == before
