#!/usr/bin/env python3
"""Server-side p50 of dynamic registration and of the token endpoint's
client_credentials grant (issue #22), over HTTP against a running stack.

    scripts/measure_oauth.py BASE_URL CLIENT_ID SECRET [N]

CLIENT_ID/SECRET: a confidential client with the client_credentials grant
(docs/oidc.md); the stack must run with DYNAMIC_CLIENT_REGISTRATION=open and a
per-source registration budget above N. Each request is timed from send to
the last byte, one at a time, after 20 warm-up requests each (a cold start is
not what p50 should show). Prints p50, p90 and max in milliseconds.
"""

import base64
import json
import statistics
import sys
import time
import urllib.parse
import urllib.request


def timed(request):
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=30) as response:
        response.read()
        status = response.status
    return (time.perf_counter() - started) * 1000, status


def main():
    base, client_id, secret = sys.argv[1].rstrip("/"), sys.argv[2], sys.argv[3]
    n = int(sys.argv[4]) if len(sys.argv) > 4 else 200
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()

    def token():
        return urllib.request.Request(
            f"{base}/oauth2/token", method="POST",
            data=urllib.parse.urlencode({"grant_type": "client_credentials"}).encode(),
            headers={"content-type": "application/x-www-form-urlencoded",
                     "authorization": f"Basic {basic}"})

    def register():
        return urllib.request.Request(
            f"{base}/oauth2/register", method="POST",
            data=json.dumps({"client_name": "measure",
                             "redirect_uris": ["http://127.0.0.1:1/callback"]}).encode(),
            headers={"content-type": "application/json"})

    for name, build, expected in (("token (client_credentials)", token, 200),
                                  ("registration", register, 201)):
        for _ in range(20):
            timed(build())
        samples = []
        for _ in range(n):
            elapsed, status = timed(build())
            if status != expected:
                raise SystemExit(f"{name}: status {status}")
            samples.append(elapsed)
        samples.sort()
        p90 = samples[int(len(samples) * 0.9) - 1]
        print(f"{name}: n={n} p50={statistics.median(samples):.1f} ms "
              f"p90={p90:.1f} ms max={samples[-1]:.1f} ms")


if __name__ == "__main__":
    main()
