"""Latency of the pages and of the OpenID Provider's flows, against a running stack.

`make bench-flows` (API=http://localhost:9000 by default: a `make dev`, or
`make dev-release` for release figures) runs it with the project's .venv.
Per run (RUNS, default 20) a throwaway account is registered through the API
(not timed), then, as a browser would, one request at a time over one
keep-alive connection with the pages' cookies:

- each page a person opens: the sign-in page, the sign-in itself (argon2id),
  the account page and its sub-pages, sign-up and forgotten password;
- a whole OpenID sign-in of a signed-out person with the demo public client
  `demo-spa` (third-party, so consent shows; PKCE S256): authorize →
  sign-in page → password → authorize again → consent → code → token; the
  sum of those requests' times is the sign-in's server time (plus loopback);
- the token endpoint per grant (authorization_code, refresh_token) and
  UserInfo.

Prints p50, p90, min and max per step in milliseconds. Needs `localhost`,
not 127.0.0.1: the pages' cookies are host-bound.

Usage: python bench/scripts/flows_latency.py [BASE_URL] [RUNS]
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import statistics
import sys
import time
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlencode, urlsplit

import requests

PASSWORD = "correct horse battery staple"
CLIENT_ID = "demo-spa"
REDIRECT_URI = "http://localhost:8765/callback"


class HiddenInputs(HTMLParser):
    """The hidden fields of a page's forms (the CSRF token, carried state)."""

    def __init__(self) -> None:
        super().__init__()
        self.fields: dict[str, str] = {}

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "input" and attributes.get("type") == "hidden" and attributes.get("name"):
            self.fields[attributes["name"]] = attributes.get("value") or ""


def hidden(html: str) -> dict[str, str]:
    parser = HiddenInputs()
    parser.feed(html)
    return parser.fields


class Browser:
    """One person's cookies and connection; every request timed by name."""

    def __init__(self, base: str, times: dict[str, list[float]]) -> None:
        self.base, self.times, self.http = base, times, requests.Session()

    def send(self, name: str, method: str, path: str, expect: int, **kwargs) -> requests.Response:
        url = path if path.startswith("http") else self.base + path
        started = time.perf_counter()
        response = self.http.request(method, url, allow_redirects=False, timeout=60, **kwargs)
        self.times.setdefault(name, []).append((time.perf_counter() - started) * 1000)
        if response.status_code != expect:
            sys.exit(f"{name}: {method} {path} answered {response.status_code}, not {expect}: {response.text[:300]}")
        return response


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def run_once(base: str, times: dict[str, list[float]]) -> None:
    name = "flows-bench-" + secrets.token_hex(6)
    email = f"{name}@example.com"
    registered = requests.post(f"{base}/auth/register", json={"username": name, "email": email, "password": PASSWORD}, timeout=60)
    assert registered.status_code == 201, registered.text

    # The OpenID sign-in of a signed-out person, step by step.
    browser = Browser(base, times)
    verifier, challenge = pkce()
    query = urlencode({
        "response_type": "code", "client_id": CLIENT_ID, "redirect_uri": REDIRECT_URI,
        "scope": "openid profile email offline_access", "state": secrets.token_urlsafe(16),
        "nonce": secrets.token_urlsafe(16), "code_challenge": challenge, "code_challenge_method": "S256",
    })
    to_signin = browser.send("oidc: GET /oauth2/authorize (signed out)", "GET", f"/oauth2/authorize?{query}", 303)
    page = browser.send("page: GET /signin", "GET", to_signin.headers["location"], 200)
    form = {**hidden(page.text), "email": email, "password": PASSWORD}
    back = browser.send("page: POST /signin (password)", "POST", "/signin", 303, data=form)
    consent = browser.send("oidc: GET /oauth2/authorize (consent page)", "GET", back.headers["location"], 200)
    allowed = browser.send("oidc: POST /oauth2/consent", "POST", "/oauth2/consent", 303,
                           data={**hidden(consent.text), "decision": "allow"})
    code = parse_qs(urlsplit(allowed.headers["location"]).query)["code"][0]
    tokens = browser.send("oidc: POST /oauth2/token (authorization_code)", "POST", "/oauth2/token", 200, data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI,
        "client_id": CLIENT_ID, "code_verifier": verifier}).json()
    steps = [
        "oidc: GET /oauth2/authorize (signed out)", "page: GET /signin", "page: POST /signin (password)",
        "oidc: GET /oauth2/authorize (consent page)", "oidc: POST /oauth2/consent",
        "oidc: POST /oauth2/token (authorization_code)",
    ]
    times.setdefault("oidc: whole sign-in (sum of the 6 steps above)", []).append(sum(times[step][-1] for step in steps))

    browser.send("oidc: GET /oauth2/userinfo", "GET", "/oauth2/userinfo", 200,
                 headers={"authorization": f"Bearer {tokens['access_token']}"})
    browser.send("oidc: POST /oauth2/token (refresh_token)", "POST", "/oauth2/token", 200, data={
        "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], "client_id": CLIENT_ID})

    # The account pages, on the browser session the sign-in opened.
    for path in ["/account", "/account/sessions", "/account/mfa", "/account/password", "/account/email", "/account/delete"]:
        browser.send(f"page: GET {path}", "GET", path, 200)

    # The anonymous pages, in a new browser.
    stranger = Browser(base, times)
    for path in ["/signup", "/forgot-password"]:
        stranger.send(f"page: GET {path}", "GET", path, 200)


def main() -> None:
    base = (sys.argv[1] if len(sys.argv) > 1 else os.environ.get("API", "http://localhost:9000")).rstrip("/")
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else int(os.environ.get("RUNS", "20"))
    if urlsplit(base).hostname != "localhost":
        sys.exit(f"{base}: use http://localhost:PORT (the pages' cookies are host-bound)")
    times: dict[str, list[float]] = {}
    for _ in range(runs):
        run_once(base, times)
    print(f"{base}, {runs} runs, one request at a time (ms)")
    print(f"{'step':<58} {'p50':>8} {'p90':>8} {'min':>8} {'max':>8}")
    for name, values in times.items():
        ordered = sorted(values)
        p90 = ordered[min(len(ordered) - 1, int(round(0.9 * (len(ordered) - 1))))]
        print(f"{name:<58} {statistics.median(ordered):8.2f} {p90:8.2f} {ordered[0]:8.2f} {ordered[-1]:8.2f}")


if __name__ == "__main__":
    main()
