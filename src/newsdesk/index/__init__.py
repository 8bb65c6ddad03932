"""Derived search indexes, rebuildable from the store at any time."""

from newsdesk.index.lexical import LexicalHit, LexicalIndex, LexicalQuery

__all__ = ["LexicalHit", "LexicalIndex", "LexicalQuery"]
