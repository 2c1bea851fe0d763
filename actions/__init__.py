"""Actions (issue 9): API calls the agent makes during a session, defined by OpenAPI specs.

``openapi`` imports specs into ``ActionDef`` values, ``store`` keeps the per-workspace registry,
``params`` fills and validates arguments, ``caller`` makes the guarded HTTP call, ``render`` turns
the result into a reply, and ``hook.ActionRunner`` is the agent's ``ActionHook``.
"""
