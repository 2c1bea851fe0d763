"""The HTTP API's response models: one ``...Public`` model per resource, next to the routes.

Every route declares its ``response_model`` from here, so the published OpenAPI says what each
answer holds; the error bodies (``ErrorPublic``, ``ValidationErrorPublic``) are the ones the
exception handlers of ``service/api.py`` send.
"""
