"""Execution leases in Redis: at most one live attempt per execution, each with a fencing token.

A worker that receives a run (first delivery, broker redelivery after a crash, or the reaper's
republish) claims it atomically:

- the run finished already (a marker its worker set) or another copy holds a live lease: this copy
  exits at once, without an event;
- else it takes the next attempt number (never below the spec's) as its fencing token and a lease
  that its heartbeat renews. Events carry the token; the control plane ignores any event whose token
  is older than the row's attempt, so a stale copy can never overwrite a newer attempt's result.

Keys expire on their own: a lost Redis costs leases (copies may then overlap, and the state machine
still keeps one result) but never blocks a run.
"""

from __future__ import annotations

LEASE_KEY = "crucible:lease:{execution_id}"  # "<token>:<worker>", expires lease_seconds after a beat
ATTEMPT_KEY = "crucible:attempts:{execution_id}"  # the last token handed out
DONE_KEY = "crucible:done:{execution_id}"  # set when an attempt reached a terminal event
HEARTBEAT_KEY = "crucible:heartbeat:{execution_id}"  # "<token>", the run's liveness, read by the reaper
# The attempt's terminal event (JSON), kept beside the message that carries it: if that message is lost
# (a control worker killed while applying it), the reaper applies it from here instead of rerunning.
OUTCOME_KEY = "crucible:outcome:{execution_id}"
OUTCOME_TTL_SECONDS = 2 * 24 * 3600
ATTEMPT_TTL_SECONDS = 2 * 24 * 3600
DONE_TTL_SECONDS = 2 * 24 * 3600

RUN, BUSY, FINISHED = "run", "busy", "finished"

# KEYS: lease, attempts, done.  ARGV: spec attempt, worker, lease ms, counter ttl s.
# Returns {status, token-or-holder}.
CLAIM_SCRIPT = """
if redis.call('EXISTS', KEYS[3]) == 1 then return {'finished', ''} end
local holder = redis.call('GET', KEYS[1])
if holder then return {'busy', holder} end
local token = redis.call('INCR', KEYS[2])
local floor = tonumber(ARGV[1])
if token < floor then
  token = floor
  redis.call('SET', KEYS[2], token)
end
redis.call('EXPIRE', KEYS[2], tonumber(ARGV[4]))
redis.call('SET', KEYS[1], token .. ':' .. ARGV[2], 'PX', tonumber(ARGV[3]))
return {'run', tostring(token)}
"""

# KEYS: lease, heartbeat.  ARGV: "<token>:<worker>", token, lease ms.
# Renews only a lease this attempt still holds (or re-takes one Redis lost); 0 if another holds it.
RENEW_SCRIPT = """
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', tonumber(ARGV[3]))
redis.call('SET', KEYS[2], ARGV[2], 'PX', tonumber(ARGV[3]))
return 1
"""

# KEYS: lease, heartbeat, done.  ARGV: "<token>:<worker>", done ttl s.
# Marks the run finished and drops this attempt's lease and heartbeat.
FINISH_SCRIPT = """
redis.call('SET', KEYS[3], '1', 'EX', tonumber(ARGV[2]))
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
redis.call('DEL', KEYS[2])
return 1
"""

# KEYS: lease, heartbeat, done (unused).  ARGV: "<token>:<worker>".  Hands the run back unfinished
# (a newer attempt may hold the lease and write the heartbeat: only this attempt's lease goes).
RELEASE_SCRIPT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
"""


def keys(execution_id: str) -> dict[str, str]:
    return {
        "lease": LEASE_KEY.format(execution_id=execution_id),
        "attempts": ATTEMPT_KEY.format(execution_id=execution_id),
        "done": DONE_KEY.format(execution_id=execution_id),
        "heartbeat": HEARTBEAT_KEY.format(execution_id=execution_id),
    }
