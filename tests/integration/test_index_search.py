"""The index and hybrid search on real Qdrant local storage with the real MiniLM model.

Plumbing that no model changes (shrinking documents, idempotent rewrites, scoped deletes) is
checked once for every engine by the index-backend contract, tests/contracts/test_index_backends.py."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from qdrant_client import QdrantClient

from core.errors import ConfigError, StoreLocked
from core.models import Chunk, Document, DocumentKind
from retrieval.embedding import SentenceTransformerEmbedder
from retrieval.index import QdrantCandidates, QdrantIndex, close_client, open_client
from retrieval.search import Searcher, SearchFilters
from retrieval.sparse import BM25Encoder

pytestmark = pytest.mark.slow

WS = "acme"
OTHER_WS = "globex"

# (source, native id, kind, language, topic, chunk texts)
CORPUS: list[tuple[str, str, DocumentKind, str, tuple[str, ...], list[str]]] = [
    (
        "help",
        "thermostat-codes",
        DocumentKind.ARTICLE,
        "en",
        ("Devices", "Thermostat"),
        [
            "Code E-10 means the battery is low; replace both AA batteries.",
            "Code E-11 means the temperature sensor is blocked; clear dust from the vent.",
            "Code E-12 means the thermostat lost its pairing with the hub; hold reset for ten seconds.",
            "Code E-13 means a firmware update failed; keep the device plugged in and retry.",
        ],
    ),
    (
        "help",
        "screen-errors",
        DocumentKind.ARTICLE,
        "en",
        ("Devices", "Display"),
        [
            "What does an error on my screen mean? Error messages tell you what went wrong and what to do.",
            "If the display shows an error, write down the code before you contact support.",
            "Troubleshooting screen errors: most error codes go away after restarting the device.",
        ],
    ),
    (
        "help",
        "cancel",
        DocumentKind.ARTICLE,
        "en",
        ("Billing",),
        [
            "To cancel your subscription, open Settings, then Billing, and choose Cancel plan.",
            "After cancelling, your subscription stays active until the end of the billing period.",
        ],
    ),
    (
        "help",
        "refunds",
        DocumentKind.ARTICLE,
        "en",
        ("Billing",),
        ["Refunds are issued to the original payment method within five business days."],
    ),
    (
        "docs",
        "kuendigung",
        DocumentKind.FILE,
        "de",
        ("Abrechnung",),
        [
            "Um Ihr Abonnement zu kündigen, öffnen Sie Einstellungen und dann Abrechnung.",
            "Rechnungen finden Sie unter Konto, Rechnungen; Erstattungen dauern fünf Werktage.",
        ],
    ),
    (
        "docs",
        "refund-handbook",
        DocumentKind.FILE,
        "en",
        ("Billing", "Policies"),
        [
            f"Refund handbook part {n}: a refund request is reviewed by the billing team, "
            f"refunds for {item} are approved when the order is under thirty days old."
            for n, item in enumerate(["hardware", "software", "gift cards", "add-ons", "shipping", "repairs"])
        ],
    ),
    (
        "site",
        "app-home",
        DocumentKind.PAGE,
        "en",
        ("App",),
        [
            "The home screen shows your devices, their temperature and any active alerts.",
            "Swipe down on the home screen to refresh; an error banner shows when the hub is offline.",
        ],
    ),
    (
        "site",
        "app-errors",
        DocumentKind.PAGE,
        "en",
        ("App",),
        [
            "Login errors: if the app shows an error when you sign in, reset your password.",
            "Payment errors show on the checkout screen when the card is declined.",
            "Screen brightness and the lock screen timeout are under Settings, Display.",
        ],
    ),
    (
        "scenarios",
        "refund-request",
        DocumentKind.SCENARIO,
        "en",
        ("Billing",),
        ["When a customer asks for a refund, check the order date and offer store credit first."],
    ),
]


def make_document(workspace: str, source: str, native: str, **fields: object) -> Document:
    return Document(workspace=workspace, source_id=source, native_id=native, title=native, **fields)


def make_chunks(document: Document, texts: list[str]) -> list[Chunk]:
    return [
        Chunk(
            document_id=document.id,
            index=i,
            text=text,
            embed_text=f"{document.title}\n{text}",
            section=(document.title,),
            token_count=0,
        )
        for i, text in enumerate(texts)
    ]


@pytest.fixture(scope="module")
def embedder() -> SentenceTransformerEmbedder:
    return SentenceTransformerEmbedder(model="all-MiniLM-L6-v2")


class Store:
    def __init__(self, path: Path, embedder: SentenceTransformerEmbedder) -> None:
        self.path = path
        self.embedder = embedder
        self.client = open_client(url=None, api_key=None, path=path, timeout=10)
        self.index = self.make_index()
        self.index.ensure_collection()
        self.searcher = Searcher(engine=QdrantCandidates(client=self.client, alias="kd"),
                                 embedder=embedder, sparse=self.index.sparse)

    def make_index(self, chunker_version: str = "v1", **kwargs: object) -> QdrantIndex:
        return QdrantIndex(
            client=self.client,
            alias="kd",
            model_id=self.embedder.model_id,
            dimension=self.embedder.dimension,
            chunker_version=chunker_version,
            sparse=BM25Encoder(),
            **kwargs,  # type: ignore[arg-type]
        )

    def write(self, document: Document, texts: list[str]) -> list[Chunk]:
        chunks = make_chunks(document, texts)
        self.index.replace_document(document, chunks, self.embedder.embed_documents([c.embed_text for c in chunks]))
        return chunks


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, embedder: SentenceTransformerEmbedder) -> Iterator[Store]:
    store = Store(tmp_path_factory.mktemp("qdrant"), embedder)
    for source, native, kind, language, topic, texts in CORPUS:
        document = make_document(WS, source, native, kind=kind, language=language, topic=topic)
        store.write(document, texts)
    # Another tenant with a unique code and a same-named document.
    store.write(make_document(OTHER_WS, "help", "cancel", language="en"), ["Code Z-99: globex internal reset."])
    yield store
    close_client(store.client)


def test_collection_is_named_after_model_chunker_and_dimension(store: Store) -> None:
    assert store.index.collection_name == "kd__all_minilm_l6_v2__v1__d384"
    aliases = store.client.get_aliases().aliases
    assert [(a.alias_name, a.collection_name) for a in aliases] == [("kd", store.index.collection_name)]


def test_chunk_count_mismatch_is_rejected(store: Store) -> None:
    document = make_document(WS, "help", "mismatch")
    chunks = make_chunks(document, ["one", "two"])
    with pytest.raises(ValueError, match="2 chunks but 1 vectors"):
        store.index.replace_document(document, chunks, store.embedder.embed_documents(["one"]))


def test_hybrid_finds_a_rare_code_that_dense_alone_ranks_low(store: Store) -> None:
    query = "the screen shows error E-12"
    dense_only = store.client.query_points(
        "kd", query=store.embedder.embed_query(query).tolist(), using="dense", limit=5, with_payload=True
    ).points
    dense_texts = [p.payload["text"] for p in dense_only if p.payload]
    e12 = next(text for text in CORPUS[0][5] if "E-12" in text)
    assert e12 not in dense_texts[:3]  # generic "error on the screen" chunks win on meaning alone

    hits = store.searcher.search(query, workspace=WS, top_k=5)
    assert hits[0].text == e12
    assert hits[0].payload["chunk_index"] == 2
    assert hits[0].dense_score is not None and 0 < hits[0].dense_score < 1


@pytest.mark.parametrize(
    ("query", "filters", "expect"),
    [
        ("refund", SearchFilters(kind="scenario"), {"scenarios:refund-request"}),
        ("Abonnement kündigen", SearchFilters(language="de"), {"docs:kuendigung"}),
        (
            "cancel subscription",
            SearchFilters(topic="Billing", source_id="help"),
            {"help:cancel", "help:refunds"},
        ),
        ("refund", SearchFilters(source_id="docs"), {"docs:refund-handbook", "docs:kuendigung"}),
        ("error code", SearchFilters(document_id=["help:screen-errors"]), {"help:screen-errors"}),
    ],
)
def test_filters_restrict_hits(store: Store, query: str, filters: SearchFilters, expect: set[str]) -> None:
    hits = store.searcher.search(query, workspace=WS, filters=filters, top_k=10)
    assert hits
    assert {h.document_id for h in hits} <= expect


def test_language_filter_stems_german_queries(store: Store) -> None:
    hits = store.searcher.search("Rechnung", workspace=WS, filters=SearchFilters(language="de"), top_k=1)
    assert "Rechnungen finden Sie" in hits[0].text


def test_per_document_cap(store: Store) -> None:
    hits = store.searcher.search("refund request approved", workspace=WS, top_k=5, per_document=2)
    per_doc = [h.document_id for h in hits]
    assert len(hits) == 5
    assert per_doc.count("docs:refund-handbook") == 2
    # without per_document: the settings' cap, 2 chunks of one section by default
    default = store.searcher.search("refund request approved", workspace=WS, top_k=5)
    sections = [(h.document_id, h.section) for h in default]
    assert len(default) == 5 and max(sections.count(s) for s in sections) <= 2
    uncapped = store.searcher.search("refund request approved", workspace=WS, top_k=5, per_document=10)
    assert [h.document_id for h in uncapped].count("docs:refund-handbook") > 2


def test_workspace_isolation(store: Store) -> None:
    for query in ("Code Z-99 globex internal reset", "cancel subscription", "refund"):
        hits = store.searcher.search(query, workspace=WS, top_k=20)
        assert all(h.payload["workspace"] == WS for h in hits)
        assert all("Z-99" not in h.text for h in hits)
    theirs = store.searcher.search("cancel subscription", workspace=OTHER_WS, top_k=20)
    assert "Code Z-99: globex internal reset." in [h.text for h in theirs]
    assert all(h.payload["workspace"] == OTHER_WS for h in theirs)
    assert store.searcher.search("anything", workspace="nobody") == []


def test_search_many_matches_single_searches(store: Store) -> None:
    queries = [("E-12", None, 3), ("Abonnement", SearchFilters(language="de"), 2)]
    batch = store.searcher.search_many(queries, WS)
    singles = [store.searcher.search(q, workspace=WS, filters=f, top_k=k) for q, f, k in queries]
    assert [[h.chunk_id for h in hits] for hits in batch] == [[h.chunk_id for h in hits] for hits in singles]


def test_alias_pointing_elsewhere_is_a_config_error(store: Store) -> None:
    other = store.make_index(chunker_version="v2")
    with pytest.raises(ConfigError) as info:
        other.ensure_collection()
    assert store.index.collection_name in info.value.message
    assert other.collection_name in info.value.message
    assert "knowdesk reindex" in info.value.message
    adopted = store.make_index(chunker_version="v2", use_alias_target=True)
    adopted.ensure_collection()
    assert adopted.target == store.index.collection_name
    assert not store.client.collection_exists(other.collection_name)


def test_open_client_is_shared_and_reports_a_locked_store(tmp_path: Path, store: Store) -> None:
    assert open_client(url=None, api_key=None, path=store.path, timeout=5) is store.client
    locked = tmp_path / "locked"
    holder = textwrap.dedent(
        f"""
        import sys
        from qdrant_client import QdrantClient
        client = QdrantClient(path={str(locked)!r})
        print("ready", flush=True)
        sys.stdin.readline()
        client.close()
        """
    )
    with subprocess.Popen(
        [sys.executable, "-c", holder], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    ) as proc:
        assert proc.stdout is not None and proc.stdin is not None
        assert proc.stdout.readline().strip() == "ready"
        with pytest.raises(StoreLocked) as info:
            open_client(url=None, api_key=None, path=locked, timeout=5)
        proc.stdin.write("\n")
        proc.stdin.flush()
    assert str(locked) in info.value.message
    assert "knowdesk serve" in info.value.message and "KNOWDESK_QDRANT__URL" in info.value.message
    client = open_client(url=None, api_key=None, path=locked, timeout=5)
    assert isinstance(client, QdrantClient)
    close_client(client)


def test_embedder_contract(embedder: SentenceTransformerEmbedder, tmp_path: Path) -> None:
    assert (embedder.model_id, embedder.dimension, embedder.max_tokens) == ("all-MiniLM-L6-v2", 384, 254)
    assert embedder.count_tokens("Refunds are issued within five business days.") == 9
    vectors = embedder.embed_documents(["one", "two words"])
    assert vectors.shape == (2, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert embedder.embed_documents(["word " * 254]).shape == (1, 384)
    with pytest.raises(ValueError, match="exceed the model's 254 tokens"):
        embedder.embed_documents(["fine", "word " * 255])
    assert embedder.embed_query("word " * 1000).shape == (384,)  # queries may be truncated
    assert embedder.embed_queries(["a", "b", "c"]).shape == (3, 384)
    # Both spellings of the default resolve to the one model loaded in this process.
    again = SentenceTransformerEmbedder(model="sentence-transformers/all-MiniLM-L6-v2")
    assert again._model is embedder._model
    with pytest.raises(ConfigError, match="not available offline"):
        SentenceTransformerEmbedder(model="nobody/not-a-cached-model")
    with pytest.raises(ConfigError, match="local folder"):
        SentenceTransformerEmbedder(model=str(tmp_path / "missing-folder"))
