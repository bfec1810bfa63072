"""The OpenID Provider with a relying party nobody here wrote (issue #21).

Run by tests/browser/stories.py (one Chromium for every story); alone:

    .venv/bin/python tests/browser/oidc_story.py BASE_URL CLIENT_ID RP_PORT

panva's openid-client (tests/browser/rp.mjs, under Node) is the relying
party on http://127.0.0.1:RP_PORT, registered for the run as CLIENT_ID (a
third-party public client: scripts/test.sh writes it into the clients
document). A person with two-step sign-in (enrolled through the API, codes by
pyotp) starts at the RP, signs in on our /signin with the password and a TOTP
code, allows the client on the consent page, comes back to the RP (code
exchange with PKCE, ID-token validation, userinfo, refresh: openid-client's
checks), and signs out through RP-initiated logout. Headless Chromium
(Debian's, through Playwright), as the pages' story.
"""

import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pyotp

import axe_scan
import stories

# Set by run(): the stack, the RP's client id and its port.
BASE = CLIENT_ID = RP_PORT = RP = ""
REPO = Path(__file__).resolve().parents[2]
RUN = f"{int(time.time())}{os.getpid()}"
EMAIL = f"rp.{RUN}@example.com"
PASSWORD = "correct horse battery staple"

failures = []
scanned = []  # (name, html): the provider's own pages, for axe-core


def check(what, ok, detail=""):
    print(f"{'ok ' if ok else 'FAIL'} {what}" + (f": {detail}" if detail and not ok else ""))
    if not ok:
        failures.append(what)


def api(method, path, body, token=None):
    request = urllib.request.Request(
        f"{BASE}{path}", method=method, data=json.dumps(body).encode(),
        headers={"content-type": "application/json",
                 **({"authorization": f"Bearer {token}"} if token else {})})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read() or b"{}")


def person_with_totp():
    """Registered and enrolled through the API: the story is the provider's."""
    registered = api("POST", "/auth/register",
                     {"username": f"rp_{RUN}", "email": EMAIL, "password": PASSWORD})
    login = api("POST", "/auth/login", {"email": EMAIL, "password": PASSWORD})
    user, token = registered["id"], login["access_token"]
    secret = api("POST", f"/users/{user}/mfa/totp", {"password": PASSWORD}, token)["secret"]
    step = int(time.time()) // 30
    api("POST", f"/users/{user}/mfa/totp/confirm",
        {"code": pyotp.TOTP(secret).at(step * 30)}, token)
    return secret, step


def run(chromium, base, client_id, rp_port):
    """The story; returns the failed checks."""
    global BASE, CLIENT_ID, RP_PORT, RP
    BASE, CLIENT_ID, RP_PORT = base.rstrip("/"), client_id, str(rp_port)
    RP = f"http://127.0.0.1:{RP_PORT}"
    started = time.time()
    secret, used = person_with_totp()
    rp = subprocess.Popen(
        ["node", str(REPO / "tests" / "browser" / "rp.mjs"), BASE, RP_PORT, CLIENT_ID],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    ready = ""
    while not ready.startswith("READY"):
        line = rp.stdout.readline()
        if not line:
            break
        print(line.rstrip())
        ready = line
    check("the relying party started", ready.startswith("READY"))
    # The RP's own checks, printed as they happen.
    reader = threading.Thread(
        target=lambda: [print(line.rstrip(), flush=True) for line in rp.stdout], daemon=True)
    reader.start()
    try:
        context = chromium.new_context(locale="en-GB")
        # cargo lambda watch starts a function on its first request
        # (oauth-token, oauth-userinfo may not have run yet): generous waits.
        context.set_default_timeout(90_000)
        page = context.new_page()
        violations = []
        page.on("console", lambda m: "Content Security Policy" in m.text
                and violations.append(m.text))
        page.goto(f"{RP}/login")
        page.wait_for_url(re.compile(r"/signin\?"))
        page.fill("#email", EMAIL)
        page.fill("#password", PASSWORD)
        page.click("main button[type=submit]")
        page.wait_for_url(re.compile(r"/signin/code"))
        # A later step than enrolment's: the server takes each step once.
        step = max(int(time.time()) // 30, used + 1)
        if step > int(time.time()) // 30 + 1:
            time.sleep(30 - time.time() % 30 + 0.5)
        page.fill("#code", pyotp.TOTP(secret).at(step * 30))
        page.click("main button[type=submit]")
        page.wait_for_url(re.compile(r"/oauth2/authorize"))
        check("consent page names the client's scopes",
              "e-mail address" in page.content() and "Allow" in page.content())
        scanned.append(("consent", page.content()))
        page.click("button[value=allow]")
        page.wait_for_selector("#rp-done, #rp-failed")
        check("back at the relying party, signed in", page.locator("#rp-done").count() == 1,
              page.content()[:400])
        if failures:
            raise RuntimeError(f"{len(failures)} check(s) failed: {failures}")
        # Logout without an ID token hint asks first (a link elsewhere
        # must not sign people out); staying keeps the session.
        asked = context.new_page()
        asked.goto(f"{BASE}/oauth2/logout")
        check("logout without a hint asks first",
              asked.locator("button[value=stay]").count() == 1, asked.content()[:400])
        scanned.append(("logout confirmation", asked.content()))
        asked.click("button[value=stay]")
        asked.goto(f"{BASE}/account")
        check("staying keeps the provider's browser session", "/account" in asked.url, asked.url)
        asked.close()
        page.click("#logout")
        page.wait_for_selector("#rp-signed-out")
        account = context.new_page()
        account.goto(f"{BASE}/account")
        check("the provider's browser session ended", "/signin" in account.url, account.url)
        check("no Content-Security-Policy violation (form-action to the app)",
              not violations, "; ".join(violations))
        axe_scan.scan(chromium, scanned, check)
        context.close()
    except BaseException:
        rp.kill()
        raise
    try:
        rp.wait(timeout=60)
    except subprocess.TimeoutExpired:
        rp.kill()
        rp.wait()
    reader.join(timeout=5)
    check("openid-client's checks all passed", rp.returncode == 0, f"exit {rp.returncode}")
    print(f"openid-client story: {time.time() - started:.1f} s")
    return failures


if __name__ == "__main__":
    stories.alone(lambda chromium: run(chromium, *sys.argv[1:4]))
