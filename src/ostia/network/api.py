"""Placeholder: filled in by the network work."""

from __future__ import annotations

from fastapi import FastAPI


def install(app: FastAPI) -> None:
    """Mount this service's routes and error handlers on the application."""
