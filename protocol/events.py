"""An execution's event log in a Redis stream: what GET .../events (Server-Sent Events) replays.

Entries are ``{"type": TYPE, "data": JSON}``; the stream's entry ids are the SSE event ids, so a client
reconnecting with ``Last-Event-ID`` reads on from there. The control plane writes the execution's
state changes (after they commit); the gpu worker writes node events as they happen (progress
throttled to a few a second). The log lives EVENTS_TTL_SECONDS after its last entry.
"""

from __future__ import annotations

EVENTS_KEY = "crucible:events:{execution_id}"
EVENTS_TTL_SECONDS = 3600
EVENTS_MAX_LEN = 5000  # approximate trim: the log of one execution never grows without bound

QUEUED = "execution.queued"
STARTED = "execution.started"
COMPLETED = "execution.completed"
FAILED = "execution.failed"
CANCELLED = "execution.cancelled"
NODE_STARTED = "node.started"
NODE_PROGRESS = "node.progress"
NODE_COMPLETED = "node.completed"
TERMINAL = frozenset({COMPLETED, FAILED, CANCELLED})
