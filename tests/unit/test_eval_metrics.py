"""The evaluation metrics on hand-computed examples (no agent, no model: a hash embedder where needed)."""

from __future__ import annotations

import math

import pytest

from evaluation.calibration import calibrate, expected_calibration_error, suggest_threshold
from evaluation.metrics.grounding import MeaningMetrics, containment
from evaluation.metrics.retrieval import ndcg_at_k, recall_at_k, reciprocal_rank
from evaluation.metrics.text import fact_present, numbers, rouge_l, sentences, token_f1
from tests.fakes import HashEmbedder


def test_retrieval_metrics() -> None:
    ranked = [False, True, False, True]
    assert recall_at_k(ranked, 2, 1) == 0.0 and recall_at_k(ranked, 2, 2) == 0.5 and recall_at_k(ranked, 2, 10) == 1
    assert reciprocal_rank(ranked) == 0.5 and reciprocal_rank([False, False]) == 0.0
    ideal = 1 + 1 / math.log2(3)
    assert ndcg_at_k(ranked, 2) == pytest.approx((1 / math.log2(3) + 1 / math.log2(5)) / ideal)
    assert ndcg_at_k([True], 1) == 1.0
    with pytest.raises(ValueError):
        recall_at_k(ranked, 0, 5)


def test_token_f1_and_rouge_l_are_unicode_aware() -> None:
    assert token_f1("the cat sat", "the cat sat") == 1.0
    assert token_f1("a b", "c d") == 0.0
    assert token_f1("Skip by the 25th", "skip it by the 25th") == pytest.approx(2 * 1 * 0.8 / 1.8)
    assert rouge_l("Kündigung bestätigen", "Wähle Kündigung bestätigen") == pytest.approx(0.8)
    assert rouge_l("über", "uber") == 0.0  # the default rouge-score tokenizer would drop the umlaut


def test_facts_by_substring_or_numbers() -> None:
    answer = "Der Starter-Plan kostet 14,90 € im Monat; **Skip this box** tippen."
    assert fact_present("skip this box", answer)
    assert fact_present("€14.90", answer)
    assert not fact_present("€27.80", answer)
    assert not fact_present("reset the password please", answer)
    assert numbers("1,000 ml and 2.60 %") == {"1000", "2.6"}


def test_sentences_drop_list_markers_and_fragments() -> None:
    text = "Open the app.\n- Tap **Skip this box**.\n1. Confirm with Yes, skip.\nOK."
    assert sentences(text) == ["Open the app.", "Tap **Skip this box**.", "Confirm with Yes, skip."]


def test_groundedness_counts_supported_sentences() -> None:
    meaning = MeaningMetrics(embedder=HashEmbedder())
    passage = "You can skip single monthly boxes. A skipped box is not charged. Skip by the 25th at 23:59 CET."
    result = meaning.groundedness("A skipped box is not charged. The Moon is made of green cheese today.", [passage])
    assert (result.supported, result.total) == (1, 2)
    assert result.unsupported == ("The Moon is made of green cheese today.",)
    assert meaning.groundedness("Hi", [passage]).score is None
    assert containment("skip the parcel", passage) == pytest.approx(2 / 3)
    assert meaning.similarity_with("same text here", "same text here") == pytest.approx(1.0, abs=1e-5)


def test_calibration_ece_auroc_and_threshold() -> None:
    conf = [0.95, 0.9, 0.85, 0.6, 0.55, 0.3, 0.2, 0.1]
    ok = [True, True, True, True, False, False, False, False]
    result = calibrate(conf, ok, target_precision=0.9)
    assert result.n == 8 and result.positives == 4 and result.auroc == 1.0
    assert result.ece == pytest.approx(expected_calibration_error(conf, ok))
    assert sum(b.count for b in result.bins) == 8 and len(result.bins) == 10
    assert result.suggestion is not None and result.suggestion.threshold == 0.6
    assert result.suggestion.coverage == 0.5 and result.suggestion.recall == 1.0
    assert expected_calibration_error([1.0, 1.0], [True, True]) == 0.0
    assert expected_calibration_error([1.0], [False]) == 1.0
    assert calibrate([0.5], [True]).auroc is None  # one class only
    assert suggest_threshold([0.9, 0.8], [False, False], 0.9).threshold is None
