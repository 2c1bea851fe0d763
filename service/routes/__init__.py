"""One router per area; ``service.api.create_app`` includes them all."""
