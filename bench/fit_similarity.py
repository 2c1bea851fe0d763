"""Fit a model's similarity scale to all-MiniLM-L6-v2's (``retrieval/similarity.py``):
``python -m bench.fit_similarity [--model multilingual-e5-small] [--pairs 20000] [--write]``.

The same text pairs are embedded by both models and each model's cosines sorted; the model's q-th
quantile maps to MiniLM's q-th quantile at 41 evenly spaced q (quantile matching, monotone, so no
ranking changes). Pairs are of both kinds the product compares:

- ``query-query``: customers' messages against other messages and against help-center sentences
  (what the agent's phrase matching, answer units and repeated-message check compare);
- ``query-passage``: questions against help-center paragraphs (a hit's ``dense_score``, which the
  confidence, scenarios, actions and insights read).

Texts, all written for knowdesk's dev sets or its sample content, fit parts only: the handoff-trigger
dev set's fit split (en, de, es, fr, pt), the cross-lingual benchmark's fit split, the Debian FAQ
dev set's fit questions, and the sample help center's articles with their translations. Pairs are
drawn at random (seed 0) from all message x text combinations, so unrelated pairs dominate, as
they do in what the agent compares. ``--write`` stores the knots in ``retrieval/fitted/similarity.json``
with this procedure, the pair counts and, per kind, how far apart the two kinds' maps are.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import re
from pathlib import Path
from typing import Any

import numpy as np

from core.settings import EmbeddingSettings
from retrieval.embedders import build_embedder
from retrieval.similarity import FITTED, REFERENCE, fit_quantiles

ROOT = Path(__file__).resolve().parents[1]
TRIGGERS = ROOT / "evaluation" / "datasets" / "handoff_triggers.jsonl"
CROSSLINGUAL = ROOT / "bench" / "crosslingual" / "questions.jsonl"
FAQ = ROOT / "bench" / "retrieval" / "sets" / "debian-faq" / "questions.jsonl"
HELPCENTER = ROOT / "service" / "samples" / "helpcenter.json"
ANSWERABILITY = ROOT / "evaluation" / "datasets" / "answerability.jsonl"
#: Share of the pool that related pairs (a question and the best part of the article that answers
#: it) make up, so the map's top matches related pairs to related pairs, not to the random pairs' tail.
RELATED_SHARE = 0.15


def _jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def messages() -> list[str]:
    """Customers' messages and questions from the fit parts."""
    found = [r["text"] for r in _jsonl(TRIGGERS) if r.get("split") == "fit" and r.get("text")]
    found += [r["question"] for r in _jsonl(CROSSLINGUAL) if r.get("split") == "fit"]
    found += [r["question"] for r in _jsonl(FAQ) if r.get("split") == "fit"]
    return list(dict.fromkeys(t.strip() for t in found if t.strip()))


def help_center() -> tuple[list[str], list[str]]:
    """(paragraphs, sentences) of the sample help center, every locale."""
    data = json.loads(HELPCENTER.read_text(encoding="utf-8"))
    bodies: list[str] = []
    for article in data["articles"]:
        bodies.append(f"{article['title']}\n{article['body']}")
        for tr in article.get("translations") or []:
            bodies.append(f"{tr.get('title', '')}\n{tr.get('body', '')}")
    paragraphs = [p.strip() for b in bodies for p in re.split(r"\n\s*\n", b) if len(p.split()) >= 4]
    sentences = [s.strip() for p in paragraphs for s in re.split(r"(?<=[.!?])\s+|\n", p) if len(s.split()) >= 3]
    rng = random.Random(0)  # a sample, each paragraph short enough for both models' windows
    paragraphs = [p for p in dict.fromkeys(paragraphs) if len(p.split()) <= 120]
    sentences = list(dict.fromkeys(sentences))
    return rng.sample(paragraphs, min(300, len(paragraphs))), rng.sample(sentences, min(600, len(sentences)))


def _split(body: str) -> tuple[list[str], list[str]]:
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", body) if 4 <= len(p.split()) <= 120]
    sentences = [s.strip() for p in paragraphs for s in re.split(r"(?<=[.!?])\s+|\n", p) if len(s.split()) >= 3]
    return paragraphs, sentences


def related() -> list[tuple[str, list[str], list[str], list[tuple[list[str], list[str]]]]]:
    """(question, paragraphs, sentences of the English article that answers it, and the same of
    each of its translations): the answerability set's fit part (English questions, each with the
    article it needs)."""
    data = json.loads(HELPCENTER.read_text(encoding="utf-8"))
    articles = {a["id"]: a for a in data["articles"]}
    found = []
    for row in _jsonl(ANSWERABILITY):
        wanted = [r for r in row.get("expect", {}).get("relevant", []) if r in articles]
        if "split:fit" not in row.get("tags", []) or not wanted:
            continue
        article = articles[wanted[0]]
        paragraphs, sentences = _split(f"{article['title']}\n{article['body']}")
        translated = [_split(f"{t.get('title', '')}\n{t.get('body', '')}") for t in article.get("translations") or []]
        if paragraphs and sentences:
            found.append((row["messages"][0], paragraphs, sentences, [t for t in translated if t[0] and t[1]]))
    return found


def related_cosines(embedder: Any, rows: list[tuple[str, list[str], list[str], list[tuple[list[str], list[str]]]]],
                    *, across: bool) -> tuple[np.ndarray, np.ndarray]:
    """Per question (and, with ``across``, per translation of its article too): the best sentence
    cosine as the agent compares them, and the best paragraph cosine as a hit."""
    q = np.asarray(embedder.embed_queries([r[0] for r in rows]), dtype=np.float32)
    qs, qp = [], []
    for i, (_, paragraphs, sentences, translations) in enumerate(rows):
        for par, sen in [(paragraphs, sentences), *(translations if across else [])]:
            qs.append(float(np.max(np.asarray(embedder.embed_queries(sen), dtype=np.float32) @ q[i])))
            qp.append(float(np.max(np.asarray(embedder.embed_documents(par), dtype=np.float32) @ q[i])))
    return np.asarray(qs, dtype=np.float32), np.asarray(qp, dtype=np.float32)


def cosines(embedder: Any, queries: list[str], passages: list[str], pairs: list[tuple[str, int, int]]) -> np.ndarray:
    q = np.asarray(embedder.embed_queries(queries), dtype=np.float32)
    sentence_like = np.asarray(embedder.embed_queries(passages), dtype=np.float32)  # the agent's answer units
    p = np.asarray(embedder.embed_documents(passages), dtype=np.float32)  # indexed chunks
    out = np.empty(len(pairs), dtype=np.float32)
    for n, (kind, i, j) in enumerate(pairs):
        if kind == "qq":
            out[n] = q[i] @ q[j]
        elif kind == "qs":
            out[n] = q[i] @ sentence_like[j]
        else:
            out[n] = q[i] @ p[j]
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="multilingual-e5-small")
    parser.add_argument("--pairs", type=int, default=20000, help="pairs of each kind")
    parser.add_argument("--fresh", action="store_true", help="embed the pairs again (not from the cache)")
    parser.add_argument("--write", action="store_true", help=f"store the scale in {FITTED.relative_to(ROOT)}")
    args = parser.parse_args(argv)

    queries = messages()
    paragraphs, sentences = help_center()
    texts = paragraphs + sentences
    rng = random.Random(0)
    qq = [("qq", rng.randrange(len(queries)), rng.randrange(len(queries))) for _ in range(args.pairs)]
    qq = [(k, i, j) for k, i, j in qq if i != j]
    qs = [("qs", rng.randrange(len(queries)), len(paragraphs) + rng.randrange(len(sentences)))
          for _ in range(args.pairs)]
    qp = [("qp", rng.randrange(len(queries)), rng.randrange(len(paragraphs))) for _ in range(args.pairs)]
    pairs = qq + qs + qp
    print(f"{len(queries)} messages, {len(paragraphs)} paragraphs, {len(sentences)} sentences; "
          f"{len(qq)} + {len(qs)} + {len(qp)} pairs")
    # keyed by what is embedded: a changed dev set or sample text must not read stale cosines
    key = hashlib.sha256(json.dumps([queries, texts, pairs, related()]).encode()).hexdigest()[:16]
    cache = Path.home() / ".cache" / "knowdesk" / f"similarity-pairs-{args.model}-{key}.npz"
    if cache.is_file() and not args.fresh:  # the same pairs (seeded) already embedded by both models
        saved = np.load(cache)
        ref, other, model_id = saved["reference"], saved["model"], str(saved["model_id"])
    else:
        home = Path.home() / ".cache" / "knowdesk"  # where an int8 encoder would be built, never downloaded
        reference = build_embedder(REFERENCE, settings=EmbeddingSettings(model=REFERENCE), home=home)
        embedder = build_embedder(args.model, settings=EmbeddingSettings(model=args.model), home=home)
        ref = cosines(reference, queries, texts, pairs)
        other = cosines(embedder, queries, texts, pairs)
        model_id = embedder.model_id
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.savez(cache, reference=ref, model=other, model_id=np.array(model_id))

    rows = related()
    related_cache = cache.with_name(f"similarity-related-across-{args.model}-{key}.npz")
    if related_cache.is_file() and not args.fresh:
        saved = np.load(related_cache)
        rel_ref, rel_other = (saved["ref_qs"], saved["ref_qp"]), (saved["other_qs"], saved["other_qp"])
    else:
        home = Path.home() / ".cache" / "knowdesk"
        # The reference reads each question against the English article only (MiniLM is English-only);
        # the model against the article and its translations: a related pair reads as related on the
        # reference's scale whatever languages its two sides are in.
        rel_ref = related_cosines(build_embedder(REFERENCE, settings=EmbeddingSettings(model=REFERENCE), home=home),
                                  rows, across=False)
        rel_other = related_cosines(build_embedder(args.model, settings=EmbeddingSettings(model=args.model),
                                                   home=home), rows, across=True)
        np.savez(related_cache, ref_qs=rel_ref[0], ref_qp=rel_ref[1], other_qs=rel_other[0], other_qp=rel_other[1])

    kinds = {"query-query": (slice(0, len(qq) + len(qs)), 0),
             "query-passage": (slice(len(qq) + len(qs), len(pairs)), 1)}
    entry: dict[str, Any] = {"pairs": {"messages": len(queries), "paragraphs": len(paragraphs),
                                       "sentences": len(sentences), "related questions": len(rows),
                                       "related translations": sum(len(r[3]) for r in rows),
                                       "related share": RELATED_SHARE, "total": len(pairs)}}
    for name, (part, k) in kinds.items():
        n = part.stop - part.start
        repeat = max(1, round(RELATED_SHARE * n / (1 - RELATED_SHARE) / max(1, len(rows))))
        count = repeat * len(rel_ref[k])  # both related samples drawn to the same size, by their quantiles
        grid = np.linspace(0.0, 1.0, count)
        model_side = np.concatenate([other[part], np.quantile(rel_other[k], grid)])
        ref_side = np.concatenate([ref[part], np.quantile(rel_ref[k], grid)])
        scale = fit_quantiles(model_side.tolist(), ref_side.tolist())
        entry[name] = {"knots": [list(kn) for kn in scale.knots], "pairs": int(n),
                       "spearman": round(_spearman(other[part], ref[part]), 4),
                       "related": {"reference median": round(float(np.median(rel_ref[k])), 4),
                                   "model median": round(float(np.median(rel_other[k])), 4),
                                   "model median mapped": round(float(np.median(scale(rel_other[k]))), 4)}}
        print(f"{name}: {n} pairs, spearman {entry[name]['spearman']}, related {entry[name]['related']}")
        for x in (0.7, 0.75, 0.8, 0.85, 0.88, 0.9, 0.93, 0.95):
            print(f"  {model_id} {x:.2f} -> {REFERENCE} {float(scale(x)):.3f}")
    if args.write:
        fitted = json.loads(FITTED.read_text(encoding="utf-8")) if FITTED.is_file() else {"models": {}}
        fitted["reference"] = REFERENCE
        fitted["procedure"] = ("python -m bench.fit_similarity --model MODEL --write: quantile matching of the same "
                               "pairs' cosines under MODEL and the reference, 41 knots, one map per kind of pair "
                               "(bench/fit_similarity.py)")
        fitted["models"][model_id] = entry
        FITTED.write_text(json.dumps(fitted, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {FITTED}")


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    ra = np.argsort(np.argsort(a))
    rb = np.argsort(np.argsort(b))
    return float(np.corrcoef(ra, rb)[0, 1])


if __name__ == "__main__":
    main()
