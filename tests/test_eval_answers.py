"""Answer evaluation and writers' gold sets, end to end on small files."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from app.assistant.extractive import Passage
from app.services import Services
from eval.answers import evaluate_answers, exact_match, f1, load_squad, normalize_answer
from ingest.loaders import LoadedDocument
from ingest.pipeline import IngestOptions

SQUAD = {"version": "1.1", "data": [{"title": "Tesla", "paragraphs": [
    {"context": "Nikola Tesla was born in 1856 in Smiljan. He moved to New York in 1884.",
     "qas": [{"id": "q1", "question": "In what year was Tesla born?", "answers": [{"text": "1856", "answer_start": 25}]},
             {"id": "q2", "question": "Where did Tesla move in 1884?", "answers": [{"text": "New York", "answer_start": 55}]}]},
    {"context": "The Tesla coil is a resonant transformer circuit invented in 1891.",
     "qas": [{"id": "q3", "question": "What is the boiling point of tungsten?", "answers": [{"text": "5555 °C", "answer_start": 0}]}]},
]}]}


def test_official_normalisation() -> None:
    assert normalize_answer("The  Denver Broncos!") == "denver broncos"
    assert exact_match("the Denver Broncos", "Denver Broncos") == 1.0
    assert f1("Denver Broncos team", "Denver Broncos") == 0.8


async def test_answers_are_scored_through_the_ask_path(services: Services, tmp_path: Path) -> None:
    path = tmp_path / "squad.json"
    path.write_text(json.dumps(SQUAD))
    result = await evaluate_answers(services, services.assistant, load_squad(path), progress=False)
    rows = {r["id"]: r for r in result["rows"]}
    assert rows["q1"]["em"] == 1.0 and rows["q1"]["answer_contains"] and rows["q1"]["cited_contains"]
    assert rows["q2"]["f1"] == 1.0
    assert not rows["q3"]["answered"], "a question the paragraphs do not cover is declined"
    assert result["questions"] == 3 and abs(result["declined"] - 1 / 3) < 1e-9
    assert set(result["latency_ms"]) == {"p50", "p95", "mean"}


async def test_gold_set_command_scores_the_live_knowledge_base(services: Services, tmp_path: Path, db_url: str) -> None:
    docs = [LoadedDocument("inv", "Invoices", "Invoices are posted journal entries."),
            LoadedDocument("pay", "Payroll", "Payslips are computed monthly.")]
    await services.pipeline.ingest(docs, IngestOptions(tenant_id="default"))
    gold = tmp_path / "gold.jsonl"
    gold.write_text('{"query": "posted journal entries", "relevant": ["inv"]}\n'
                    '{"query": "monthly payslips", "relevant": ["pay"]}\n')
    env = {"DATABASE_URL": db_url, "EMBEDDING_PROVIDER": "hash", "IPAI_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-m", "app.cli", "eval", "gold", str(gold)], env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "| lexical | 1.0000 | 1.0000 | 1.0000 | 1.0000 |" in out.stdout


def test_span_scorer_weights_fit_the_features_and_the_trainer_learns() -> None:
    import numpy as np

    from app.assistant.extractive import ExtractiveAnswerer, content_words, load_span_weights, span_features
    from eval.spans import fit

    answerer = ExtractiveAnswerer()
    text = "The company was founded by Jane Smith in Manila in 1998 after a merger."
    question = "When was the company founded?"
    q_words = set(content_words(question))
    candidates = answerer.candidates(text, 0, len(text), q_words)
    x = span_features("date", text, 0, len(text), candidates, q_words)
    assert x.shape == (len(candidates), len(load_span_weights())), "the shipped weights match the features"
    assert answerer.extract(question, [Passage(text, 1)]).short == "1998"
    # The trainer moves the softmax towards the candidates with the best F1: here, always the last one.
    rng = np.random.default_rng(0)
    lists = []
    for _ in range(50):
        features = rng.normal(size=(4, 3))
        features[-1, 0] = 3.0
        lists.append((features, np.array([0.0, 0.0, 0.0, 1.0])))
    w = fit(lists, steps=200)
    assert w[0] > 0 and all(int(np.argmax(f @ w)) == 3 for f, _ in lists)
    with pytest.raises(ValueError, match="no question"):
        fit([(np.ones((2, 3)), np.zeros(2))])


async def test_sentence_scorer_uses_similarity_only_from_the_model_it_was_trained_with() -> None:
    import numpy as np

    from app.assistant.extractive import (SENTENCE_FEATURES, SIMILARITY_COLUMNS, ExtractiveAnswerer,
                                          SentenceWeights, load_sentence_weights, sentence_candidates,
                                          sentence_features)
    from app.assistant.similarity import SentenceSimilarity
    from tests.conftest import CountingEmbedder

    similar = 2 * len(SIMILARITY_COLUMNS)
    shipped = load_sentence_weights()
    assert shipped.similar.shape == shipped.lexical.shape == (SENTENCE_FEATURES,)
    assert shipped.model == "all-MiniLM-L6-v2", "shipped weights, trained with MiniLM"
    assert shipped.similar[-similar:].any() and not shipped.lexical[-similar:].any(), "lexical ones without"
    passages = [Passage("Paris is the capital. It has museums.", 1, 1.0), Passage("Rome is old. Lyon is large.", 2, 0.5)]
    candidates = sentence_candidates(passages)
    x, support = sentence_features("What is the capital?", passages, candidates)
    assert x.shape == (4, SENTENCE_FEATURES) and not x[:, -similar:].any() and support[0] > 0
    # Similarity alone decides when every other weight is zero: the most similar sentence wins.
    only_similarity = np.zeros(SENTENCE_FEATURES)
    only_similarity[-similar] = 1.0  # the raw cosine
    answerer = ExtractiveAnswerer(sentence_weights=SentenceWeights(only_similarity, np.eye(SENTENCE_FEATURES)[0], "m"))
    chosen = answerer.sentence("What is large?", passages, np.array([0.1, 0.2, 0.3, 0.9]))
    assert chosen is not None and chosen[0] == 3
    chosen = answerer.sentence("What is large?", passages)  # no similarity: the lexical weights (overlap)
    assert chosen is not None and chosen[0] == 3
    chosen = answerer.sentence("What is the capital?", passages)
    assert chosen is not None and chosen[0] == 0
    # Sentence vectors are embedded once: a second question embeds only itself.
    embedder = CountingEmbedder()
    similarity = SentenceSimilarity(embedder)
    texts = [c.text(passages) for c in candidates]
    first = await similarity("capital of France", texts)
    await similarity("another question", texts)
    assert first.shape == (4, len(SIMILARITY_COLUMNS)) and embedder.texts.count(texts[0]) == 1 and embedder.calls == 2
    assert not first[:, 1:].any(), "no token vectors from this embedder: the token columns stay zero"
    assert np.allclose(first[:, 0], await embedder.embed(texts) @ (await embedder.embed(["capital of France"]))[0])


@pytest.mark.xdist_group("local_model")
async def test_token_similarity_with_the_local_model() -> None:
    """The local MiniLM gives sentence and token vectors in one pass; the question's tokens find their
    match in the sentence that answers it better than in one that does not."""
    import numpy as np

    from app.assistant.extractive import SIMILARITY_COLUMNS
    from app.assistant.similarity import SentenceSimilarity
    from ingest.embedding import LocalEmbedder

    embedder = LocalEmbedder()
    assert embedder.dimensions == 384 and embedder._loaded is None, "its size is read from the folder, not the model"
    await embedder.load()
    assert embedder._model.get_embedding_dimension() == embedder.dimensions
    question, answer, other = ("Who signs the payroll?", "The payroll is signed by Maria Lopez every month.",
                               "Our canteen opens at noon.")
    encodings = await embedder.encode_tokens([question, answer])
    assert encodings[0].tokens == ["who", "signs", "the", "payroll", "?"], "no [CLS] or [SEP]"
    for e in encodings:
        assert e.token_vectors.shape == (len(e.tokens), embedder.dimensions)
        assert np.allclose(np.linalg.norm(e.token_vectors.astype(np.float32), axis=1), 1, atol=1e-2)
    assert np.allclose(np.stack([e.vector for e in encodings]), await embedder.embed([question, answer]), atol=1e-5)
    similarity = SentenceSimilarity(embedder, max_cached_tokens=1)
    rows = await similarity(question, [answer, other])
    assert rows.shape == (2, len(SIMILARITY_COLUMNS)) and (rows[0] > rows[1]).all()
    assert len(similarity._tokens) == 2, "never evicts a sentence in use"
    assert np.allclose(await similarity(question, [answer, other]), rows, atol=1e-6), "cached: the same rows"


@pytest.mark.xdist_group("local_model")
async def test_word_similarity_finds_close_meaning_with_the_local_model() -> None:
    """A rare word of the question counts as covered when a word of the cited text is close to it in meaning,
    not when the text only shares the question's other words."""
    from app.assistant.coverage import MIN_TERM_MEANING
    from app.assistant.similarity import SentenceSimilarity
    from ingest.embedding import LocalEmbedder

    similarity = SentenceSimilarity(LocalEmbedder())
    question = await similarity.encode("What happens to unhappy subscribers?")
    close = await similarity.word_similarity(question, ["unhappy", "absent"],
                                             ["An alert is raised when a subscriber is dissatisfied."])
    assert close["unhappy"] >= MIN_TERM_MEANING and close["absent"] == 0.0
    accented = await similarity.word_similarity(await similarity.encode("Is the café open?"), ["café"],
                                                ["The cafe opens at noon."])
    assert accented["café"] >= MIN_TERM_MEANING, "the model spells it 'cafe'"
    question = await similarity.encode("Can I sell gift cards in the Point of Sale?")
    far = await similarity.word_similarity(question, ["gift"], ["The Point of Sale prints a receipt for each sale."])
    assert far["gift"] < MIN_TERM_MEANING


def test_a_model_with_a_dense_layer_is_loaded_to_learn_its_size(tmp_path: Path) -> None:
    """The vector size comes from the pooling config only when nothing changes it: no layer after pooling, one
    pooling mode (several are concatenated)."""
    from ingest.embedding import _pooled_dimensions

    def model(*kinds: str, modes: tuple[str, ...] = ("mean_tokens",)) -> Path:
        folder = tmp_path / "-".join((*kinds, *modes))
        (folder / "1_Pooling").mkdir(parents=True)
        (folder / "1_Pooling" / "config.json").write_text(json.dumps({
            "word_embedding_dimension": 768, "pooling_mode_cls_token": "cls_token" in modes,
            "pooling_mode_mean_tokens": "mean_tokens" in modes, "pooling_mode_max_tokens": "max_tokens" in modes}))
        (folder / "modules.json").write_text(json.dumps([
            {"path": "1_Pooling" if k == "Pooling" else f"x_{k}", "type": f"sentence_transformers.models.{k}"}
            for k in kinds]))
        return folder

    assert _pooled_dimensions(model("Transformer", "Pooling", "Normalize")) == 768
    assert _pooled_dimensions(model("Transformer", "Pooling", "Dense", "Normalize")) is None
    assert _pooled_dimensions(model("Transformer", "Pooling", modes=("mean_tokens", "max_tokens"))) is None, "1536"
    assert _pooled_dimensions(tmp_path / "missing") is None
