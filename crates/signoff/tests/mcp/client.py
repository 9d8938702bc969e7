"""Drives signoff's /mcp/{name} endpoint with the official Python MCP SDK.

usage: client.py URL TOKEN STEPS_JSON
URL is the /mcp/{name} endpoint, or `stdio:BIN:NAME:SIGNOFF_URL` to run
`BIN mcp --server NAME` and speak stdio to it. STEPS_JSON is a list of ["list"] or ["call", tool, arguments, meta?]. Prints
one JSON object per step: tool names, or {isError, text, progress} (and the
last progress_message, if any), or {error}.
With SIGNOFF_TEST_ELICIT=1 the client declares elicitation, accepts URL-mode
requests, and each call also reports the elicitations it saw ("elicited") and
the completions announced ("completed").
With SIGNOFF_TEST_MCP_MODE=auto (or a revision such as 2026-07-28) the SDK's
high-level `Client` negotiates instead: `auto` probes `server/discover` and
speaks the stateless 2026-07-28 revision when the server does; the greeting
then also names the revision in use ("protocol").
"""
import asyncio, json, os, sys

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client


def transport(url, token):
    if url.startswith("stdio:"):
        _, binary, name, base = url.split(":", 3)
        params = StdioServerParameters(
            command=binary,
            args=["mcp", "--server", name],
            env={"SIGNOFF_URL": base, "SIGNOFF_TOKEN": token, "PATH": os.environ.get("PATH", "")},
        )
        return stdio_client(params)
    http = create_mcp_http_client(headers={"Authorization": f"Bearer {token}"})
    return streamable_http_client(url, http_client=http)


elicited, completed = [], []


async def on_elicit(context, params):
    from mcp import types
    elicited.append(params.model_dump(by_alias=True, mode="json", exclude_none=True))
    return types.ElicitResult(action="accept")


async def on_message(message):
    method = getattr(message, "method", None)
    if method == "notifications/elicitation/complete":
        completed.append(message.params.elicitation_id)


async def run_steps(session, steps, watch):
    for step in steps:
        try:
            if step[0] == "list":
                tools = await session.list_tools()
                print(json.dumps({"tools": sorted(t.name for t in tools.tools)}), flush=True)
            else:
                _, tool, args = step[:3]
                progress = []

                async def on_progress(p, total, message):
                    progress.append(message)

                r = await session.call_tool(tool, args, progress_callback=on_progress)
                text = "".join(c.text for c in r.content if getattr(c, "type", "") == "text")
                out = {"isError": r.is_error, "text": text, "progress": len(progress)}
                if progress:
                    out["progress_message"] = progress[-1]
                if watch:
                    await asyncio.sleep(0.2)  # a completion may trail the result
                    out["elicited"], out["completed"] = list(elicited), list(completed)
                    elicited.clear()
                    completed.clear()
                print(json.dumps(out), flush=True)
        except Exception as e:  # the step's error, not the run's
            print(json.dumps({"error": f"{type(e).__name__}: {e}"}), flush=True)


async def main(url, token, steps):
    watch = os.environ.get("SIGNOFF_TEST_ELICIT") == "1"
    extra = {"elicitation_callback": on_elicit, "message_handler": on_message} if watch else {}
    mode = os.environ.get("SIGNOFF_TEST_MCP_MODE")
    if mode:
        from mcp import Client

        async with Client(transport(url, token), mode=mode, **extra) as client:
            info = client.server_info
            greeting = {"server": info.name if info else None, "protocol": client.protocol_version}
            print(json.dumps(greeting), flush=True)
            await run_steps(client, steps, watch)
        return
    async with transport(url, token) as (read, write, *_):
        async with ClientSession(read, write, **extra) as session:
            init = await session.initialize()
            print(json.dumps({"server": init.server_info.name}), flush=True)
            await run_steps(session, steps, watch)


asyncio.run(main(sys.argv[1], sys.argv[2], json.loads(sys.argv[3])))
