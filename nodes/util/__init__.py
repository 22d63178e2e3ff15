"""Utility nodes: primitives, strings and (bounded, timed) regular expressions."""
