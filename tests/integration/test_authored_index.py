"""Publishing is indexing (real model, Qdrant in memory): published articles are retrievable,
unpublished and deleted ones are not, drafts never are; scenario triggers match paraphrases and
channel restrictions hold."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from qdrant_client import QdrantClient

from core.db import Database, close_all, open_database
from core.errors import ParseError
from core.models import Channel
from helpcenter.models import ArticleInput, HelpCenterRules, TopicInput, TranslationInput
from helpcenter.publisher import HelpCenterPublisher, StateFactory
from helpcenter.service import HelpCenter
from helpcenter.store import HelpCenterStore
from ingest.chunking import Chunker
from ingest.parsing import Parser
from ingest.sync import Pipeline
from retrieval.index import QdrantCandidates, QdrantIndex
from retrieval.search import Searcher, SearchFilters
from retrieval.sparse import BM25Encoder
from training.drafts import ScenarioDraft
from training.indexing import ScenarioIndexer
from training.models import ScenarioKind
from training.service import Training
from training.store import TrainingStore

pytestmark = pytest.mark.slow
WS = "default"
ARTICLES = SearchFilters(kind="article")


class World:
    def __init__(self, db: Database, embedder, client: QdrantClient) -> None:  # type: ignore[no-untyped-def]
        index = QdrantIndex(client=client, model_id=embedder.model_id, dimension=embedder.dimension,
                            chunker_version="t1", sparse=BM25Encoder())
        chunker = Chunker(tokens=embedder, max_tokens=128, overlap_tokens=16)
        self.pipeline = Pipeline(parser=Parser(max_bytes=10**6), chunker=chunker, embedder=embedder, writer=index)
        self.index = index
        self.hc = HelpCenter(store=HelpCenterStore(db=db, rules=HelpCenterRules()),
                             publisher=HelpCenterPublisher(pipeline=lambda: self.pipeline, state=StateFactory(db=db)))
        self.training = Training(store=TrainingStore(db=db),
                                 indexer=ScenarioIndexer(pipeline=lambda: self.pipeline, db=db))
        self.searcher = Searcher(engine=QdrantCandidates(client=client), embedder=embedder, sparse=BM25Encoder())

    def titles(self, query: str, filters: SearchFilters = ARTICLES, top_k: int = 5) -> list[str]:
        return [h.title for h in self.searcher.search(query, workspace=WS, filters=filters, top_k=top_k)]


@pytest.fixture
def world(tmp_path: Path, minilm) -> Iterator[World]:  # type: ignore[no-untyped-def]
    db = open_database(f"sqlite:///{tmp_path / 'state.db'}")
    client = QdrantClient(":memory:")
    w = World(db, minilm, client)
    w.hc.create_topic(WS, TopicInput(id="subscriptions", name="Subscriptions"))
    w.hc.create_topic(WS, TopicInput(id="mill", name="Brewly Mill"))
    yield w
    client.close()
    close_all()


def _article(slug: str, title: str, body: str, topic: str = "subscriptions") -> ArticleInput:
    return ArticleInput(slug=slug, topic=topic, default_locale="en",
                        translations=(TranslationInput(locale="en", title=title, body=body),))


SKIP = ("You can skip next month's coffee box until the 25th. Open Subscription, choose Skip next box and "
        "confirm; you are not charged for a skipped month.")
DESCALE = "Descale the Brewly Mill every three months with the descaling tablets. Run the cleaning cycle twice."


def test_publish_makes_an_article_retrievable_and_unpublish_removes_it(world: World) -> None:
    world.hc.create_article(WS, _article("skip-a-delivery", "Skip a delivery", SKIP))
    world.hc.create_article(WS, _article("descale", "Descale the mill", DESCALE, topic="mill"))
    assert world.titles("how do I skip a box?") == []  # drafts never reach retrieval

    _, report = world.hc.publish(WS, "skip-a-delivery")
    assert report.written == 1
    hits = world.searcher.search("how do I skip a box?", workspace=WS, filters=ARTICLES)
    assert hits[0].title == "Skip a delivery"
    assert hits[0].document_id == "help-center:skip-a-delivery/en"
    assert hits[0].uri == "/help/en/articles/skip-a-delivery" and hits[0].topic == ("Subscriptions",)
    assert hits[0].language == "en" and "Descale the mill" not in world.titles("how do I skip a box?")

    _, report = world.hc.publish(WS, "skip-a-delivery")  # publishing again re-embeds nothing
    assert report.written == 0 and report.unchanged == 1

    _, report = world.hc.unpublish(WS, "skip-a-delivery")
    assert report.deleted == 1
    assert world.titles("how do I skip a box?") == []
    assert world.index.count(WS, source_id="help-center") == 0


def test_an_edit_replaces_chunks_and_delete_removes_every_locale(world: World) -> None:
    world.hc.create_article(WS, _article("skip-a-delivery", "Skip a delivery", SKIP))
    german = "Sie können die Kaffeebox des nächsten Monats bis zum 25. aussetzen."
    world.hc.put_translation(WS, "skip-a-delivery",
                             TranslationInput(locale="de", title="Lieferung aussetzen", body=german))
    world.hc.publish(WS, "skip-a-delivery")
    assert world.index.count(WS, document_id=["help-center:skip-a-delivery/en", "help-center:skip-a-delivery/de"]) >= 2

    new_body = "Skipping works until the 20th now. Go to Plan settings and press Pause for one month."
    _, report = world.hc.put_translation(WS, "skip-a-delivery",
                                         TranslationInput(locale="en", title="Skip a delivery", body=new_body))
    assert report.written == 1
    texts = [h.text for h in world.searcher.search("skip until which day", workspace=WS,
                                                   filters=SearchFilters(kind="article", language="en"))]
    assert texts and all("25th" not in t for t in texts) and "20th" in texts[0]
    assert world.hc.store.get(WS, "skip-a-delivery").translation("de").stale  # type: ignore[union-attr]

    world.hc.delete_article(WS, "skip-a-delivery")
    assert world.index.count(WS, source_id="help-center") == 0


def test_publishing_a_body_without_text_fails_and_changes_nothing(world: World) -> None:
    world.hc.create_article(WS, _article("skip-a-delivery", "Skip a delivery", SKIP))
    world.hc.publish(WS, "skip-a-delivery")
    with pytest.raises(ParseError):
        world.hc.put_translation(WS, "skip-a-delivery", TranslationInput(locale="en", title="Skip", body="---\n"))
    article = world.hc.store.get(WS, "skip-a-delivery")
    assert article.translations[0].body == SKIP and article.translations[0].title == "Skip a delivery"
    assert world.titles("how do I skip a box?")[0] == "Skip a delivery"


def _scenario(title: str, triggers: tuple[str, ...], answer: str, channels: tuple[Channel, ...] = ()) -> ScenarioDraft:
    return ScenarioDraft(kind=ScenarioKind.SPECIFIC, title=title, triggers=triggers, answer=answer,
                         is_instruction=True, channels=channels)


def test_a_paraphrase_of_a_trigger_retrieves_the_scenario_and_channels_restrict_it(world: World) -> None:
    world.hc.create_article(WS, _article("skip-a-delivery", "Skip a delivery", SKIP))
    world.hc.publish(WS, "skip-a-delivery")
    t = world.training
    t.create(WS, "where-is-my-order", _scenario("Where is my order?", ("Where is my order?",
             "My package has not arrived yet"), "Ask for the order number."), publish=True)
    t.create(WS, "discount", _scenario("Can I get a discount?", ("Can I get a discount?",),
             "No individual discount codes."), publish=True)
    t.create(WS, "invoice", _scenario("Send me my invoice", ("Can you send me my invoice?",),
             "Offer the PDF.", channels=(Channel.WHATSAPP, Channel.EMAIL)), publish=True)
    t.create(WS, "draft-only", _scenario("Gift wrapping", ("Can you gift wrap my order?",), "Not offered."))

    scenarios = SearchFilters(kind="scenario")
    hits = world.searcher.search("my parcel still hasn't shown up, where is it?", workspace=WS, filters=scenarios)
    assert hits[0].payload["meta"]["scenario_id"] == "where-is-my-order"
    assert hits[0].title == "Where is my order?" and hits[0].kind == "scenario"
    assert world.searcher.search("any promo code for me?", workspace=WS,
                                 filters=scenarios)[0].payload["meta"]["scenario_id"] == "discount"
    # drafts are not indexed; articles are not scenarios
    ids = {h.payload["meta"]["scenario_id"] for h in world.searcher.search("gift wrap", workspace=WS,
                                                                          filters=scenarios, top_k=10)}
    assert "draft-only" not in ids

    invoice = "could you email me a copy of my bill?"
    on_email = world.searcher.search(invoice, workspace=WS, filters=SearchFilters(kind="scenario", channel="email"))
    assert on_email[0].payload["meta"]["scenario_id"] == "invoice"
    on_web = world.searcher.search(invoice, workspace=WS, filters=SearchFilters(kind="scenario", channel="web"),
                                   top_k=10)
    assert on_web and "invoice" not in {h.payload["meta"]["scenario_id"] for h in on_web}
    assert "where-is-my-order" in {h.payload["meta"]["scenario_id"] for h in on_web}  # unrestricted stay

    # unpublish and delete take scenarios out of the index; rollback puts a version back
    t.unpublish(WS, "discount")
    assert "discount" not in {h.payload["meta"]["scenario_id"] for h in world.searcher.search(
        "any promo code for me?", workspace=WS, filters=scenarios, top_k=10)}
    t.update(WS, "where-is-my-order", _scenario("Where is my order?", ("Which courier do you use?",),
             "DHL."), publish=True)
    assert t.store.scenario(WS, "where-is-my-order").version == 2  # type: ignore[union-attr]
    assert world.searcher.search("my parcel still hasn't shown up, where is it?", workspace=WS,
                                 filters=scenarios)[0].text == "Which courier do you use?"
    back = t.rollback(WS, "where-is-my-order", 1).scenario
    assert back is not None and back.version == 3
    assert back.triggers == ("Where is my order?", "My package has not arrived yet")
    assert world.searcher.search("my parcel still hasn't shown up, where is it?", workspace=WS,
                                 filters=scenarios)[0].text in back.triggers
    t.delete(WS, "where-is-my-order")
    assert world.index.count(WS, source_id="training") == 1  # only the invoice scenario is left
