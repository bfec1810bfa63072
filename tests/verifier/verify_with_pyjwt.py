"""An independent verifier: what API Gateway and other services do with our tokens.

With PyJWT (a JOSE library nobody here wrote) it reads the running API's
OpenID discovery document, follows `jwks_uri`, and verifies a freshly issued
access token with RS256, `iss` and `aud`. Then it sends the classic forgeries
to a route that requires a token and expects every one refused with 401.

    python verify_with_pyjwt.py BASE_URL AUDIENCE DROPPED_KEYS_FILE

DROPPED_KEYS_FILE is a signing-key set whose current key has since been
rotated out twice (retired, then dropped), as `make test` prepares it.
"""

import base64
import hashlib
import hmac
import json
import secrets
import sys
import time
import urllib.error
import urllib.request

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

BASE, AUDIENCE, DROPPED_KEYS_FILE = sys.argv[1:4]


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def call(method, path, body=None, token=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(BASE + path, data=data, method=method)
    request.add_header("content-type", "application/json")
    if token:
        request.add_header("authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def sign(header: dict, claims: dict, key) -> str:
    """A compact JWS with exactly this header, signed RS256 with `key`."""
    signing_input = b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())
    signature = jwt.get_algorithm_by_name("RS256").sign(signing_input.encode(), key)
    return signing_input + "." + b64url(signature)


def hs256(header: dict, claims: dict, secret: bytes) -> str:
    signing_input = b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + b64url(mac)


failures = []


def check(name, ok, detail=""):
    print(("  ok    " if ok else "  FAIL  ") + name + ("" if ok else f": {detail}"))
    if not ok:
        failures.append(name)


# 1. Discovery, keys and a fresh token, verified by PyJWT alone.
with urllib.request.urlopen(BASE + "/.well-known/openid-configuration", timeout=30) as answer:
    discovery = json.load(answer)
issuer = discovery["issuer"]
check("discovery names this API as issuer", issuer == BASE, issuer)
check("jwks_uri is under the issuer", discovery["jwks_uri"] == issuer + "/.well-known/jwks.json")

name = "verifier" + secrets.token_hex(4)
password = "correct horse battery staple"
status, registered = call("POST", "/auth/register",
                          {"username": name, "email": name + "@example.com", "password": password})
check("register", status == 201, registered)
status, tokens = call("POST", "/auth/login", {"email": name + "@example.com", "password": password})
check("login", status == 200, tokens)
token, user_id = tokens["access_token"], registered["id"]

jwks_client = jwt.PyJWKClient(discovery["jwks_uri"])
signing_key = jwks_client.get_signing_key_from_jwt(token)
claims = jwt.decode(token, signing_key.key, algorithms=["RS256"], audience=AUDIENCE, issuer=issuer,
                    options={"require": ["exp", "iat", "nbf", "iss", "aud", "sub"]})
check("PyJWT verifies the token with the published key", claims["sub"] == user_id, claims)
check("the header names the key by its kid", jwt.get_unverified_header(token)["kid"] == signing_key.key_id)
check("a password login says amr [pwd] (RFC 8176) and a recent auth_time",
      claims.get("amr") == ["pwd"] and abs(claims.get("auth_time", 0) - claims["iat"]) <= 5, claims)
for key in json.load(urllib.request.urlopen(discovery["jwks_uri"], timeout=30))["keys"]:
    leaked = [member for member in ("d", "p", "q", "dp", "dq", "qi") if member in key]
    check(f"key {key['kid'][:8]}… publishes no private parameter", not leaked, leaked)

profile = f"/users/{user_id}/full_profile/"
status, _ = call("GET", profile, token=token)
check("the real token opens the profile", status == 200, status)

# 2. Forgeries: every one must be refused by the function (401).
now = int(time.time())
good_claims = dict(claims, iat=now, nbf=now, exp=now + 600, jti="forged")
public_jwk = signing_key.key
public_pem = public_jwk.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
public_jwk_json = json.dumps(jwt.algorithms.RSAAlgorithm.to_jwk(public_jwk, as_dict=True)).encode()
attacker = rsa.generate_private_key(public_exponent=65537, key_size=2048)
attacker_jwk = jwt.algorithms.RSAAlgorithm.to_jwk(attacker.public_key(), as_dict=True)
kid = signing_key.key_id

with open(DROPPED_KEYS_FILE) as file:
    dropped_set = json.load(file)
dropped = next(key for key in dropped_set["keys"] if key["state"] == "current")
dropped_key = serialization.load_der_private_key(base64.b64decode(dropped["private_key"]), password=None)

forgeries = {
    "HS256 keyed with the public key (PEM)":
        hs256({"alg": "HS256", "typ": "at+jwt", "kid": kid}, good_claims, public_pem),
    "HS256 keyed with the public key (JWK)":
        hs256({"alg": "HS256", "typ": "at+jwt", "kid": kid}, good_claims, public_jwk_json),
    "an unknown kid":
        sign({"alg": "RS256", "typ": "at+jwt", "kid": "unknown-" + secrets.token_hex(8)}, good_claims, attacker),
    "the kid of a retired-and-dropped key, signed by that key":
        sign({"alg": "RS256", "typ": "at+jwt", "kid": dropped["kid"]}, good_claims, dropped_key),
    "alg none":
        b64url(json.dumps({"alg": "none", "typ": "at+jwt", "kid": kid}).encode()) + "."
        + b64url(json.dumps(good_claims).encode()) + ".",
    "an embedded jwk header":
        sign({"alg": "RS256", "typ": "at+jwt", "kid": kid, "jwk": attacker_jwk}, good_claims, attacker),
    "a jku header":
        sign({"alg": "RS256", "typ": "at+jwt", "kid": kid, "jku": "https://attacker.example/jwks.json"},
             good_claims, attacker),
    "an x5u header":
        sign({"alg": "RS256", "typ": "at+jwt", "kid": kid, "x5u": "https://attacker.example/cert.pem"},
             good_claims, attacker),
    "the right kid signed by another key":
        sign({"alg": "RS256", "typ": "at+jwt", "kid": kid}, good_claims, attacker),
}
for name, forged in forgeries.items():
    status, body = call("GET", profile, token=forged)
    check(f"refused: {name}", status == 401, (status, body))

if failures:
    print(f"{len(failures)} check(s) failed")
    sys.exit(1)
print("independent verification and forgery checks passed")
