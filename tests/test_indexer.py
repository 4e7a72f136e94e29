import json
import re
import zipfile
from pathlib import Path

import pytest
import spacy
from spacy.tokens import DocBin
from typer.testing import CliRunner

from spacy_bertram.contexts import ContextStore, index_corpus
from spacy_bertram.contexts import indexer as indexer_module
from spacy_bertram.contexts.readers import list_sources, read_texts

BROWN = Path(__file__).parents[2] / "shared" / "data" / "nltk" / "brown.zip"
if not BROWN.exists():
    BROWN = Path("/work/shared/data/nltk/brown.zip")
SUBSET = "brown/ca0*"  # 9 press texts, ~20k words
needs_brown = pytest.mark.skipif(not BROWN.exists(), reason="shared Brown corpus not available")


def _raw_tag_count(word, members):
    """Occurrences of `word` as a Brown token (or hyphen-joined part of one, which
    spaCy splits off), counted on the raw tagged text."""
    pattern = re.compile(rf"(?:^|\s|-){re.escape(word)}(?=[-/])", re.IGNORECASE)
    with zipfile.ZipFile(BROWN) as archive:
        return sum(
            len(pattern.findall(archive.read(name).decode("utf8")))
            for name in archive.namelist()
            if re.fullmatch(members.replace("*", ".*"), name)
        )


def _store_snapshot(path):
    store = ContextStore(path, read_only=True)
    counts = list(store.counts())
    contexts = store.contexts_many([w for w, _ in counts])
    stats = {k: v for k, v in store.stats().items() if k not in ("path", "file_bytes")}
    return counts, contexts, stats


@needs_brown
def test_brown_reader_strips_tags():
    sources = list_sources([BROWN], members="brown/ca01")
    assert [s.format for s in sources] == ["brown"] and sources[0].name.endswith("!brown/ca01")
    first = next(read_texts(sources[0]))
    assert first.startswith("The Fulton County Grand Jury said Friday an investigation of Atlanta's")
    assert "/" not in first and '" no evidence "' in first
    everything = list_sources([BROWN])
    assert len(everything) == 500  # README, cats.txt and CONTENTS are metadata, skipped


@needs_brown
def test_index_brown_subset_counts_and_rerun(tmp_path):
    store_path = tmp_path / "brown.db"
    summary = index_corpus([BROWN], store_path, members=SUBSET, progress=False, max_contexts_per_word=32)
    assert summary["sources_indexed"] == 9 and summary["sources_skipped"] == 0
    assert summary["tokens"] > 20_000 and summary["tokens_per_second"] > 0
    store = ContextStore(store_path, read_only=True)
    # Words that never carry a clitic in Brown ("Atlanta's" splits into two tokens).
    for word in ("jury", "election", "said", "the"):
        assert store.count(word) == _raw_tag_count(word, SUBSET), word
    assert len(store.contexts("the")) == 32 and store.count("the") > 1000
    assert all("jury" in c.lower() for c in store.contexts("jury"))
    before = _store_snapshot(store_path)
    again = index_corpus([BROWN], store_path, members=SUBSET, progress=False)
    assert again["sources_indexed"] == 0 and again["sources_skipped"] == 9
    assert _store_snapshot(store_path) == before


@needs_brown
def test_interrupted_run_resumes_without_double_counting(tmp_path, monkeypatch):
    clean = tmp_path / "clean.db"
    index_corpus([BROWN], clean, members="brown/ca0[1-4]", progress=False)
    broken = tmp_path / "broken.db"
    original = indexer_module.source_sentences
    seen = []

    def failing(source):
        seen.append(source.name)
        if len(seen) == 3:
            raise RuntimeError("disk unplugged")
        yield from original(source)

    monkeypatch.setattr(indexer_module, "source_sentences", failing)
    with pytest.raises(RuntimeError, match="disk unplugged"):
        index_corpus([BROWN], broken, members="brown/ca0[1-4]", progress=False, flush_pairs=1)
    assert ContextStore(broken, read_only=True).stats()["sources"] == 2
    monkeypatch.setattr(indexer_module, "source_sentences", original)
    resumed = index_corpus([BROWN], broken, members="brown/ca0[1-4]", progress=False)
    assert resumed["sources_skipped"] == 2 and resumed["sources_indexed"] == 2
    assert _store_snapshot(broken) == _store_snapshot(clean)


@needs_brown
def test_local_and_dask_engines_agree(tmp_path):
    from dask.distributed import Client, LocalCluster

    local = tmp_path / "local.db"
    index_corpus([BROWN], local, members=SUBSET, progress=False, max_contexts_per_word=16)
    distributed = tmp_path / "dask.db"
    with LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=":0") as cluster:
        with Client(cluster) as client:
            summary = index_corpus(
                [BROWN], distributed, members=SUBSET, progress=False, max_contexts_per_word=16,
                engine="dask", scheduler=client, n_partitions=3,
            )
    assert summary["sources_indexed"] == 9
    counts, contexts, stats = _store_snapshot(distributed)
    assert (counts, contexts, stats) == _store_snapshot(local)
    assert stats["words"] > 3000 and stats["contexts"] > 10_000


@pytest.mark.slow
@needs_brown
def test_full_brown_local_and_dask_agree(tmp_path):
    from dask.distributed import Client, LocalCluster

    local = tmp_path / "local.db"
    summary = index_corpus([BROWN], local, progress=False)
    assert summary["sources_indexed"] == 500 and summary["sentences"] == 57340
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster:
        with Client(cluster) as client:
            index_corpus([BROWN], tmp_path / "dask.db", progress=False, engine="dask", scheduler=client)
    assert _store_snapshot(tmp_path / "dask.db") == _store_snapshot(local)
    store = ContextStore(local, read_only=True)
    for word in ("jury", "election"):
        assert store.count(word) == _raw_tag_count(word, "brown/c.*"), word


def test_formats_text_jsonl_docbin_and_zip(tmp_path):
    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "notes.txt").write_text(
        "A kumquat fell. Then another kumquat fell!\n\nA third line here.\n", encoding="utf8"
    )
    (tmp_path / "corpus" / "old.txt").write_bytes("Caf\xe9 kumquat in latin-1.".encode("latin-1"))
    (tmp_path / "corpus" / "README").write_text("not corpus text kumquat", encoding="utf8")
    (tmp_path / "records.jsonl").write_text(
        json.dumps({"text": "Json kumquat one. Json kumquat two."}) + "\n\n", encoding="utf8"
    )
    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    DocBin(docs=[nlp("Docbin kumquat first. Docbin second.")]).to_disk(tmp_path / "docs.spacy")
    with zipfile.ZipFile(tmp_path / "lines.zip", "w") as archive:
        archive.writestr("set/a.txt", "one zipped kumquat line .\nanother line .\n")
        archive.writestr("set/", "")
    paths = [tmp_path / "corpus", tmp_path / "records.jsonl", tmp_path / "docs.spacy", tmp_path / "lines.zip"]
    summary = index_corpus(paths, tmp_path / "s.db", progress=False)
    assert summary["sources_indexed"] == 5
    store = ContextStore(tmp_path / "s.db", read_only=True)
    assert sorted(store.contexts("kumquat")) == sorted([
        "A kumquat fell.", "Then another kumquat fell!", "Café kumquat in latin-1.",
        "Json kumquat one.", "Json kumquat two.", "Docbin kumquat first.", "one zipped kumquat line .",
    ])
    assert store.count("kumquat") == 7 and store.count("third") == 1
    lines = index_corpus([tmp_path / "corpus"], tmp_path / "l.db", format="lines", progress=False)
    assert lines["sentences"] == 3
    assert ContextStore(tmp_path / "l.db").contexts("another") == ["A kumquat fell. Then another kumquat fell!"]


def test_bad_input_is_reported(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        index_corpus([tmp_path / "nope.txt"], tmp_path / "s.db", progress=False)
    (tmp_path / "a.txt").write_text("Some text.", encoding="utf8")
    with pytest.raises(ValueError, match="Unknown corpus format 'xml'"):
        index_corpus([tmp_path / "a.txt"], tmp_path / "s.db", format="xml", progress=False)
    with pytest.raises(ValueError, match="Unknown engine"):
        index_corpus([tmp_path / "a.txt"], tmp_path / "s.db", engine="spark", progress=False)
    with pytest.raises(ValueError, match="needs a scheduler"):
        index_corpus([tmp_path / "a.txt"], tmp_path / "s.db", engine="dask", progress=False)
    (tmp_path / "bad.jsonl").write_text('{"text": "fine"}\n{"body": "no text"}\n', encoding="utf8")
    with pytest.raises(ValueError, match='bad.jsonl line 2 has no string "text" field'):
        index_corpus([tmp_path / "bad.jsonl"], tmp_path / "j.db", progress=False)
    assert ContextStore(tmp_path / "j.db").count("fine") == 0  # nothing half-written


def test_cli_index_command(tmp_path):
    import importlib

    from spacy_bertram.cli import COMMAND_MODULES, app

    assert "index" in COMMAND_MODULES
    for name in COMMAND_MODULES:  # as `main()` does: register every command
        importlib.import_module(f"spacy_bertram.cli.{name}")

    (tmp_path / "a.txt").write_text("The kumquat is ripe. The kumquat is sweet.\n", encoding="utf8")
    runner = CliRunner()
    result = runner.invoke(app, ["index", str(tmp_path / "a.txt"), "--store", str(tmp_path / "s.db"), "--max-contexts", "1"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout[result.stdout.index("{"):])["sources_indexed"] == 1
    store = ContextStore(tmp_path / "s.db", max_contexts_per_word=1, read_only=True)
    assert store.count("kumquat") == 2 and len(store.contexts("kumquat")) == 1
    failed = runner.invoke(app, ["index", str(tmp_path / "missing.txt"), "--store", str(tmp_path / "s.db")])
    assert failed.exit_code == 1 and "does not exist" in failed.output


def test_sentence_splitting_matches_spacy_sentencizer():
    from spacy_bertram.contexts.indexer import split_sentences
    from spacy_bertram.contexts.store import english_tokenizer

    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    texts = [
        'Hi!! Wow... ok. (yes.) "Quote." end',
        ". Leading dot then words. And more?",
        "no punct at all",
        "?!",
        'Mr. Smith went to Washington. He said: "Hello!" Then left.  Double  space . ',
        "Ends with a closing bracket (see above.) Next one starts here.",
    ]
    texts += texts[::-1] + ["", "(", ". . ."]
    expected = [s.text.strip() for text in texts for s in nlp(text).sents if s.text.strip()]
    got = list(split_sentences(texts, list(english_tokenizer().pipe(texts))))
    assert [s for s, _, _ in got] == expected
    assert sum(n for _, _, n in got) == sum(not t.is_space for text in texts for t in nlp(text))
    assert [list(a) for _, a, _ in got[:1]] == [[t.lower for t in nlp(texts[0])[:3]]]
