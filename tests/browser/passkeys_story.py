"""Passkeys through the pages, in headless Chromium with the DevTools WebAuthn
virtual authenticator (Debian's Chromium, through Playwright).

Run by tests/browser/stories.py (one Chromium for every story); alone:

    .venv/bin/python tests/browser/passkeys_story.py BASE_URL

BASE_URL is the running stack on a host name (http://localhost:PORT: an IP
address is no WebAuthn RP ID). A person signs up and in with the password,
adds a passkey on /account/passkeys (a ctap2 `internal` authenticator with
resident keys and user verification), signs out, and signs in with the
"Sign in with a passkey" button on a load without the conditional request
(no e-mail typed), and again with the e-mail typed first (the options then
allow the account's passkey); then the sign-in page on its own starts a request with
`mediation: 'conditional'`, which headless Chromium answers at once with the
credential, and that resolves into a signed-in session. The passkey is
renamed and removed; with the first authenticator removed, a second one
without user verification cannot add a passkey (verification is required).
Between those, the OpenID Provider's code flow (demo-spa, PKCE) on the
passkey's browser session gives an ID token (verified by PyJWT against the
JWKS) whose `amr` is the passkey's; then, with two-step sign-in turned on
(TOTP through the API, codes by pyotp), a password sign-in takes the passkey
as its second step on the code page ("Use a passkey instead"), and the ID
token says `pwd` and the passkey's values.
axe-core scans the new pages (0 serious or critical violations); no page may
log a Content-Security-Policy violation.
"""

import base64
import hashlib
import json
import os
import re
import secrets
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import jwt
import pyotp
from playwright.sync_api import Error as PlaywrightError

import axe_scan
import stories

# Set by run(): the stack as a person reaches it.
BASE = ""
REPO = Path(__file__).resolve().parents[2]
RUN = f"{int(time.time())}{os.getpid()}"
USERNAME = f"passkey_{RUN}"
EMAIL = f"passkey.{RUN}@example.com"
PASSWORD = "correct horse battery staple"

failures = []
csp_violations = []
scanned = []  # (name, html)

# Every load records the mediation of each WebAuthn request in
# sessionStorage (it survives the form's navigation), and a load whose URL
# ends in #no-autofill, or follows sign_out's flag, has no conditional
# request (as a browser without autofill support): the button's test, and
# the page sign-out lands on, which headless Chromium would otherwise answer
# at once with the stored passkey (signing straight back in).
INIT = """
(() => {
  const get = navigator.credentials.get.bind(navigator.credentials);
  navigator.credentials.get = (options) => {
    const seen = JSON.parse(sessionStorage.getItem("mediations") || "[]");
    seen.push((options && options.mediation) || "none");
    sessionStorage.setItem("mediations", JSON.stringify(seen));
    return get(options);
  };
  const noAutofill = location.hash === "#no-autofill" || sessionStorage.getItem("no-autofill");
  if (noAutofill && window.PublicKeyCredential) {
    PublicKeyCredential.isConditionalMediationAvailable = async () => false;
  }
})();
"""


def check(what, ok, detail=""):
    print(f"{'ok ' if ok else 'FAIL'} {what}" + (f": {detail}" if detail and not ok else ""))
    if not ok:
        failures.append(what)


def watch(page):
    def on_console(message):
        if "Content Security Policy" in message.text or "Content-Security-Policy" in message.text:
            csp_violations.append(message.text)

    page.on("console", on_console)
    return page


def authenticator(cdp, verifies):
    options = {
        "protocol": "ctap2",
        "transport": "internal",
        "hasResidentKey": True,
        "hasUserVerification": verifies,
        "isUserVerified": verifies,
        "automaticPresenceSimulation": True,
    }
    return cdp.send("WebAuthn.addVirtualAuthenticator", {"options": options})["authenticatorId"]


def mediations(page):
    return page.evaluate("JSON.parse(sessionStorage.getItem('mediations') || '[]')")


def sign_out(page):
    """Signs out; the landing sign-in page makes no conditional request, and
    the mediations recorded so far are forgotten."""
    page.goto(f"{BASE}/signout")
    page.evaluate("sessionStorage.setItem('no-autofill', '1')")
    page.click("main button[type=submit]")
    page.wait_for_url(re.compile(r"/signin"))
    check("signed out", "You are signed out." in page.content())
    page.evaluate("sessionStorage.removeItem('mediations'); sessionStorage.removeItem('no-autofill')")


def api(method, path, body, token=None):
    request = urllib.request.Request(
        f"{BASE}{path}", method=method, data=json.dumps(body).encode(),
        headers={"content-type": "application/json",
                 **({"authorization": f"Bearer {token}"} if token else {})})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read() or b"{}")


def turn_on_totp():
    """Two-step sign-in on, through the API (the pages' set-up is the pages story's)."""
    login = api("POST", "/auth/login", {"email": EMAIL, "password": PASSWORD})
    token = login["access_token"]
    user = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))["sub"]
    secret = api("POST", f"/users/{user}/mfa/totp", {"password": PASSWORD}, token)["secret"]
    api("POST", f"/users/{user}/mfa/totp/confirm",
        {"code": pyotp.TOTP(secret).now()}, token)


# demo-spa: make test's public client (scripts/oauth_client.py demo).
SPA, SPA_REDIRECT = "demo-spa", "http://localhost:8765/callback"


def id_token_amr(page):
    """The code flow of demo-spa on this browser's session (consent once):
    the ID token's `amr`, after PyJWT verified it against the JWKS."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    query = urllib.parse.urlencode({
        "response_type": "code", "client_id": SPA, "redirect_uri": SPA_REDIRECT,
        "scope": "openid", "state": "st", "nonce": "nn",
        "code_challenge": challenge, "code_challenge_method": "S256"})
    # Nothing listens at the app's redirect URI, and a route does not catch
    # the redirect of a navigation once consent is remembered (the authorize
    # answers 302 at once): the code is read from the request the browser
    # makes, whether or not anything answers it.
    page.route("http://localhost:8765/**", lambda route: route.fulfill(status=200, body="app"))
    with page.expect_request(lambda r: r.url.startswith(SPA_REDIRECT + "?"), timeout=60_000) as callback:
        try:
            page.goto(f"{BASE}/oauth2/authorize?{query}")
            if "/oauth2/authorize" in page.url and page.locator("button[value=allow]").count():
                page.click("button[value=allow]")
        except PlaywrightError as error:
            if "ERR_CONNECTION_REFUSED" not in str(error):
                raise
    code = urllib.parse.parse_qs(urllib.parse.urlsplit(callback.value.url).query)["code"][0]
    form = urllib.parse.urlencode({
        "grant_type": "authorization_code", "code": code, "redirect_uri": SPA_REDIRECT,
        "client_id": SPA, "code_verifier": verifier}).encode()
    request = urllib.request.Request(f"{BASE}/oauth2/token", data=form, method="POST",
                                     headers={"content-type": "application/x-www-form-urlencoded"})
    with urllib.request.urlopen(request, timeout=60) as response:
        tokens = json.loads(response.read())
    with urllib.request.urlopen(f"{BASE}/.well-known/openid-configuration", timeout=30) as response:
        discovery = json.loads(response.read())
    key = jwt.PyJWKClient(discovery["jwks_uri"]).get_signing_key_from_jwt(tokens["id_token"])
    claims = jwt.decode(tokens["id_token"], key.key, algorithms=["RS256"], audience=SPA,
                        issuer=discovery["issuer"])
    check("the ID token carries the nonce", claims.get("nonce") == "nn", str(claims))
    page.unroute("http://localhost:8765/**")
    return claims.get("amr")


def story(chromium):
    context = chromium.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB")
    context.add_init_script(INIT)
    page = watch(context.new_page())
    cdp = context.new_cdp_session(page)
    cdp.send("WebAuthn.enable", {"enableUI": False})
    first = authenticator(cdp, True)

    # Sign up, and in with the password.
    page.goto(f"{BASE}/signup")
    page.fill("#username", USERNAME)
    page.fill("#email", EMAIL)
    page.fill("#password", PASSWORD)
    page.click("main button[type=submit]")
    page.goto(f"{BASE}/signin#no-autofill")
    page.fill("#email", EMAIL)
    page.fill("#password", PASSWORD)
    page.click("form[action='/signin'] button[type=submit]")
    page.wait_for_url(re.compile(r"/account$"))
    check("the account page links to the passkeys", page.locator("a[href='/account/passkeys']").count() == 1)

    # Add a passkey.
    page.goto(f"{BASE}/account/passkeys")
    check("no passkeys yet", "You have no passkeys yet." in page.content())
    scanned.append(("passkeys-empty", page.content()))
    page.fill("#passkey-add input[name=name]", "Laptop")
    page.click("#passkey-add button[type=submit]")
    page.wait_for_url(re.compile(r"/account/passkeys\?notice=added$"), timeout=20_000)
    listed = page.locator("ul.devices li")
    check("one passkey listed", listed.count() == 1, str(listed.count()))
    check("its name", "Laptop" in listed.first.inner_text())
    credentials = cdp.send("WebAuthn.getCredentials", {"authenticatorId": first})["credentials"]
    check("the authenticator holds one discoverable credential",
          len(credentials) == 1 and credentials[0]["isResidentCredential"], str(credentials))
    scanned.append(("passkeys-one", page.content()))

    # Sign out; sign in with the button, no e-mail typed, no conditional request.
    sign_out(page)
    page.goto(f"{BASE}/signin#no-autofill")
    scanned.append(("signin", page.content()))
    check("the e-mail field offers passkeys in its autofill",
          page.get_attribute("#email", "autocomplete") == "username webauthn")
    page.click("#passkey-signin button[type=submit]")
    page.wait_for_url(re.compile(r"/account$"), timeout=20_000)
    check("signed in with the button", USERNAME in page.content())
    check("the button's request was not conditional", mediations(page) == ["none"], str(mediations(page)))

    # The e-mail first: typed, the button asks for that account's passkeys.
    sign_out(page)
    page.goto(f"{BASE}/signin#no-autofill")
    page.fill("#email", EMAIL)
    # The options are read on their way to the page: once the authenticator
    # answers, the page navigates and the browser drops the response body.
    asked = {}

    def keep_options(route):
        answer = route.fetch()
        asked["sent"] = route.request.post_data_json
        asked["options"] = answer.json()
        route.fulfill(response=answer)

    page.route("**/auth/passkey/options", keep_options)
    page.click("#passkey-signin button[type=submit]")
    page.wait_for_url(re.compile(r"/account$"), timeout=20_000)
    page.unroute("**/auth/passkey/options")
    check("the button sent the typed e-mail", asked.get("sent") == {"email": EMAIL}, str(asked.get("sent")))
    allowed = (asked.get("options") or {}).get("publicKey", {}).get("allowCredentials") or []
    check("the options allow the account's passkey", len(allowed) == 1, str(allowed))
    check("signed in with the e-mail first", USERNAME in page.content())

    # Sign out; the sign-in page itself starts a conditional request, which
    # headless Chromium answers at once: signed in.
    sign_out(page)
    page.goto(f"{BASE}/signin")
    page.wait_for_url(re.compile(r"/account$"), timeout=20_000)
    check("the sign-in page asked with mediation 'conditional'",
          mediations(page) == ["conditional"], str(mediations(page)))
    check("the conditional request signed in", USERNAME in page.content())

    # The OpenID Provider on this passkey session: the ID token says so.
    amr = id_token_amr(page)
    check("the ID token's amr is the passkey's (pop, hwk or swk, mfa)",
          isinstance(amr, list) and amr[0] == "pop" and amr[1] in ("hwk", "swk")
          and amr[2:] == ["mfa"], str(amr))

    # Two-step sign-in on; the password, then the passkey as the second step.
    turn_on_totp()
    sign_out(page)
    page.goto(f"{BASE}/signin#no-autofill")
    page.fill("#email", EMAIL)
    page.fill("#password", PASSWORD)
    page.click("form[action='/signin'] button[type=submit]")
    page.wait_for_url(re.compile(r"/signin/code"))
    check("the code page offers the passkey", page.locator("#passkey-mfa button").is_visible())
    scanned.append(("code-with-passkey", page.content()))
    page.click("#passkey-mfa button[type=submit]")
    page.wait_for_url(re.compile(r"/account$"), timeout=20_000)
    check("signed in with the password and the passkey", USERNAME in page.content())
    check("the second step's request was not conditional", mediations(page) == ["none"],
          str(mediations(page)))
    amr = id_token_amr(page)
    check("the ID token's amr is the password's and the passkey's (pwd, pop, hwk or swk, mfa)",
          isinstance(amr, list) and amr[:2] == ["pwd", "pop"] and amr[2] in ("hwk", "swk")
          and amr[3:] == ["mfa"], str(amr))

    # Rename, then remove (the passkey sign-in is a recent login: step-up).
    page.goto(f"{BASE}/account/passkeys")
    check("last use recorded", "last used: never" not in page.locator("ul.devices li").first.inner_text())
    item = page.locator("ul.devices li").first
    item.locator("input[name=name]").fill("Work laptop")
    item.locator("button", has_text="Rename").click()
    page.wait_for_url(re.compile(r"notice=renamed$"))
    check("renamed", "Work laptop" in page.locator("ul.devices li").first.inner_text())
    page.locator("ul.devices li").first.locator("button", has_text="Remove").click()
    page.wait_for_url(re.compile(r"notice=removed$"))
    check("removed", page.locator("ul.devices li").count() == 0)

    # Another authenticator, without user verification: refused.
    cdp.send("WebAuthn.removeVirtualAuthenticator", {"authenticatorId": first})
    authenticator(cdp, False)
    page.fill("#passkey-add input[name=name]", "No screen lock")
    page.click("#passkey-add button[type=submit]")
    status = page.locator("#passkey-add [data-passkey-status]")
    try:
        status.filter(has_text="No passkey was made").wait_for(timeout=20_000)
        refused = True
    except Exception:
        refused = False
    check("an authenticator without user verification makes no passkey", refused, status.inner_text())
    page.goto(f"{BASE}/account/passkeys")
    check("still no passkey", page.locator("ul.devices li").count() == 0)
    context.close()


def hostile(chromium):
    """The passkey POSTs without their CSRF token: 403."""
    context = chromium.new_context()
    page = context.new_page()
    page.goto(f"{BASE}/signin")
    for path in ("/signin/passkey", "/account/passkeys/options", "/account/passkeys/add",
                 "/signin/code/passkey/options", "/signin/code/passkey"):
        answer = context.request.post(f"{BASE}{path}", form={"ceremony": "x", "credential": "{}"},
                                      max_redirects=0)
        check(f"POST {path} without a CSRF token: 403", answer.status == 403, str(answer.status))
    script = context.request.get(f"{BASE}/passkeys.js")
    check("the script is served as JavaScript",
          script.status == 200 and script.headers["content-type"].startswith("text/javascript"))
    context.close()


def run(chromium, base):
    """The story, the hostile requests and the scan; returns the failed checks."""
    global BASE
    BASE = base.rstrip("/")
    started = time.time()
    story(chromium)
    hostile(chromium)
    axe_scan.scan(chromium, scanned, check)
    check("no Content-Security-Policy violation", not csp_violations, "; ".join(csp_violations))
    print(f"passkeys browser story: {time.time() - started:.1f} s")
    return failures


if __name__ == "__main__":
    stories.alone(lambda chromium: run(chromium, sys.argv[1]))
