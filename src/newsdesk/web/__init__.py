"""The web UI and JSON API (FastAPI, server-rendered Jinja templates)."""
