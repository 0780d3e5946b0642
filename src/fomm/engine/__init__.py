"""Streaming inference and conformance runs on top of `fomm.model` and `fomm.media`."""
