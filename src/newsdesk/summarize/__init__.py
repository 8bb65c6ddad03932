"""Summarizers behind one protocol, and the verifier that guards all of them."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from newsdesk.models import Document, Summary


@runtime_checkable
class Summarizer(Protocol):
    """Turns one document into a structured, cited summary."""

    name: str
    version: str

    def summarize(self, document: Document) -> Summary:
        """Summarize ``document``; every bullet cites paragraph numbers of it."""
        ...


__all__ = ["Summarizer"]
