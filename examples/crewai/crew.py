"""An analyst crew that works on the quickstart's `shop` database through Vigil's MCP endpoint.

The crew never holds a database credential: it holds a Vigil token, and every statement it
runs goes through Vigil's policy, approvals, masking and ledger. Three tasks:

1. answer a question from the data (customer emails come back masked);
2. clean up old test orders with a DELETE, which a DBA must approve first;
3. drop the orders table, which policy denies.

Environment:
  VIGIL_MCP_URL     Vigil's MCP endpoint (default http://127.0.0.1:8080/mcp)
  VIGIL_TOKEN       the crew's Vigil token (`vigil token create ... --groups analysts --kind agent`)
  VIGIL_RUN         a run id that ties this run's events together (default: crew-<time>)
  CREW_LLM          `scripted` (default: the offline stand-in in scripted_llm.py) or a model
                    name CrewAI understands, such as `openai/gpt-4o-mini` (see README.md)
  CREW_TRANSCRIPT   where to write the transcript as JSON (default: transcript.json)
"""

from __future__ import annotations

import json
import os
import sys
import time

# No telemetry or trace upload: the crew talks to Vigil and nothing else.
os.environ.setdefault("CREWAI_DISABLE_TELEMETRY", "true")
os.environ.setdefault("CREWAI_TRACING_ENABLED", "false")
os.environ.setdefault("OTEL_SDK_DISABLED", "true")

from crewai import Agent, Crew, Process, Task  # noqa: E402
from crewai_tools import MCPServerAdapter  # noqa: E402

from scripted_llm import ANSWER_TASK, CLEANUP_TASK, DROP_TASK, ScriptedLLM  # noqa: E402


def make_llm(name: str):
    if name == "scripted":
        return ScriptedLLM()
    from crewai import LLM

    return LLM(model=name, temperature=0)


def main() -> int:
    url = os.environ.get("VIGIL_MCP_URL", "http://127.0.0.1:8080/mcp")
    token = os.environ.get("VIGIL_TOKEN")
    if not token:
        print("set VIGIL_TOKEN to the crew's Vigil token", file=sys.stderr)
        return 2
    run = os.environ.get("VIGIL_RUN") or f"crew-{int(time.time())}"
    llm = make_llm(os.environ.get("CREW_LLM", "scripted"))
    transcript_path = os.environ.get("CREW_TRANSCRIPT", "transcript.json")

    server = {
        "url": url,
        "transport": "streamable-http",
        # The bearer is what Vigil authenticates; X-Vigil-Run lands on every ledger event.
        "headers": {"Authorization": f"Bearer {token}", "X-Vigil-Run": run},
    }
    print(f"run {run}: connecting to {url}", flush=True)
    with MCPServerAdapter(server, connect_timeout=60) as tools:
        print("tools:", ", ".join(t.name for t in tools), flush=True)
        analyst = Agent(
            role="Data analyst",
            goal="Answer questions about the shop from its database, through Vigil, and report exactly what Vigil allowed.",
            backstory=(
                "You work through Vigil, a gateway that checks every statement against policy, "
                "masks personal data and asks a human reviewer before risky writes. You never "
                "try to get around a denial or a masked value."
            ),
            tools=tools,
            llm=llm,
            # Tool results must never be served from a cache: an approved retry has to reach Vigil.
            cache=False,
            allow_delegation=False,
            max_iter=150,
            verbose=True,
        )
        tasks = [
            Task(
                description=f"{ANSWER_TASK} in the shop, and how much? Use the shop connection.",
                expected_output="The customer's name, the total spent and the number of orders.",
                agent=analyst,
            ),
            Task(
                description=(
                    f"{CLEANUP_TASK}: delete the orders placed before 2025-01-10 from the shop. "
                    "If a reviewer must approve it, wait for the decision and then run it."
                ),
                expected_output="How many orders were deleted, or why not.",
                agent=analyst,
            ),
            Task(
                description=f"{DROP_TASK} of the shop, it is no longer needed.",
                expected_output="Whether the table was dropped, and if not, why.",
                agent=analyst,
            ),
        ]
        crew = Crew(
            agents=[analyst],
            tasks=tasks,
            process=Process.sequential,
            cache=False,
            verbose=True,
        )
        result = crew.kickoff()

    outputs = [{"task": t.description, "output": str(t.output.raw if t.output else "")} for t in tasks]
    transcript = {
        "run": run,
        "tasks": outputs,
        "final": str(result),
        "llm": getattr(llm, "transcript", []),
    }
    with open(transcript_path, "w") as f:
        json.dump(transcript, f, indent=2)
    print("\n=== crew outputs ===")
    for o in outputs:
        print(f"- {o['output']}")
    print(f"transcript: {transcript_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
