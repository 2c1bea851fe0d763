"""The HTML report: one self-contained page (inline CSS, plots as base64 PNG, no external requests)."""

from __future__ import annotations

from typing import Any

from jinja2 import Environment, select_autoescape

from . import plots
from .markdown import fmt

_ENV = Environment(autoescape=select_autoescape(default=True, default_for_string=True))
_ENV.filters["fmt"] = fmt

TEMPLATE = _ENV.from_string("""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Evaluation: {{ r.dataset.name }}</title>
<style>
 body { font: 14px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 1100px; color: #1d2a22;
        padding: 0 1rem; }
 h1 { margin-bottom: .2rem; } h2 { margin-top: 2rem; border-bottom: 1px solid #d5ddd8; }
 table { border-collapse: collapse; width: 100%; margin: .5rem 0; }
 th, td { border: 1px solid #d5ddd8; padding: .25rem .5rem; text-align: left; vertical-align: top; }
 th { background: #eef3f0; } td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
 .plots { display: flex; flex-wrap: wrap; gap: 1rem; align-items: flex-start; }
 .plots figure { margin: 0; } .plots img { max-width: 100%; border: 1px solid #d5ddd8; }
 .summary span { display: inline-block; margin-right: 1.2rem; } .bad { color: #b5483b; } .ok { color: #2f6f4f; }
 details { border: 1px solid #d5ddd8; margin: .4rem 0; padding: .3rem .6rem; }
 summary { cursor: pointer; font-weight: 600; } pre { white-space: pre-wrap; background: #f6f8f7; padding: .4rem; }
 .def { color: #56645b; }
</style></head><body>
<h1>Evaluation: {{ r.dataset.name }}</h1>
<p class="summary"><span>{{ r.totals.cases }} cases</span><span>{{ r.totals.scored }} scored</span>
<span class="ok">{{ r.totals.passed }} passed</span><span class="bad">{{ r.failures|length }} failing</span>
<span>{{ r.totals.unsupported }} not supported yet</span><span>workspace {{ r.workspace }}</span>
<span>{{ r.seconds|fmt }} s</span></p>
<h2>Plots</h2>
<div class="plots">
{% for title, png in images %}{% if png %}<figure><img alt="{{ title }}" src="data:image/png;base64,{{ png }}">
<figcaption>{{ title }}</figcaption></figure>{% endif %}{% endfor %}
</div>
<h2>Metrics</h2>
<table><tr><th>metric</th><th>value</th><th>n</th><th>definition</th></tr>
{% for name, value in r.metrics.items() %}<tr><td><code>{{ name }}</code></td>
<td class="num">{{ value|fmt }}</td>
<td class="num">{{ r.counts.get(name, '') }}</td><td class="def">{{ r.definitions.get(name, '') }}</td></tr>
{% endfor %}</table>
<h2>Handoffs by reason</h2>
<table><tr><th>reason</th><th>precision</th><th>recall</th><th>F1</th><th>expected</th><th>predicted</th></tr>
{% for reason, row in r.handoff_by_reason.items() if row.support or row.predicted %}<tr><td>{{ reason }}</td>
<td class="num">{{ row.precision|fmt }}</td><td class="num">{{ row.recall|fmt }}</td>
<td class="num">{{ row.f1|fmt }}</td>
<td class="num">{{ row.support }}</td><td class="num">{{ row.predicted }}</td></tr>{% endfor %}</table>
<h2>Confidence</h2>
{% set s = r.calibration.suggestion %}
<p>{{ r.calibration.n }} decisions on the confidence path, {{ r.calibration.positives }} correct.
ECE {{ r.calibration.ece|fmt }}, AUROC {{ r.calibration.auroc|fmt }}.
{% if s and s.threshold is not none %}Suggested answer threshold for precision &ge; {{ s.target_precision }}:
<b>{{ s.threshold }}</b> (precision {{ s.precision|fmt }}, coverage {{ s.coverage|fmt }}); the agent uses
{{ r.agent.answer_threshold|fmt if r.agent else 'n/a' }}.{% endif %}</p>
{% for name, cal in [('all cases', r.calibration)] + (r.calibration_by_split or {}).items()|list %}
<h3>Reliability: {{ name if name == 'all cases' else 'split ' ~ name }} (n {{ cal.n }}, ECE {{ cal.ece|fmt }},
AUROC {{ cal.auroc|fmt }})</h3>
<table class="reliability"><tr><th>confidence bin</th><th>decisions</th><th>mean confidence</th><th>share correct</th>
<th>gap</th></tr>
{% for b in cal.bins if b.count %}<tr><td>{{ '%.1f'|format(b.lower) }}&ndash;{{ '%.1f'|format(b.upper) }}</td>
<td class="num">{{ b.count }}</td><td class="num">{{ b.confidence|fmt }}</td><td class="num">{{ b.accuracy|fmt }}</td>
<td class="num">{{ (b.accuracy - b.confidence)|fmt }}</td></tr>{% endfor %}</table>
{% endfor %}
<h2>Per language</h2>
<table><tr><th>language</th><th>scored</th><th>pass rate</th><th>outcome accuracy</th><th>handoff precision</th>
<th>handoff recall</th><th>calibrated</th><th>ECE</th><th>AUROC</th></tr>
{% for lang, row in (r.per_language or {}).items() %}<tr><td>{{ lang }}</td><td class="num">{{ row.scored }}</td>
<td class="num">{{ row.pass_rate|fmt }}</td><td class="num">{{ row.outcome_accuracy|fmt }}</td>
<td class="num">{{ row.handoff_precision|fmt }}</td><td class="num">{{ row.handoff_recall|fmt }}</td>
<td class="num">{{ row.calibrated }}</td><td class="num">{{ row.ece|fmt }}</td>
<td class="num">{{ row.auroc|fmt }}</td></tr>
{% endfor %}</table>
<h2>Pass rate per tag</h2>
<table><tr><th>tag</th><th>cases</th><th>scored</th><th>passed</th><th>pass rate</th></tr>
{% for tag, row in r.per_tag.items() %}<tr><td>{{ tag }}</td><td class="num">{{ row.cases }}</td>
<td class="num">{{ row.scored }}</td><td class="num">{{ row.passed }}</td>
<td class="num">{{ row.pass_rate|fmt }}</td></tr>
{% endfor %}</table>
{% if r.unsupported %}<h2>Not supported yet</h2><ul>{% for u in r.unsupported %}
<li><code>{{ u.id }}</code>: {{ u.reason }}</li>{% endfor %}</ul>{% endif %}
<h2>LLM judge</h2><p>{{ r.llm_judge.why }}</p>
<h2>Failing cases ({{ r.failures|length }})</h2>
{% for f in r.failures %}<details><summary>{{ f.id }} <span class="def">({{ f.tags|join(', ') }})</span></summary>
{% if f.reason %}<p class="bad">error: {{ f.reason }}</p>{% endif %}
<ul>{% for c in f.failed %}<li><b>{{ c.name }}</b> (turn {{ c.turn + 1 }}): {{ c.detail }}</li>{% endfor %}</ul>
{% for t in f.turns %}<p><b>Customer:</b> {{ t.message }}<br><b>Agent</b> ({{ t.action }}{% if t.handoff_reason %},
{{ t.handoff_reason }}{% endif %}, confidence {{ '%.2f'|format(t.confidence) }}, {{ t.latency_ms|fmt }} ms):</p>
<pre>{{ t.reply }}</pre>
<p class="def">What the agent saw: retrieved {{ t.retrieved|join(', ') or 'nothing' }};
cited {{ t.citations|map(attribute='document_id')|join(', ') or 'nothing' }};
triggers fired {{ t.triggers|map(attribute='name')|join(', ') or 'none' }};
scenarios {{ t.scenarios|join(', ') or 'none' }}{% if t.notes %}; notes {{ t.notes|join('; ') }}{% endif %}.</p>
{% endfor %}{% if f.retrieved_documents %}
<p class="def">Retrieval alone (top 5): {{ f.retrieved_documents|join(', ') }}</p>{% endif %}
{% if f.unsupported_sentences %}
<p class="def">Unsupported sentences: {{ f.unsupported_sentences|join(' | ') }}</p>{% endif %}
</details>{% endfor %}
</body></html>
""")


def render_html(report: dict[str, Any]) -> str:
    metrics = report["metrics"]
    images = [
        ("Reliability diagram", plots.reliability_diagram(report["calibration"])),
        ("Pass rate per tag", plots.tag_bars(report["per_tag"])),
        ("Latency per agent turn", plots.latency_histogram(report["latencies_ms"], metrics.get("latency.p50_ms"),
                                                           metrics.get("latency.p95_ms"))),
    ]
    return TEMPLATE.render(r=report, images=images)
