"""Every browser story of `make test`, in one headless Chromium (Debian's,
through Playwright), against the one running stack.

    .venv/bin/python tests/browser/stories.py BASE_URL MAIL_DIR CLIENT_ID RP_PORT \
        MCP_PORT MCP_CLIENT_ID MCP_SECRET

BASE_URL is the stack as a person reaches it (http://localhost:PORT: cookies
and passkeys need a host name); MAIL_DIR is where send-mail writes its .eml
files; CLIENT_ID and RP_PORT are the openid-client relying party's
(scripts/test.sh registers it); MCP_PORT, MCP_CLIENT_ID and MCP_SECRET the
agents story's MCP server's port and its introspection client. Each story runs in contexts of its own and
returns its failed checks; one failing story does not stop the next.
"""

import sys
import time
import traceback

from playwright.sync_api import sync_playwright

# Flags of the probe that found Chromium works here: without the background
# networking ones it keeps dialling Google on this closed network.
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def launch(playwright):
    return playwright.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)


def alone(story):
    """A story run by itself (its module's __main__): its own Chromium."""
    with sync_playwright() as playwright:
        chromium = launch(playwright)
        try:
            failures = story(chromium)
        finally:
            chromium.close()
    if failures:
        raise SystemExit(f"{len(failures)} check(s) failed: {failures}")


def main():
    base, mail_dir, client_id, rp_port, mcp_port, mcp_client_id, mcp_secret = sys.argv[1:8]
    # Imported here: each story module imports this one for `alone`.
    import agents_story
    import docs_story
    import oidc_story
    import pages_story
    import passkeys_story

    stories = [
        ("GET /docs (Swagger UI): every operation, no CSP violation",
         lambda chromium: docs_story.run(chromium, base)),
        ("the pages: the person's story, screenshots, axe-core, CSRF and CSP",
         lambda chromium: pages_story.run(chromium, base, mail_dir)),
        ("the OpenID Provider with openid-client (a certified RP)",
         lambda chromium: oidc_story.run(chromium, base, client_id, rp_port)),
        ("passkeys through the pages: the WebAuthn virtual authenticator, button and"
         " conditional sign-in, axe-core",
         lambda chromium: passkeys_story.run(chromium, base)),
        ("agents: openid-client's client credentials, introspection, revocation; the MCP"
         " TypeScript SDK registers, signs in, calls and refreshes",
         lambda chromium: agents_story.run(chromium, base, mcp_port, mcp_client_id, mcp_secret)),
    ]
    failed = []
    with sync_playwright() as playwright:
        chromium = launch(playwright)
        try:
            for name, story in stories:
                started = time.time()
                print(f"\n==> browser story: {name}", flush=True)
                try:
                    failures = story(chromium)
                except Exception:
                    traceback.print_exc()
                    failures = ["raised"]
                print(f"==> {'FAILED' if failures else 'passed'} in {time.time() - started:.1f} s:"
                      f" {name}", flush=True)
                if failures:
                    failed.append((name, failures))
        finally:
            chromium.close()
    if failed:
        raise SystemExit("failed: " + "; ".join(f"{name}: {failures}" for name, failures in failed))


if __name__ == "__main__":
    main()
