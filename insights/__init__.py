"""Insights: recurring themes and knowledge gaps found in recent sessions (issue 11).

``engine`` clusters redacted customer messages and labels, classifies and measures each
cluster; ``service`` loads a window from the session store, matches knowledge gaps with
articles and stores the result (``store``); ``samples`` plants themes for demos and tests.
"""
