"""What BERTRAM inferred for a text's rare words, shown as the encoder's nearest whole words.

`explain(nlp, text)` runs the pipeline up to its `bertram` component and, for each
token flagged rare, reports how many contexts its vector was inferred from and the
nearest whole words of the encoder's vocabulary to three vectors: the mean of the
word's wordpiece embeddings (what the transformer reads without BERTRAM), its form
vector, and its BERTRAM vector (what the transformer reads with it). That is the
quickest way to see whether "insouciant" became "carefree" or "insurance".
`explanation_html` draws the same records with displaCy's span visualiser.
"""
from dataclasses import dataclass
from typing import List, Optional, Sequence

import numpy
import torch
from spacy import displacy
from spacy.language import Language

from .extensions import doc_vectors
from .model import BertramModel
from .model.encoder import whole_word_rows
from .util import eval_mode

# Where `explanation_html` puts the rare tokens' spans.
SPANS_KEY = "bertram"


@dataclass(frozen=True)
class Neighbour:
    """A whole word of the encoder's vocabulary and its cosine similarity to a vector."""

    word: str
    similarity: float


@dataclass(frozen=True)
class RareToken:
    """One token flagged rare, and the nearest whole words to its three vectors.

    `word` is what the model inferred a vector for (lower-cased for an uncased encoder).
    `own_row`: the encoder has a row for the word itself, so the transformer reads
    that row and the token gets no BERTRAM vector (`bertram` is then empty).
    `n_contexts`: the contexts its vector was inferred from (store and in-domain).
    """

    i: int
    text: str
    start_char: int
    end_char: int
    word: str
    own_row: bool
    n_contexts: int
    wordpiece_mean: List[Neighbour]
    form: List[Neighbour]
    bertram: List[Neighbour]

    @property
    def label(self) -> str:
        """A short label: the nearest word to the vector the transformer reads."""
        if self.own_row:
            return "own row"
        nearest = self.bertram[0].word if self.bertram else "no vector"
        return f"{nearest} ({self.n_contexts} contexts)"


def explain(nlp: Language, text: str, *, k: int = 5, component: Optional[str] = None) -> List[RareToken]:
    """One `RareToken` per token of `text` that the pipeline's `bertram` component flags rare.

    k: neighbours per vector. component: the name of the bertram component, when the
    pipeline has several or it is not called "bertram".
    """
    if k < 1:
        raise ValueError(f"explain: k must be at least 1, got {k}.")
    name = _component_name(nlp, component)
    bertram = nlp.get_pipe(name)
    model = bertram.bertram_model
    if model is None:
        raise ValueError(
            f"explain: the component '{name}' has no BERTRAM model, so it infers no vectors. "
            f"Set model_path in [components.{name}] to a folder saved by BertramModel.save_pretrained."
        )
    doc = nlp.make_doc(text)
    for pipe_name, proc in nlp.pipeline:
        doc = proc(doc)
        if pipe_name == name:
            break
    rare = list(doc._.bertram_rare or [])
    if not rare:
        return []
    keys = model.word_keys(doc[i].text for i in rare)
    words = sorted(set(keys.values()))
    with eval_mode(model), torch.no_grad():
        base = model.wordpiece_base(words)
        form = model.form_vectors(words, base)
    index = {word: row for row, word in enumerate(words)}
    inferred = [w for w, own in zip(words, base.own_row) if not own]
    in_domain = [rare] if bertram.cfg["in_domain"] else None
    contexts = bertram.contexts.batch_contexts(inferred, bertram.cfg["max_contexts"], [doc], in_domain)
    limit = bertram.cfg["max_contexts"]
    used = {
        w: 0 if model.config.mode == "form" else len(model.context_tokenizer.select(w, contexts[w], limit))
        for w in inferred
    }
    vectors = doc_vectors(doc)
    with_vector = [i for i in rare if i in vectors]
    nearest = NearestWords(model)
    means = nearest(base.mean.float().cpu().numpy(), k)
    forms = nearest(form.float().cpu().numpy(), k)
    bertrams = dict(zip(with_vector, nearest(numpy.stack([vectors[i] for i in with_vector]), k))) if with_vector else {}
    records = []
    for i in rare:
        token, word = doc[i], keys[doc[i].text]
        row = index[word]
        records.append(
            RareToken(
                i=i,
                text=token.text,
                start_char=token.idx,
                end_char=token.idx + len(token.text),
                word=word,
                own_row=bool(base.own_row[row]),
                n_contexts=used.get(word, 0),
                wordpiece_mean=means[row],
                form=forms[row],
                bertram=bertrams.get(i, []),
            )
        )
    return records


class NearestWords:
    """Cosine nearest neighbours among the whole-word rows of a model's input embeddings."""

    def __init__(self, model: BertramModel) -> None:
        ids, self.words = whole_word_rows(model.tokenizer)
        weight = model.encoder.get_input_embeddings().weight.detach()
        table = weight[torch.tensor(ids, dtype=torch.long, device=weight.device)].float().cpu().numpy()
        self.table = table / numpy.maximum(numpy.linalg.norm(table, axis=1, keepdims=True), 1e-12)

    def __call__(self, vectors: numpy.ndarray, k: int) -> List[List[Neighbour]]:
        """The `k` nearest whole words of each row of `vectors` [N, D], nearest first."""
        vectors = numpy.asarray(vectors, dtype="float32")
        norms = numpy.maximum(numpy.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        similarity = (vectors / norms) @ self.table.T
        k = min(k, len(self.words))
        order = numpy.argsort(-similarity, axis=1, kind="stable")[:, :k]
        return [[Neighbour(self.words[j], float(row[j])) for j in top] for row, top in zip(similarity, order)]


def explanation_html(nlp: Language, text: str, records: Sequence[RareToken]) -> str:
    """A standalone HTML page: `text` with each rare token marked and labelled
    (displaCy's span visualiser) by the nearest word to the vector the transformer reads."""
    doc = nlp.make_doc(text)
    spans = [doc.char_span(r.start_char, r.end_char, label=r.label) for r in records]
    doc.spans[SPANS_KEY] = [span for span in spans if span is not None]
    return displacy.render(doc, style="span", options={"spans_key": SPANS_KEY}, page=True, jupyter=False)


def _component_name(nlp: Language, component: Optional[str]) -> str:
    names = [n for n in nlp.pipe_names if nlp.get_pipe_meta(n).factory == "bertram"]
    if component is not None:
        if component not in names:
            raise ValueError(f"explain: the pipeline {nlp.pipe_names} has no bertram component '{component}'.")
        return component
    if len(names) != 1:
        found = "no bertram component" if not names else f"several bertram components {names}"
        raise ValueError(
            f"explain: the pipeline {nlp.pipe_names} has {found}; "
            + ("add one with attach_bertram." if not names else "pass the one to explain as component.")
        )
    return names[0]
