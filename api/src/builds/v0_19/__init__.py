"""Kokoro v0.19 (work in progress)."""
