"""Image animation with the First Order Motion Model."""

__version__ = "0.1.0"
