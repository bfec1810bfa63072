#!/usr/bin/env python3
"""OAuth clients for the OpenID Provider (docs/oidc.md), standard library only.

  oauth_client.py new NAME REDIRECT [--id ID] [--public] [--first-party]
                  [--scopes "openid profile email offline_access"]
      A new client's entry for the clients document (OAuthClientsSecret in
      AWS, .local/oauth-clients.json locally). A confidential client's secret
      (256 random bits) is printed once, on stderr; the entry keeps only its
      SHA-256. `make client NAME=... REDIRECT=...` runs this.

  oauth_client.py demo FILE SECRET_FILE
      `make dev`: writes FILE with the demo clients `demo-spa` (public,
      third-party) and `demo-server` (confidential), whose secret is kept in
      SECRET_FILE (mode 600, local only) and printed, so the flow can be
      tried by hand. An existing FILE is left as it is.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import secrets
import sys

ALL_SCOPES = "openid profile email offline_access"


def entry(client_id, name, redirects, public, first_party, scopes, secret=None):
    client = {
        "id": client_id,
        "name": name,
        "type": "public" if public else "confidential",
        "redirect_uris": redirects,
        "post_logout_redirect_uris": [],
        "scopes": scopes.split(),
        "grants": ["authorization_code", "refresh_token"],
        "first_party": first_party,
    }
    if not public:
        client["secret_sha256"] = hashlib.sha256(secret.encode()).hexdigest()
    return client


def new(args):
    client_id = args.id or re.sub(r"[^a-z0-9]+", "-", args.name.lower()).strip("-")
    secret = None if args.public else secrets.token_urlsafe(32)
    client = entry(client_id, args.name, args.redirect.split(","), args.public,
                   args.first_party, args.scopes, secret)
    if secret:
        print(f"client secret of {client_id} (shown once, keep it safe): {secret}", file=sys.stderr)
    print(json.dumps(client, indent=2))


def demo(args):
    if not os.path.exists(args.secret_file):
        with os.fdopen(os.open(args.secret_file, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
            f.write(secrets.token_urlsafe(32))
    with open(args.secret_file) as f:
        secret = f.read().strip()
    if not os.path.exists(args.file):
        clients = [
            entry("demo-spa", "Demo SPA",
                  ["http://localhost:8765/callback", "http://127.0.0.1:8765/callback"],
                  True, False, ALL_SCOPES),
            entry("demo-server", "Demo server",
                  ["http://localhost:8765/callback", "http://127.0.0.1:8765/callback"],
                  False, False, ALL_SCOPES, secret),
        ]
        with open(args.file, "w") as f:
            json.dump({"clients": clients}, f, indent=2)
            f.write("\n")
    print(f"demo OAuth clients: demo-spa (public, PKCE) and demo-server (secret {secret})")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    one = commands.add_parser("new")
    one.add_argument("name")
    one.add_argument("redirect", help="redirect URIs, comma-separated")
    one.add_argument("--id")
    one.add_argument("--public", action="store_true")
    one.add_argument("--first-party", action="store_true")
    one.add_argument("--scopes", default=ALL_SCOPES)
    two = commands.add_parser("demo")
    two.add_argument("file")
    two.add_argument("secret_file")
    args = parser.parse_args()
    new(args) if args.command == "new" else demo(args)


if __name__ == "__main__":
    main()
