"""Agents and machines against the running stack (issue #22).

Run by tests/browser/stories.py (one Chromium for every story); alone:

    .venv/bin/python tests/browser/agents_story.py BASE_URL MCP_PORT MCP_CLIENT_ID MCP_SECRET

1. openid-client (tests/browser/machine.mjs) as the confidential machine
   client of E2E_MACHINE_CLIENT / E2E_MACHINE_SECRET: client credentials for
   the MCP server's URL (E2E_MCP_RESOURCE), introspection, revocation,
   invalid_target.
2. The official MCP TypeScript SDK: a small SDK server
   (tests/browser/mcp_server.mjs, RFC 9728 metadata naming us, tokens
   checked by our introspection as MCP_CLIENT_ID) and the SDK's client
   (tests/browser/mcp_client.mjs), which discovers, registers itself, and
   prints the authorization URL; headless Chromium (Debian's, through
   Playwright) signs a person in on our page and allows the unverified app
   (the consent page warns and names the resource); the client calls the
   tool, refreshes, calls again. Then the person removes the app on
   /account/apps, and the client sees its refresh and access tokens refused.
"""

import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import axe_scan
import stories

# Set by run(): the stack, and the MCP server's port and introspection client.
BASE = MCP_PORT = MCP_CLIENT_ID = MCP_SECRET = MCP_URL = ""
REPO = Path(__file__).resolve().parents[2]
NODE_DIR = REPO / "tests" / "browser"
RUN = f"{int(time.time())}{os.getpid()}"
EMAIL = f"agent.{RUN}@example.com"
PASSWORD = "correct horse battery staple"

failures = []
scanned = []


def check(what, ok, detail=""):
    print(f"{'ok ' if ok else 'FAIL'} {what}" + (f": {detail}" if detail and not ok else ""), flush=True)
    if not ok:
        failures.append(what)


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return str(probe.getsockname()[1])


def node(script, *args, **popen):
    return subprocess.Popen(["node", str(NODE_DIR / script), *args], text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, **popen)


def read_until(process, prefix):
    """Prints the process's lines until one starts with `prefix`: that line."""
    for line in process.stdout:
        print(line.rstrip(), flush=True)
        if line.startswith(prefix):
            return line.strip()
    return ""


def echo_rest(process):
    thread = threading.Thread(
        target=lambda: [print(line.rstrip(), flush=True) for line in process.stdout], daemon=True)
    thread.start()
    return thread


def machine_story():
    machine = node("machine.mjs", BASE, os.environ["E2E_MACHINE_CLIENT"],
                   os.environ["E2E_MACHINE_SECRET"], os.environ["E2E_MCP_RESOURCE"])
    output, _ = machine.communicate(timeout=120)
    print(output.rstrip(), flush=True)
    check("openid-client: client credentials, introspection, revocation", machine.returncode == 0,
          f"exit {machine.returncode}")


def register_person():
    request = urllib.request.Request(
        f"{BASE}/auth/register", method="POST",
        data=json.dumps({"username": f"agent_{RUN}", "email": EMAIL, "password": PASSWORD}).encode(),
        headers={"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 201


def mcp_story(chromium):
    register_person()
    server = node("mcp_server.mjs", BASE, MCP_PORT, MCP_CLIENT_ID, MCP_SECRET)
    client = None
    try:
        check("the MCP server started", read_until(server, "READY").startswith("READY"))
        echo_rest(server)
        client = node("mcp_client.mjs", MCP_URL, free_port(), stdin=subprocess.PIPE)
        authorize = read_until(client, "AUTHORIZE ")
        check("the SDK client asked for the browser step", authorize.startswith("AUTHORIZE "))
        context = chromium.new_context(locale="en-GB")
        context.set_default_timeout(90_000)
        page = context.new_page()
        violations = []
        page.on("console", lambda m: "Content Security Policy" in m.text
                and violations.append(m.text))
        page.goto(authorize.split(" ", 1)[1])
        page.wait_for_url(re.compile(r"/signin\?"))
        page.fill("#email", EMAIL)
        page.fill("#password", PASSWORD)
        page.click("main button[type=submit]")
        page.wait_for_url(re.compile(r"/oauth2/authorize"))
        content = page.content()
        scanned.append(("consent, unverified app", content))
        check("the consent page warns that the app is unverified",
              "Unverified app" in content and "Agents test MCP client" in content)
        check("the consent page names the resource", MCP_URL in content)
        page.click("button[value=allow]")
        page.wait_for_selector("#mcp-done")
        waiting = read_until(client, "WAITING")
        check("the SDK client called, refreshed and called again", waiting == "WAITING")
        apps = context.new_page()
        apps.goto(f"{BASE}/account/apps")
        scanned.append(("apps with access", apps.content()))
        check("apps with access lists the MCP client",
              "Agents test MCP client" in apps.content(), apps.content()[:400])
        apps.click("button:has-text('Remove access')")
        apps.wait_for_url(re.compile(r"/account/apps\?notice=revoked"))
        check("the app is gone from the list",
              "Agents test MCP client" not in apps.content())
        check("no Content-Security-Policy violation", not violations, "; ".join(violations))
        context.close()
        axe_scan.scan(chromium, scanned, check)
        client.stdin.write("removed\n")
        client.stdin.flush()
        reader = echo_rest(client)
        client.wait(timeout=120)
        reader.join(timeout=5)
        check("the MCP SDK client's checks all passed", client.returncode == 0,
              f"exit {client.returncode}")
    finally:
        for process in (client, server):
            if process and process.poll() is None:
                process.kill()
                process.wait()


def run(chromium, base, mcp_port, mcp_client_id, mcp_secret):
    """The machine client's story, then the MCP SDK's; returns the failed checks."""
    global BASE, MCP_PORT, MCP_CLIENT_ID, MCP_SECRET, MCP_URL
    BASE, MCP_PORT = base.rstrip("/"), str(mcp_port)
    MCP_CLIENT_ID, MCP_SECRET = mcp_client_id, mcp_secret
    MCP_URL = f"http://127.0.0.1:{MCP_PORT}/mcp"
    started = time.time()
    machine_story()
    mcp_story(chromium)
    print(f"agents story: {time.time() - started:.1f} s")
    return failures


if __name__ == "__main__":
    stories.alone(lambda chromium: run(chromium, *sys.argv[1:5]))
