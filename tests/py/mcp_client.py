"""Vigil's /mcp endpoint through the official MCP Python SDK (the `mcp` package).

Driven by tests/tests/mcp.rs, one action per process so the Rust test can act between
calls (approve from the CLI, look at the cluster):

  mcp_client.py URL TOKEN tools                        -> {"tools": [{name, description, input_schema}]}
  mcp_client.py URL TOKEN call TOOL JSON [--run R] [--meta-run R]
                                                       -> {"is_error", "structured", "text"}
  mcp_client.py URL TOKEN calls JSONLIST [--run R]     -> [result, ...] in one MCP session
  mcp_client.py URL TOKEN timed-call TOOL JSON [--started-file F]
                                                       -> result plus "elapsed" seconds

`--run` sends the X-Vigil-Run header on every request; `--meta-run` puts the run id in
the tool call's `_meta.vigil_run` instead. `--started-file` creates F just before the timed
call is sent, so the test acts while the call is in flight whatever the interpreter's start-up
took. Errors of the transport (401 and the like) are
printed as {"transport_error": "..."} with exit code 3.
"""

import asyncio
import json
import sys
import time

from mcp import ClientSession
from mcp.client.streamable_http import streamablehttp_client


def result_json(result):
    text = "".join(getattr(c, "text", "") for c in result.content)
    return {
        "is_error": bool(result.isError),
        "structured": result.structuredContent,
        "text": text,
    }


async def session(url, token, run, action):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if run:
        headers["X-Vigil-Run"] = run
    async with streamablehttp_client(url, headers=headers) as (read, write, _):
        async with ClientSession(read, write) as s:
            await s.initialize()
            return await action(s)


def flag(args, name):
    if name in args:
        i = args.index(name)
        value = args[i + 1]
        del args[i : i + 2]
        return value
    return None


def main():
    url, token, cmd, *rest = sys.argv[1:]
    run = flag(rest, "--run")
    meta_run = flag(rest, "--meta-run")
    started_file = flag(rest, "--started-file")
    meta = {"vigil_run": meta_run} if meta_run else None

    async def tools(s):
        listed = await s.list_tools()
        return {
            "tools": [
                {"name": t.name, "description": t.description, "input_schema": t.inputSchema}
                for t in listed.tools
            ]
        }

    async def call(s):
        name, args = rest[0], json.loads(rest[1])
        return result_json(await s.call_tool(name, args, meta=meta))

    async def calls(s):
        out = []
        for name, args in json.loads(rest[0]):
            out.append(result_json(await s.call_tool(name, args, meta=meta)))
        return out

    async def timed(s):
        if started_file:
            with open(started_file, "w") as f:
                f.write("calling\n")
        started = time.monotonic()
        r = result_json(await s.call_tool(rest[0], json.loads(rest[1]), meta=meta))
        r["elapsed"] = time.monotonic() - started
        return r

    action = {"tools": tools, "call": call, "calls": calls, "timed-call": timed}[cmd]
    try:
        out = asyncio.run(session(url, token, run, action))
    except BaseException as e:  # noqa: BLE001 - report what the transport said
        errors = getattr(e, "exceptions", None) or [e]
        print(json.dumps({"transport_error": "; ".join(repr(x) for x in errors)}))
        sys.exit(3)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
