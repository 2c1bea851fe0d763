"""The sample help center names every topic in every locale it has articles in, so the portal in
that locale shows no English topic names (issue 24)."""

from __future__ import annotations

import json
from pathlib import Path

SAMPLE = Path(__file__).resolve().parents[2] / "service" / "samples" / "helpcenter.json"


def test_every_topic_is_named_in_every_locale_the_articles_use() -> None:
    data = json.loads(SAMPLE.read_text(encoding="utf-8"))
    locales = {t["locale"] for a in data["articles"] for t in a.get("translations") or []}
    assert locales, "the sample has translations"
    for topic in data["topics"]:
        missing = sorted(locales - {k for k, v in topic.get("names", {}).items() if v.strip()})
        assert not missing, f"topic {topic['id']!r} has no name in {missing}"
        assert all(v != topic["name"] for v in topic["names"].values()), topic["id"]
