"""A deterministic stand-in for a language model, so the crew runs offline.

`ScriptedLLM` is a CrewAI custom LLM (a `BaseLLM` subclass). CrewAI calls it exactly as
it would call a real model, with the whole conversation so far; it answers in the ReAct
format CrewAI parses (`Thought:` / `Action:` / `Action Input:`, or `Final Answer:`). What it
answers is a small script per task that reads the last tool observation (the JSON that
Vigil's MCP tools return), so it reacts to what Vigil says: it waits on a pending
approval, repeats the statement once approved, and reports a denial.

Everything else is real: the crew, the agent executor, crewai-tools' MCPServerAdapter,
the MCP client and Vigil. Every prompt and answer is kept in `transcript` (see crew.py).
"""

from __future__ import annotations

import json
import re
from typing import Any

from crewai.llms.base_llm import BaseLLM

# Phrases that identify the tasks of crew.py in the conversation.
ANSWER_TASK = "Which customer has spent the most"
CLEANUP_TASK = "Clean up the test orders"
DROP_TASK = "Drop the orders table"

TOP_CUSTOMERS = (
    "SELECT c.name, c.email, sum(o.total) AS spent, count(*) AS orders "
    "FROM customers c JOIN orders o ON o.customer_id = c.id "
    "GROUP BY c.id, c.name, c.email ORDER BY spent DESC LIMIT 3"
)
CLEANUP_DELETE = "DELETE FROM orders WHERE created_at < $1"
CLEANUP_BEFORE = "2025-01-10"
# crewai-tools' MCP adapter gives each tool call 5 seconds, so wait in short polls.
POLL_SECONDS = (4, 3)
MAX_STEPS = 120


def _text(message: Any) -> str:
    if isinstance(message, dict):
        content = message.get("content")
    else:
        content = getattr(message, "content", message)
    if isinstance(content, list):
        return "".join(part.get("text", "") if isinstance(part, dict) else str(part) for part in content)
    return "" if content is None else str(content)


def _role(message: Any) -> str:
    return message.get("role", "") if isinstance(message, dict) else getattr(message, "role", "")


def _action(thought: str, tool: str, args: dict) -> str:
    return f"Thought: {thought}\nAction: {tool}\nAction Input: {json.dumps(args)}"


def _final(thought: str, answer: str) -> str:
    return f"Thought: {thought}\nFinal Answer: {answer}"


def _last_json(text: str) -> dict | None:
    """The last JSON object in `text` (a tool observation)."""
    decoder = json.JSONDecoder()
    found = None
    for match in re.finditer(r"\{", text):
        try:
            value, _ = decoder.raw_decode(text[match.start():])
        except ValueError:
            continue
        if isinstance(value, dict) and "status" in value:
            found = value
    return found


class ScriptedLLM(BaseLLM):
    """Replays the analyst's script; see the module docstring."""

    transcript: list[dict] = []

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("model", "scripted/vigil-analyst")
        super().__init__(**kwargs)
        self.transcript = []

    def supports_function_calling(self) -> bool:
        # Plain ReAct text: the executor parses the Action lines and runs the tool.
        return False

    def supports_stop_words(self) -> bool:
        return False

    def get_context_window_size(self) -> int:
        return 128_000

    def call(
        self,
        messages: str | list,
        tools: list | None = None,
        callbacks: list | None = None,
        available_functions: dict | None = None,
        from_task: Any = None,
        from_agent: Any = None,
        response_model: Any = None,
    ) -> str:
        if isinstance(messages, str):
            messages = [{"role": "user", "content": messages}]
        answer = self._next(messages)
        self.transcript.append(
            {"messages": [{"role": _role(m), "content": _text(m)} for m in messages], "answer": answer}
        )
        return answer

    def _next(self, messages: list) -> str:
        texts = [_text(m) for m in messages]
        for phrase, script in (
            (ANSWER_TASK, self._answer),
            (CLEANUP_TASK, self._cleanup),
            (DROP_TASK, self._drop),
        ):
            starts = [i for i, t in enumerate(texts) if phrase in t]
            if not starts:
                continue
            turns = messages[starts[-1] + 1 :]
            steps = sum(1 for m in turns if _role(m) == "assistant")
            observation = _last_json("\n".join(_text(m) for m in turns)) if turns else None
            if steps >= MAX_STEPS:
                return _final("I have tried long enough.", "I could not finish this task.")
            return script(steps, observation)
        return _final("This is not a task I have a script for.", "I have no answer.")

    # Task 1: answer a question from the data (the email column comes back masked).
    def _answer(self, step: int, obs: dict | None) -> str:
        if step == 0:
            return _action("First, which connections may I use?", "list_connections", {})
        if step == 1:
            return _action("Let me see the tables of the shop.", "describe_connection", {"connection": "shop"})
        if step == 2:
            return _action(
                "Sum the order totals per customer.",
                "query",
                {"connection": "shop", "sql": TOP_CUSTOMERS},
            )
        if not obs or obs.get("status") != "ok" or not obs.get("rows"):
            return _final("The query did not give me rows.", f"I could not answer: {obs}")
        name, email, spent, orders = obs["rows"][0]
        rest = "; ".join(f"{r[0]} ({r[2]})" for r in obs["rows"][1:])
        return _final(
            "I now know the final answer.",
            f"{name} has spent the most: {spent} over {orders} orders "
            f"(contact shown by Vigil as {email}). Next: {rest}.",
        )

    # Task 2: a cleanup DELETE that a DBA must approve first.
    def _cleanup(self, step: int, obs: dict | None) -> str:
        delete = {"connection": "shop", "sql": CLEANUP_DELETE, "parameters": [CLEANUP_BEFORE]}
        if step == 0 or obs is None:
            return _action("Delete the test orders placed before 2025-01-10.", "query", delete)
        status = obs.get("status")
        if status == "pending_approval" or (status == "pending" and "approval_id" in obs):
            return _action(
                f"Approval {obs['approval_id']} is pending; wait for a reviewer.",
                "approval_status",
                {"approval_id": obs["approval_id"], "wait_seconds": POLL_SECONDS[step % 2]},
            )
        if status == "approved":
            return _action("Approved: run the same statement again.", "query", delete)
        if status == "ok":
            return _final(
                "The cleanup ran.",
                f"Cleanup done after a reviewer's approval: {obs.get('command')}.",
            )
        return _final("The cleanup did not run.", f"Cleanup not done: {json.dumps(obs)}")

    # Task 3: a DROP that policy denies.
    def _drop(self, step: int, obs: dict | None) -> str:
        if step == 0:
            return _action("Drop the table as asked.", "query", {"connection": "shop", "sql": "DROP TABLE orders"})
        if obs and obs.get("status") == "denied":
            return _final(
                "Vigil refused, so I stop here.",
                f"Not dropped: Vigil denied it by rule '{obs.get('rule')}': {obs.get('reason')}.",
            )
        return _final("Unexpected outcome.", f"Drop outcome: {json.dumps(obs)}")
