"""A real MCP server (the official Python SDK) for signoff's MCP tests, on stdio."""
from mcp.server.mcpserver import MCPServer

server = MCPServer("fixture")


@server.tool()
def echo(text: str, count: int = 1) -> str:
    """Repeat `text`."""
    return " ".join([text] * count)


@server.tool()
def lookup_customer(email: str) -> str:
    """A result holding PII, for result masking."""
    return f"customer {email} pays with card 4111 1111 1111 1111"


@server.tool()
def delete_repo(name: str) -> str:
    """Something policy forbids."""
    return f"deleted {name}"


@server.tool()
def crash() -> str:
    """Exits the server mid-session."""
    import os
    os._exit(3)


if __name__ == "__main__":
    import os
    import sys

    if starts := os.environ.get("SIGNOFF_TEST_UPSTREAM_STARTS"):
        # One line per process, so a test can count how many signoff started.
        with open(starts, "a") as f:
            f.write(f"{os.getpid()}\n")

    if len(sys.argv) == 3 and sys.argv[1] == "--http":
        # Streamable HTTP at http://127.0.0.1:PORT/mcp (the benchmark's upstream).
        server.run("streamable-http", host="127.0.0.1", port=int(sys.argv[2]), json_response=True)
    else:
        server.run()
