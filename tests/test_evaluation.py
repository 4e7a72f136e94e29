"""Evaluation: Spearman/similarity, CRW reading, mimicking, downstream groups, report, significance."""
import io
import json
import math
import tarfile
from itertools import product
from pathlib import Path

import numpy
import pytest
import spacy
from spacy.language import Language
from spacy.tokens import DocBin
from typer.testing import CliRunner

from spacy_bertram.evaluation import (
    evaluate_crw, evaluate_downstream, evaluate_similarity, instance_groups, mcnemar_exact,
    holm, mimicking_cosine, paired_bootstrap, read_crw_archive, spearman,
    wordpiece_mean_vectors, write_report,
)
from spacy_bertram.evaluation.similarity import WordPair, parse_pairs
from spacy_bertram.rarify import Replacement

CRW_DEV = Path(__file__).resolve().parents[2] / "shared" / "data" / "crw-dev" / "crw-dev.tar.gz"


def test_spearman_hand_checked():
    # ranks of y with a tie: [1, 2, 3.5, 5, 3.5]; rho = 8 / sqrt(10 * 9.5)
    assert spearman([1, 2, 3, 4, 5], [5, 6, 7, 8, 7]) == pytest.approx(8 / math.sqrt(95))


def test_similarity_scores_missing_pairs_as_zero():
    vectors = {"a": numpy.array([1.0, 0.0]), "b": numpy.array([2.0, 0.0]),
               "c": numpy.array([0.0, 1.0]), "d": numpy.array([1.0, 1.0])}
    pairs = [WordPair("a", "b", 10), WordPair("a", "d", 7), WordPair("a", "c", 3), WordPair("a", "zz", 1)]
    result = evaluate_similarity(pairs, vectors)
    # cosines [1, .707, 0, 0(missing)] vs gold [10, 7, 3, 1]: rho = 4.5 / sqrt(5 * 4.5)
    assert result.spearman == pytest.approx(4.5 / math.sqrt(22.5))
    assert (result.pairs, result.missing) == (4, 1)


def test_parse_pairs_errors():
    assert parse_pairs(["x\ty\t1.5", ""]) == [WordPair("x", "y", 1.5)]
    with pytest.raises(ValueError, match="<pairs>:1.*word1<TAB>word2<TAB>score"):
        parse_pairs(["x y 1"])


def _tar(path, members):
    with tarfile.open(path, "w:gz") as archive:
        for name, text in members.items():
            data = text.encode("utf8")
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def test_read_crw_archive(tmp_path):
    path = _tar(tmp_path / "crw.tar.gz", {
        "crw/CRW-550.txt": "movie\tfilmlet\t5.5\nbook\tbooklet\t7\n",
        "crw/context/filmlet.txt": "a short filmlet .\n\nthe filmlet ran .\n",
        "crw/context/booklet.txt": "read the booklet .\n",
    })
    data = read_crw_archive(path)
    assert data.pairs == [WordPair("movie", "filmlet", 5.5), WordPair("book", "booklet", 7.0)]
    assert data.contexts == {"filmlet": ["a short filmlet .", "the filmlet ran ."], "booklet": ["read the booklet ."]}
    with pytest.raises(ValueError, match="CRW-550.txt"):
        read_crw_archive(_tar(tmp_path / "other.tar.gz", {"x.txt": "1"}))
    with tarfile.open(path) as archive:
        archive.extractall(tmp_path / "unpacked", filter="data")
    assert read_crw_archive(tmp_path / "unpacked" / "crw") == data
    with pytest.raises(FileNotFoundError, match="crw-dev folder"):
        read_crw_archive(tmp_path / "missing")


@pytest.mark.skipif(not CRW_DEV.is_file(), reason="shared CRW-dev data not beside the checkout")
def test_read_real_crw_dev():
    data = read_crw_archive(CRW_DEV)
    assert len(data.pairs) == 550
    assert len(data.contexts) == 414
    assert all(p.second in data.contexts for p in data.pairs)
    assert min(len(c) for c in data.contexts.values()) >= 128


def test_wordpiece_mean_and_crw_with_tiny_model(tiny_bert_path):
    from spacy_bertram.model import BertramModel, infer_vectors

    model = BertramModel.from_encoder(str(tiny_bert_path), words=["movies", "filmlet", "booklet"], mode="add")
    table = model.encoder.get_input_embeddings().weight.detach().numpy()
    vocab = model.tokenizer.get_vocab()
    vectors = wordpiece_mean_vectors(model.tokenizer, model.encoder, ["movies", "movie", "日本"])
    assert numpy.allclose(vectors["movies"], (table[vocab["movie"]] + table[vocab["##s"]]) / 2)
    assert numpy.allclose(vectors["movie"], table[vocab["movie"]])
    assert "日本" not in vectors  # only [UNK] pieces
    from spacy_bertram.evaluation.similarity import SimilarityData

    data = SimilarityData(
        [WordPair("movie", "filmlet", 8), WordPair("book", "booklet", 7), WordPair("dog", "booklet", 1)],
        {"filmlet": ["a short filmlet .", "the filmlet was fun ."], "booklet": ["read the booklet ."]},
    )
    results = evaluate_crw(data, models=[model], max_contexts=2, batch_size=4)
    base = wordpiece_mean_vectors(model.tokenizer, model.encoder, ["movie", "filmlet", "book", "booklet", "dog"])
    assert results["mean-of-wordpieces"] == evaluate_similarity(data.pairs, base)
    assert set(results) == {"mean-of-wordpieces", "BERTRAM-add", "form-only"}
    inferred = infer_vectors(model, data.contexts, max_contexts=2, batch_size=4)
    assert results["BERTRAM-add"] == evaluate_similarity(data.pairs, {**base, **inferred})


def test_mimicking_cosine(tiny_bert_path):
    from spacy_bertram.model import BertramModel, infer_vectors

    model = BertramModel.from_encoder(str(tiny_bert_path), words=["movie", "story"], mode="add")
    contexts = {"movie": ["the movie was fun ."], "story": ["a long story ."]}
    targets = infer_vectors(model, contexts)
    assert mimicking_cosine(model, contexts, targets) == pytest.approx(1.0, abs=1e-5)
    flipped = {w: -v for w, v in targets.items()}
    assert mimicking_cosine(model, contexts, flipped) == pytest.approx(-1.0, abs=1e-5)
    half = {"movie": targets["movie"], "story": -targets["story"], "unseen": targets["movie"]}
    assert mimicking_cosine(model, contexts, half) == pytest.approx(0.0, abs=1e-5)


def test_mcnemar_hand_checked():
    a = [True] * 5 + [False] * 1 + [True] * 3
    b = [False] * 5 + [True] * 1 + [True] * 3
    result = mcnemar_exact(a, b)
    # 6 discordant, 1 in the smaller cell: p = 2 * (C(6,0) + C(6,1)) / 2^6
    assert (result.only_a, result.only_b) == (5, 1)
    assert result.p_value == pytest.approx(14 / 64)
    assert mcnemar_exact([True, False], [True, False]).p_value == 1.0
    with pytest.raises(ValueError, match="same test set"):
        mcnemar_exact([True], [True, False])


def test_holm_matches_a_hand_computed_example():
    # Sorted: 0.005 x4 = 0.02, 0.01 x3 = 0.03, 0.03 x2 = 0.06, 0.04 x1 = 0.04 -> 0.06 (monotone).
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.6, 0.5]) == pytest.approx([1.0, 1.0])
    assert holm([]) == []


def test_paired_bootstrap_matches_exact_enumeration():
    a = [True, True, True, False]
    b = [False, True, False, True]
    diff = numpy.array(a, float) - numpy.array(b, float)  # [1, 0, 1, -1], delta = 0.25
    # Two-sided: resampled differences at least 0.25 away from 0.25 (>= 0.5 or <= 0).
    exact = numpy.mean([abs(diff[list(idx)].mean() - 0.25) >= 0.25 for idx in product(range(4), repeat=4)])
    result = paired_bootstrap(a, b, samples=40000, seed=1)
    assert result.delta == pytest.approx(0.25)
    assert result.p_value == pytest.approx(exact, abs=0.01)
    always = paired_bootstrap([True] * 10, [False] * 10, samples=100)
    assert (always.delta, always.p_value) == (1.0, 0.0)
    swapped = paired_bootstrap(b, a, samples=40000, seed=1)
    assert swapped.delta == pytest.approx(-0.25) and swapped.p_value == pytest.approx(exact, abs=0.01)
    identical = paired_bootstrap(a, a, samples=100)
    assert (identical.delta, identical.p_value) == (0.0, 1.0)


def test_paired_bootstrap_takes_real_valued_scores():
    """Per-instance cosines, not only correctness: the same test on their differences."""
    a = [0.9, 0.5, 0.7, 0.2]
    b = [0.4, 0.5, 0.2, 0.7]
    diff = numpy.array(a) - numpy.array(b)  # [0.5, 0, 0.5, -0.5], delta = 0.125
    exact = numpy.mean([abs(diff[list(idx)].mean() - 0.125) >= 0.125 for idx in product(range(4), repeat=4)])
    result = paired_bootstrap(a, b, samples=40000, seed=1)
    assert result.delta == pytest.approx(0.125)
    assert result.p_value == pytest.approx(exact, abs=0.01)


@Language.component("test_cue_cats")
def _cue_cats(doc):
    """Positive when a positive cue word is present: a deterministic stand-in classifier."""
    positive = any(t.lower_ in ("good", "fine", "goood") for t in doc)
    doc.cats = {"POS": float(positive), "NEG": float(not positive)}
    return doc


def _rarified(nlp):
    texts = [("a good film", "POS"), ("a goood film", "POS"), ("a fine film", "POS"),
             ("a goodd film", "POS"), ("a bad film", "NEG"), ("a baad film", "NEG")]
    docs = []
    for text, label in texts:
        doc = nlp.make_doc(text)
        doc.cats = {"POS": float(label == "POS"), "NEG": float(label == "NEG")}
        docs.append(doc)
    replacements = {
        1: [Replacement(1, 1, "good", "goood", "misspelling", 0.0)],
        2: [Replacement(2, 1, "good", "fine", "synonym", 5.0)],
        3: [Replacement(3, 1, "good", "goodd", "misspelling", 0.0)],
        5: [Replacement(5, 1, "bad", "baad", "misspelling", 40.0)],
    }
    return docs, replacements


def test_downstream_groups_and_scores():
    nlp = spacy.blank("en")
    nlp.add_pipe("test_cue_cats")
    docs, replacements = _rarified(nlp)
    groups = instance_groups(len(docs), replacements, edges=[0, 1, 32])
    assert groups["all"] == [0, 1, 2, 3, 4, 5]
    assert groups["misspelling"] == [1, 3, 5] and groups["synonym"] == [2]
    assert groups["[0, 1)"] == [1, 3] and groups["[1, 32)"] == [2] and groups[">= 32"] == [5]
    report = evaluate_downstream(nlp, docs, replacements, edges=[0, 1, 32])
    # predictions: POS POS POS NEG NEG NEG -> only "goodd" (doc 3) is wrong
    assert report.correct == [True, True, True, False, True, True]
    assert report.groups["all"].accuracy == pytest.approx(5 / 6)
    assert report.groups["misspelling"].accuracy == pytest.approx(2 / 3)
    # misspelling group: gold POS POS NEG, predicted POS NEG NEG -> F1 POS 2/3, NEG 2/3
    assert report.groups["misspelling"].macro_f1 == pytest.approx(2 / 3)
    assert report.groups["[0, 1)"].accuracy == pytest.approx(0.5)
    assert docs[0].cats == {"POS": 1.0, "NEG": 0.0}  # gold labels untouched by prediction
    with pytest.raises(ValueError, match="does not match the test set"):
        evaluate_downstream(nlp, docs, {0: [Replacement(0, 1, "good", "fine", "synonym", 1.0)]})
    with pytest.raises(ValueError, match="ascending"):
        instance_groups(6, replacements, edges=[4, 1])


def test_report_and_plots_written(tmp_path):
    nlp = spacy.blank("en")
    nlp.add_pipe("test_cue_cats")
    docs, replacements = _rarified(nlp)
    first = evaluate_downstream(nlp, docs, replacements, edges=[0, 1, 32])
    second = evaluate_downstream(nlp, docs[:3] + docs[3:], {}, edges=[0, 1, 32])
    second.correct = [True] * 6
    paths = write_report({"baseline": first, "bertram": second}, tmp_path)
    for key in ("by_kind", "by_frequency"):
        data = paths[key].read_bytes()
        assert data.startswith(b"\x89PNG") and len(data) > 5000
    markdown = paths["markdown"].read_text()
    assert "| misspelling | 3 | 66.7 |" in markdown and "bertram vs baseline" in markdown
    saved = json.loads(paths["json"].read_text())
    assert saved["systems"]["baseline"]["groups"]["all"]["accuracy"] == pytest.approx(5 / 6)
    assert saved["significance"]["all"]["bertram vs baseline"]["mcnemar_p"] == pytest.approx(1.0)
    assert saved["systems"]["baseline"]["members"]["misspelling"] == [1, 3, 5]


def test_significance_per_group_uses_the_groups_instances_only():
    from spacy_bertram.evaluation.downstream import DownstreamReport
    from spacy_bertram.evaluation.report import significance

    members = {"all": list(range(8)), "misspelling": [0, 1, 2], "synonym": [3, 4, 5, 6, 7]}
    base = DownstreamReport(correct=[False, False, False, True, True, True, True, True], members=members)
    ours = DownstreamReport(correct=[True, True, True, True, True, True, True, False], members=members)
    tests = significance({"plain": base, "slash": ours})
    assert set(tests) == {"all", "misspelling", "synonym"}
    msp, wn = tests["misspelling"]["slash vs plain"], tests["synonym"]["slash vs plain"]
    assert msp["accuracy_delta"] == pytest.approx(1.0) and (msp["mcnemar_only_first"], msp["mcnemar_only_second"]) == (3, 0)
    assert msp["mcnemar_p"] == pytest.approx(0.25)  # 2 * 0.5**3
    assert wn["accuracy_delta"] == pytest.approx(-0.2) and (wn["mcnemar_only_first"], wn["mcnemar_only_second"]) == (0, 1)
    assert tests["all"]["slash vs plain"]["accuracy_delta"] == pytest.approx(0.25)
    no_synonyms = {"all": list(range(8)), "misspelling": [0, 1, 2], "synonym": []}
    base.members = ours.members = no_synonyms
    assert set(significance({"plain": base, "slash": ours})) == {"all", "misspelling"}


def _cue_pipeline_and_test_set(tmp_path):
    """A saved cue-word classifier (tmp_path/cue) and the rarified docs (tmp_path/test.spacy)."""
    nlp = spacy.blank("en")
    nlp.add_pipe("test_cue_cats")
    nlp.to_disk(tmp_path / "cue")
    docs, replacements = _rarified(nlp)
    DocBin(docs=docs).to_disk(tmp_path / "test.spacy")
    return replacements


def test_cli_downstream(tmp_path):
    from spacy_bertram.cli import app
    from spacy_bertram.cli import evaluate  # noqa: F401
    from spacy_bertram.rarify import write_replacements

    replacements = _cue_pipeline_and_test_set(tmp_path)
    write_replacements(tmp_path / "test.jsonl", [r for rs in replacements.values() for r in rs])
    out = CliRunner().invoke(app, ["evaluate", "downstream", str(tmp_path / "test.spacy"), "-r", str(tmp_path / "test.jsonl"),
                                   f"a={tmp_path / 'cue'}", f"b={tmp_path / 'cue'}", "-o", str(tmp_path / "report"),
                                   "--frequency-edges", "0,1,32"])
    assert out.exit_code == 0, out.output
    assert "| all | 6 | 83.3 | " in out.output
    assert (tmp_path / "report" / "accuracy_by_frequency.png").stat().st_size > 0
    bad = CliRunner().invoke(app, ["evaluate", "downstream", str(tmp_path / "test.spacy"), "nameless"])
    assert bad.exit_code != 0 and "NAME=PIPELINE_DIR" in bad.output


def test_cli_downstream_on_clean_text_scores_all_instances_only(tmp_path):
    from spacy_bertram.cli import app
    from spacy_bertram.cli import evaluate  # noqa: F401

    _cue_pipeline_and_test_set(tmp_path)
    out = CliRunner().invoke(app, ["evaluate", "downstream", str(tmp_path / "test.spacy"), f"a={tmp_path / 'cue'}",
                                   "-o", str(tmp_path / "clean")])
    assert out.exit_code == 0, out.output
    groups = json.loads((tmp_path / "clean" / "report.json").read_text())["systems"]["a"]["groups"]
    assert groups["all"]["n"] == 6 and groups["all"]["accuracy"] == pytest.approx(5 / 6)
    assert {name: g["n"] for name, g in groups.items() if name != "all"} == dict.fromkeys(set(groups) - {"all"}, 0)


@Language.component("test_rare_cats")
def _rare_cats(doc):
    """Positive when the `bertram` component flagged a rare word: shows which words it flags."""
    doc.cats = {"POS": float(bool(doc._.bertram_rare)), "NEG": float(not doc._.bertram_rare)}
    return doc


def test_cli_downstream_rare_zipf_sets_every_pipelines_rarity_threshold(tmp_path):
    """A synonym-only set rarified below Zipf 3.0 needs its substitutes (e.g. "riveting",
    Zipf 2.99) flagged by pipelines trained with the 2.0 threshold."""
    from spacy_bertram.cli import app
    from spacy_bertram.cli import evaluate  # noqa: F401

    nlp = spacy.blank("en")
    nlp.add_pipe("bertram", config={"frequency": {"@misc": "bertram.WordfreqFrequency.v1", "zipf_threshold": 2.0}})
    nlp.add_pipe("test_rare_cats")
    nlp.to_disk(tmp_path / "flags")
    docs = []
    for text, label in (("a riveting film", "POS"), ("a good film", "NEG")):
        doc = nlp.make_doc(text)
        doc.cats = {"POS": float(label == "POS"), "NEG": float(label == "NEG")}
        docs.append(doc)
    DocBin(docs=docs).to_disk(tmp_path / "test.spacy")

    def accuracy(*options):
        out = CliRunner().invoke(app, ["evaluate", "downstream", str(tmp_path / "test.spacy"),
                                       f"a={tmp_path / 'flags'}", "-o", str(tmp_path / "out"), *options])
        assert out.exit_code == 0, out.output
        return json.loads((tmp_path / "out" / "report.json").read_text())["systems"]["a"]["groups"]["all"]["accuracy"]

    assert accuracy() == pytest.approx(0.5)  # "riveting" is not rare below Zipf 2.0
    assert accuracy("--rare-zipf", "3.0") == pytest.approx(1.0)
    config = (tmp_path / "flags" / "config.cfg").read_text()
    (tmp_path / "flags" / "config.cfg").write_text(config.replace("bertram.WordfreqFrequency.v1", "bertram.CorpusFrequency.v1"))
    out = CliRunner().invoke(app, ["evaluate", "downstream", str(tmp_path / "test.spacy"), f"a={tmp_path / 'flags'}",
                                   "--rare-zipf", "3.0"])
    assert out.exit_code == 1 and "leave --rare-zipf out" in out.output


@pytest.mark.slow
@pytest.mark.skipif(not CRW_DEV.is_file(), reason="shared CRW-dev data not beside the checkout")
def test_crw_dev_end_to_end_with_minilm(tmp_path):
    """The CLI on real CRW-dev with an untrained MiniLM BERTRAM model (few contexts)."""
    from spacy_bertram.cli import app
    from spacy_bertram.cli import evaluate  # noqa: F401
    from spacy_bertram.model import BertramModel
    from spacy_bertram.util import default_encoder_path

    data = read_crw_archive(CRW_DEV)
    words = sorted({w for p in data.pairs for w in (p.first, p.second)})
    BertramModel.from_encoder(default_encoder_path(), words=words, mode="add").save_pretrained(tmp_path / "add")
    out = CliRunner().invoke(app, ["evaluate", "crw", "--data", str(CRW_DEV), "-m", str(tmp_path / "add"),
                                   "--max-contexts", "1", "-o", str(tmp_path / "crw.json")])
    assert out.exit_code == 0, out.output
    results = json.loads((tmp_path / "crw.json").read_text())
    assert set(results) == {"mean-of-wordpieces", "BERTRAM-add", "form-only"}
    assert all(r["pairs"] == 550 for r in results.values())
    # MiniLM's own wordpiece embeddings carry real similarity signal on CRW
    assert results["mean-of-wordpieces"]["spearman"] > 0.2
