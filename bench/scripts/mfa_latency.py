"""Latency of a login with a second factor, both steps, against a running API.

`make bench-mfa` (API=http://127.0.0.1:9000 by default: a `make dev`) runs it
with the project's .venv. It registers RUNS throwaway users (default 20), each
with a confirmed TOTP factor (codes by pyotp), then times, per user, step 1
(`POST /auth/login`, the password: answers an mfa_token) and step 2 (`POST
/auth/mfa/verify` with the next step's code: answers the tokens), one request
at a time over one keep-alive connection. Prints p50, p90, min and max of each
step in milliseconds; the setup is not timed.

Usage: python bench/scripts/mfa_latency.py [BASE_URL] [RUNS]
"""

from __future__ import annotations

import os
import secrets
import statistics
import sys
import time

import pyotp
import requests

PASSWORD = "correct horse battery staple"


def main() -> None:
    base = (sys.argv[1] if len(sys.argv) > 1 else os.environ.get("API", "http://127.0.0.1:9000")).rstrip("/")
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else int(os.environ.get("RUNS", "20"))
    http = requests.Session()

    def post(path: str, body: dict, token: str | None = None) -> tuple[int, dict, float]:
        headers = {"authorization": f"Bearer {token}"} if token else {}
        started = time.perf_counter()
        response = http.post(base + path, json=body, headers=headers, timeout=60)
        elapsed = (time.perf_counter() - started) * 1000
        return response.status_code, response.json(), elapsed

    users = []
    for _ in range(runs):
        name = "mfa-bench-" + secrets.token_hex(6)
        credentials = {"email": f"{name}@example.com", "password": PASSWORD}
        status, registered, _ = post("/auth/register", {"username": name, **credentials})
        assert status == 201, registered
        status, login, _ = post("/auth/login", credentials)
        assert status == 200, login
        user, token = registered["id"], login["access_token"]
        status, enrolled, _ = post(f"/users/{user}/mfa/totp", {"password": PASSWORD}, token)
        assert status == 200, enrolled
        totp = pyotp.TOTP(enrolled["secret"])
        status, confirmed, _ = post(f"/users/{user}/mfa/totp/confirm", {"code": totp.now()}, token)
        assert status == 200, confirmed
        users.append((credentials, totp))

    first, second = [], []
    for credentials, totp in users:
        status, pending, elapsed = post("/auth/login", credentials)
        assert status == 200 and pending.get("mfa_required"), pending
        first.append(elapsed)
        # The confirming code's step is spent: the next step's code, within the drift window.
        code = totp.at(int(time.time()) + 30)
        status, tokens, elapsed = post("/auth/mfa/verify", {"mfa_token": pending["mfa_token"], "code": code})
        assert status == 200 and "access_token" in tokens, tokens
        second.append(elapsed)

    def line(name: str, samples: list[float]) -> str:
        ordered = sorted(samples)
        p90 = ordered[min(len(ordered) - 1, int(round(0.9 * (len(ordered) - 1))))]
        return (f"{name:<34} p50 {statistics.median(ordered):7.1f} ms   p90 {p90:7.1f} ms   "
                f"min {ordered[0]:7.1f} ms   max {ordered[-1]:7.1f} ms")

    print(f"login with a second factor, {runs} users, one request at a time, against {base}")
    print(line("step 1: POST /auth/login", first))
    print(line("step 2: POST /auth/mfa/verify", second))
    print(line("both steps", [a + b for a, b in zip(first, second)]))


if __name__ == "__main__":
    main()
