"""How long OpenAICompatibleChat's answer can be when it reaches a prompt (nodes/cost_text.py).

An answer is at most `max_tokens` model tokens, and the node refuses one longer than
MAX_CHARS_PER_TOKEN characters per token (ops.py), so the bound holds before anything runs.
"""

from __future__ import annotations

from typing import Any

from nodes.cost import NodeCost, Rule
from nodes.cost_text import Text

# English averages about 4 characters per token; 16 leaves room for long words and code.
MAX_CHARS_PER_TOKEN = 16


def chat_answer(n: NodeCost) -> tuple[Any, ...]:
    return (Text.bounded(int(n.number("max_tokens")) * MAX_CHARS_PER_TOKEN),)


RULES: dict[str, Rule] = {"OpenAICompatibleChat": chat_answer}
