"""Times the operations a newcomer tries first against us and a peer, one
request at a time over one keep-alive connection each, interleaved (ours,
then the peer's, then the next user, the order swapped each time) so that
the machine's drifts fall on both. Prints a Markdown table of p50s and the
ratios against issue #19's targets (us ahead by 1.3x on register and login,
1.5x on reads).

Usage: compare.py OURS_URL PEER_URL [USERS]
"""

import http.client
import json
import secrets
import statistics
import sys
import time
import urllib.parse

PASSWORD = "correct horse battery staple"


class Client:
    def __init__(self, base):
        parsed = urllib.parse.urlsplit(base)
        self.connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=300)

    def call(self, method, path, body=None, headers=None, form=False):
        headers = dict(headers or {})
        payload = None
        if body is not None:
            if form:
                payload = urllib.parse.urlencode(body)
                headers["content-type"] = "application/x-www-form-urlencoded"
            else:
                payload = json.dumps(body)
                headers["content-type"] = "application/json"
        started = time.perf_counter()
        self.connection.request(method, path, body=payload, headers=headers)
        response = self.connection.getresponse()
        data = response.read()
        took = (time.perf_counter() - started) * 1000
        return response.status, (json.loads(data) if data else None), took


def expect(status, want, what, body):
    if status != want:
        sys.exit(f"{what} answered {status}, not {want}: {body}")


class Ours:
    name = "ours"

    def __init__(self, base):
        self.client = Client(base)

    def register(self, user):
        body = {"username": user, "email": f"{user}@example.com", "password": PASSWORD}
        status, answer, took = self.client.call("POST", "/auth/register", body)
        expect(status, 201, "our register", answer)
        return answer["id"], took

    def login(self, user):
        body = {"email": f"{user}@example.com", "password": PASSWORD}
        status, answer, took = self.client.call("POST", "/auth/login", body)
        expect(status, 200, "our login", answer)
        return answer["access_token"], took

    def profile(self, user_id, token):
        status, answer, took = self.client.call(
            "GET", f"/users/{user_id}/full_profile", headers={"authorization": f"Bearer {token}"}
        )
        expect(status, 200, "our profile", answer)
        return took


class Peer:
    name = "FastAPI Users"

    def __init__(self, base):
        self.client = Client(base)

    def register(self, user):
        body = {"email": f"{user}@example.com", "password": PASSWORD}
        status, answer, took = self.client.call("POST", "/auth/register", body)
        expect(status, 201, "the peer's register", answer)
        return answer["id"], took

    def login(self, user):
        body = {"username": f"{user}@example.com", "password": PASSWORD}
        status, answer, took = self.client.call("POST", "/auth/jwt/login", body, form=True)
        expect(status, 200, "the peer's login", answer)
        return answer["access_token"], took

    def profile(self, _user_id, token):
        status, answer, took = self.client.call(
            "GET", "/users/me", headers={"authorization": f"Bearer {token}"}
        )
        expect(status, 200, "the peer's /users/me", answer)
        return took


def main():
    ours, peer = Ours(sys.argv[1]), Peer(sys.argv[2])
    users = int(sys.argv[3]) if len(sys.argv) > 3 else 15
    run = secrets.token_hex(3)
    times = {(side.name, op): [] for side in (ours, peer) for op in ("register", "login", "profile")}
    # Two users each first, not counted: a first request pays for what the
    # process has not done yet (a cold function, the peer's first import).
    for n in range(users + 2):
        order = (ours, peer) if n % 2 == 0 else (peer, ours)
        for side in order:
            user = f"peer{run}{n}"
            user_id, took_register = side.register(user)
            token, took_login = side.login(user)
            took_profile = [side.profile(user_id, token) for _ in range(3)]
            if n >= 2:
                times[(side.name, "register")].append(took_register)
                times[(side.name, "login")].append(took_login)
                times[(side.name, "profile")].extend(took_profile)
    targets = {"register": 1.3, "login": 1.3, "profile": 1.5}
    print(f"| operation | ours p50 (ms) | {peer.name} p50 (ms) | {peer.name} / ours | target | met |")
    print("| --- | ---: | ---: | ---: | ---: | :---: |")
    for op, target in targets.items():
        mine = statistics.median(times[(ours.name, op)])
        theirs = statistics.median(times[(peer.name, op)])
        ratio = theirs / mine
        met = "yes" if ratio >= target else "**no**"
        print(f"| {op} | {mine:.2f} | {theirs:.2f} | {ratio:.2f}x | {target}x | {met} |")
    print(f"\n{users} users each (and 2 not counted); profile is `GET /users/{{id}}/full_profile`"
          f" (with its joins) against `GET /users/me`, 3 reads per user.")


if __name__ == "__main__":
    main()
