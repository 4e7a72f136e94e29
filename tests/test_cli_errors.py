"""Bad input on the command line: one `error: ...` line naming the path, no traceback
unless `--verbose` asks for it; the same through `python -m spacy_bertram`."""
import subprocess
import sys
import tarfile
from importlib.metadata import entry_points
from pathlib import Path
from typing import List, Tuple

import pytest
from spacy.tokens import DocBin
from typer.testing import CliRunner

from spacy_bertram.cli import load_commands


def _train(tmp_path: Path, encoder: Path) -> Tuple[List[str], Path]:
    missing = tmp_path / "missing.sqlite"
    return ["train", str(missing), "--output", str(tmp_path / "model"), "--encoder", str(encoder)], missing


def _rarify(tmp_path: Path, encoder: Path) -> Tuple[List[str], Path]:
    missing = tmp_path / "missing.spacy"
    return ["rarify", "split", str(missing), str(tmp_path / "split")], missing


def _evaluate(tmp_path: Path, encoder: Path) -> Tuple[List[str], Path]:
    DocBin().to_disk(tmp_path / "test.spacy")
    (tmp_path / "test.jsonl").write_text("", encoding="utf8")
    missing = tmp_path / "no-pipeline"
    return ["evaluate", "downstream", str(tmp_path / "test.spacy"), "-r", str(tmp_path / "test.jsonl"),
            f"plain={missing}"], missing


def _crw_not_a_tar(tmp_path: Path, encoder: Path) -> Tuple[List[str], Path]:
    data = tmp_path / "crw-dev.tar.gz"
    data.write_text("not an archive\n", encoding="utf8")
    return ["evaluate", "crw", "--data", str(data)], data


def _crw_truncated(tmp_path: Path, encoder: Path) -> Tuple[List[str], Path]:
    folder = tmp_path / "crw-dev"
    (folder / "context").mkdir(parents=True)
    (folder / "CRW-550.txt").write_text("".join(f"w{i}\tv{i}\t{i % 10}\n" for i in range(5000)), encoding="utf8")
    with tarfile.open(tmp_path / "full.tar.gz", "w:gz") as archive:
        archive.add(folder, arcname="crw-dev")
    whole = (tmp_path / "full.tar.gz").read_bytes()
    data = tmp_path / "crw-dev.tar.gz"
    data.write_bytes(whole[: len(whole) // 2])
    return ["evaluate", "crw", "--data", str(data)], data


def _index(tmp_path: Path, encoder: Path) -> Tuple[List[str], Path]:
    missing = tmp_path / "no-corpus"
    return ["index", str(missing), "--store", str(tmp_path / "store.sqlite")], missing


def _attach(tmp_path: Path, encoder: Path) -> Tuple[List[str], Path]:
    missing = tmp_path / "no-pipeline"
    return ["attach", str(missing), str(tmp_path / "out"), "--model", str(tmp_path / "model")], missing


CASES = {"train": _train, "rarify": _rarify, "evaluate": _evaluate, "crw-not-a-tar": _crw_not_a_tar,
         "crw-truncated": _crw_truncated,
         "index": _index, "attach": _attach}


@pytest.mark.parametrize("case", sorted(CASES))
def test_user_error_is_one_line_and_verbose_adds_the_traceback(case, tmp_path, tiny_bert_path):
    args, path = CASES[case](tmp_path, tiny_bert_path)
    app = load_commands()
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and str(path) in lines[0], result.output
    assert "Traceback" not in result.output

    verbose = CliRunner().invoke(app, ["--verbose", *args])
    assert verbose.exit_code == 1
    assert "Traceback (most recent call last)" in verbose.stderr
    assert verbose.stderr.splitlines()[-1] == lines[0]


def test_verbose_from_the_environment(tmp_path, tiny_bert_path):
    args, _ = _index(tmp_path, tiny_bert_path)
    result = CliRunner().invoke(load_commands(), args, env={"SPACY_BERTRAM_VERBOSE": "1"})
    assert result.exit_code == 1 and "Traceback (most recent call last)" in result.stderr


def _console_script() -> List[str]:
    """The installed `spacy-bertram` script's entry point, run as its wrapper runs it."""
    (entry,) = entry_points(group="console_scripts", name="spacy-bertram")
    module, function = entry.value.split(":")
    return [sys.executable, "-c", f"import sys; from {module} import {function}; sys.exit({function}())"]


@pytest.mark.parametrize("launcher", ["python -m", "console script"])
def test_launchers_go_through_the_handler(launcher, tmp_path):
    command = [sys.executable, "-m", "spacy_bertram"] if launcher == "python -m" else _console_script()
    args, path = _crw_not_a_tar(tmp_path, tmp_path)
    result = subprocess.run([*command, *args], capture_output=True, text=True, timeout=120)
    assert result.returncode == 1, result.stderr
    last = result.stderr.splitlines()[-1]
    assert last.startswith("error: ") and str(path) in last, result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("bug", [AssertionError("a bug"), ImportError("cannot import x", name="spacy_bertram.model")])
def test_internal_errors_keep_their_traceback(bug, tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise bug

    monkeypatch.setattr("spacy_bertram.cli.index.index_corpus", broken)
    args, _ = _index(tmp_path, tmp_path)
    result = CliRunner().invoke(load_commands(), args)
    assert result.exception is bug and "error: " not in result.output
