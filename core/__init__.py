"""Shared foundations: settings, ids, errors and the value objects every package uses."""
