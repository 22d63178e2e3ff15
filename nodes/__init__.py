"""The node catalogue: schemas, registry and graph validation.

Importable without torch: a node's schema is plain data, and heavy imports
happen inside the implementation module that the registry loads lazily.
"""
