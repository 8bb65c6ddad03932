"""Measuring newsdesk on labelled public data (kept outside the repository)."""
