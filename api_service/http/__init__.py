"""HTTP policy shared by every API view: throttling, idempotency, body parsing, schema, headers."""
