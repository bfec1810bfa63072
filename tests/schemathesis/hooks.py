"""Schemathesis hooks for `make test` (scripts/schemathesis.sh loads them with SCHEMATHESIS_HOOKS).

Schemathesis draws a `{user_id}` and a bearer token independently, and a session
ends at its first logout, so without help most requests to the users routes stop
at 401/403 and the stateful phase cannot follow its links past them. These hooks
keep a pool of the accounts the run has seen (registered by Schemathesis itself,
logged in, or made here) and put a matching token and id in place just before a
*positive* case goes out:

- users routes: the `{user_id}`'s own token when that user is known (a link
  brought the id); otherwise the token's own id, for every id when the token
  came from a link (login -> profile) and for half of the drawn ids under the
  owner's token (by the id's parity, so a replay sends the same request); the
  other half keep their 403.

And for every case, negative ones included, the owner's session is kept alive
to the end of the run:

- DELETE with the owner's token on the owner's id (or on an id adopted as
  above) deletes a fresh account instead;
- logout and logout_all with the owner's token end a fresh session of a
  throwaway account, so each gets 200, not 401 after the first call;
- ending a session with the owner's token ends a fresh session of that
  throwaway account instead (with its own token, on its own id): always when
  the session is the owner's own (a link from the listing brings its id), and
  for every positive case, which therefore reaches the 200 answer.

Requests whose credentials a check removed or changed on purpose
(`ignored_auth`) carry no token of a known user and are sent as generated.

Environment (set by scripts/schemathesis.sh):
  ST_OWNER_TOKEN  access token of the account the config authenticates as
                  (schemathesis.toml: [auth.openapi.bearerAuth])
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import secrets
import threading
import time

import pyotp
import requests
import schemathesis

OWNER_TOKEN = os.environ["ST_OWNER_TOKEN"]
USER_ID = re.compile(r"^[0-9a-fA-F]{24}$")
TIMEOUT_S = 30


def token_claims(token: str | None) -> dict:
    """An access token's claims, unverified; {} when it is not a JWT."""
    if not token:
        return {}
    parts = token.split(".")
    if len(parts) != 3:
        return {}
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload))
    except (binascii.Error, ValueError):
        return {}
    return claims if isinstance(claims, dict) else {}


def token_subject(token: str | None) -> str | None:
    """The `sub` (user id) of an access token; the signature is the server's business."""
    if not token:
        return None
    parts = token.split(".")
    if len(parts) != 3:
        return None
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload))
    except (binascii.Error, ValueError):
        return None
    subject = claims.get("sub") if isinstance(claims, dict) else None
    return subject.lower() if isinstance(subject, str) and USER_ID.match(subject) else None


def bearer(case) -> str | None:
    value = case.headers.get("Authorization") if case.headers else None
    if isinstance(value, str) and value[:7].lower() == "bearer ":
        return value[7:]
    return None


class Accounts:
    """What the run knows about accounts: credentials and one live access token per user."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.credentials: dict[str, tuple[str, str]] = {}
        self.tokens: dict[str, str] = {}
        self.owner = token_subject(OWNER_TOKEN)
        self.tokens[self.owner] = OWNER_TOKEN
        self.spare: tuple[str, str] | None = None  # the logout account's credentials

    def remember(
        self, user_id: str, email: str | None = None, password: str | None = None, token: str | None = None
    ) -> None:
        with self.lock:
            if email is not None and password is not None:
                self.credentials[user_id] = (email, password)
            if token is not None:
                self.tokens[user_id] = token

    def forget_token(self, user_id: str, token: str | None = None) -> None:
        with self.lock:
            if token is None or self.tokens.get(user_id) == token:
                if user_id != self.owner:
                    self.tokens.pop(user_id, None)

    def forget(self, user_id: str) -> None:
        with self.lock:
            self.credentials.pop(user_id, None)
            self.tokens.pop(user_id, None)

    def known(self, user_id: str) -> bool:
        with self.lock:
            return user_id in self.tokens or user_id in self.credentials

    def token_for(self, base_url: str, user_id: str) -> str | None:
        """A live token of `user_id`, logging in with its credentials when needed."""
        with self.lock:
            token = self.tokens.get(user_id)
            credentials = self.credentials.get(user_id)
        if token is not None or credentials is None:
            return token
        token = login(base_url, *credentials)
        if token is None:
            # A password the server refused at login time: no token to be had.
            self.forget(user_id)
        else:
            self.remember(user_id, token=token)
        return token

    def fresh_account(self, base_url: str) -> tuple[str, str]:
        """Registers and logs in a new account; returns its id and token."""
        email, password = f"st-{secrets.token_hex(6)}@example.com", secrets.token_urlsafe(18)
        user_id = register(base_url, email, password)
        token = login(base_url, email, password)
        assert token is not None, "a fresh account could not log in"
        self.remember(user_id, email, password, token)
        return user_id, token

    def fresh_session(self, base_url: str) -> str:
        """A new session of the throwaway logout account (created on first use)."""
        if self.spare is None:
            email, password = f"st-spare-{secrets.token_hex(6)}@example.com", secrets.token_urlsafe(18)
            register(base_url, email, password)
            self.spare = (email, password)
        token = login(base_url, *self.spare)
        assert token is not None, "the logout account could not log in"
        return token


def register(base_url: str, email: str, password: str) -> str:
    username = email.split("@", 1)[0]
    response = requests.post(
        f"{base_url}/auth/register",
        timeout=TIMEOUT_S,
        json={"username": username, "email": email, "password": password},
    )
    assert response.status_code == 201, f"registering {email}: {response.status_code} {response.text}"
    return response.json()["id"]


def login(base_url: str, email: str, password: str) -> str | None:
    response = requests.post(f"{base_url}/auth/login", timeout=TIMEOUT_S, json={"email": email, "password": password})
    return response.json()["access_token"] if response.status_code == 200 else None


ACCOUNTS = Accounts()


class SecondFactor:
    """Real credentials for a few positive cases of the second-factor routes, so
    that they get past their checks: enrolment with an account's own password,
    and verification with a live mfa_token and a code (pyotp) or recovery code.
    Each costs several argon2 checks on the server, so only `LIMIT` per operation."""

    LIMIT = 4

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.used: dict[str, int] = {}

    def take(self, label: str) -> bool:
        with self.lock:
            if self.used.get(label, 0) >= self.LIMIT:
                return False
            self.used[label] = self.used.get(label, 0) + 1
            return True

    @staticmethod
    def challenge(base_url: str) -> tuple[str, str, str]:
        """A fresh account with a confirmed factor, logged in up to its mfa_token:
        (mfa_token, a code of the next step, a recovery code)."""
        user_id, token = ACCOUNTS.fresh_account(base_url)
        _, password = ACCOUNTS.credentials[user_id]
        headers = {"authorization": f"Bearer {token}"}
        enrolled = requests.post(f"{base_url}/users/{user_id}/mfa/totp", headers=headers,
                                 json={"password": password}, timeout=TIMEOUT_S)
        assert enrolled.status_code == 200, enrolled.text
        totp = pyotp.TOTP(enrolled.json()["secret"])
        confirmed = requests.post(f"{base_url}/users/{user_id}/mfa/totp/confirm", headers=headers,
                                  json={"code": totp.now()}, timeout=TIMEOUT_S)
        assert confirmed.status_code == 200, confirmed.text
        email, _ = ACCOUNTS.credentials[user_id]
        # From now on a login answers an mfa_token, not tokens: the run forgets the account.
        ACCOUNTS.forget(user_id)
        pending = requests.post(f"{base_url}/auth/login", json={"email": email, "password": password},
                                timeout=TIMEOUT_S).json()
        return pending["mfa_token"], totp.at(int(time.time()) + 30), confirmed.json()["recovery_codes"][0]


SECOND_FACTOR = SecondFactor()


class ClientToken:
    """An OAuth client's access token for the owner (`demo-spa`, `openid profile
    email`), so that UserInfo gets past its scope check.

    Until the pages bring `/oauth2/authorize`, no code can be had over HTTP:
    the code is written to the database as `domain::oauth::issue_code` stores
    it (only its SHA-256, bound to the client, redirect URI and PKCE
    challenge), then exchanged at `/oauth2/token` like any relying party's.
    Without `MONGODB_URI` (a run against a remote API) there is none.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.token: str | None = None
        self.tried = False

    def get(self, base_url: str) -> str | None:
        with self.lock:
            if not self.tried:
                self.tried = True
                try:
                    self.token = self.mint(base_url)
                except Exception:  # noqa: BLE001 - the run goes on without one
                    self.token = None
            return self.token

    @staticmethod
    def mint(base_url: str) -> str | None:
        import datetime
        import hashlib

        import pymongo
        from bson import Int64, ObjectId

        uri = os.environ.get("MONGODB_URI")
        owner = token_subject(OWNER_TOKEN)
        if not uri or owner is None:
            return None
        database = os.environ.get("E2E_MONGODB_DB") or os.environ.get("MONGODB_DB", "user_management")
        code, verifier = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        redirect = "http://localhost:8765/callback"
        now = datetime.datetime.now(datetime.timezone.utc)
        with pymongo.MongoClient(uri, serverSelectionTimeoutMS=3000) as client:
            client[database]["authorization_codes"].insert_one({
                "_id": hashlib.sha256(code.encode()).hexdigest(),
                "client_id": "demo-spa",
                "redirect_uri": redirect,
                "code_challenge": challenge,
                "nonce": None,
                "scope": "openid profile email",
                "user_id": ObjectId(owner),
                "otp": False,
                "auth_time": Int64(int(time.time())),
                "valid_until": now + datetime.timedelta(seconds=60),
                "expires_at": now + datetime.timedelta(seconds=600),
                "spent_by": None,
            })
        response = requests.post(
            f"{base_url}/oauth2/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": redirect,
                "client_id": "demo-spa",
                "code_verifier": verifier,
            },
            timeout=TIMEOUT_S,
        )
        return json_member(response, "access_token") if response.status_code == 200 else None


CLIENT_TOKEN = ClientToken()


def json_member(response, name: str):
    """A member of a JSON object body, or None (a check may have sent a HEAD)."""
    try:
        body = response.json()
    except ValueError:
        return None
    return body.get(name) if isinstance(body, dict) else None


def is_positive(case) -> bool:
    meta = case.meta
    return meta is not None and meta.generation.mode.is_positive


def set_bearer(case, token: str) -> None:
    case.headers["Authorization"] = f"Bearer {token}"


@schemathesis.hook
def before_call(ctx, case, kwargs):
    label = case.operation.label
    base_url = case.operation.schema.get_base_url()
    if (
        label == "POST /auth/mfa/verify"
        and is_positive(case)
        and isinstance(case.body, dict)
        # A drawn passkey credential is refused whatever the token: no live one spent on it.
        and "credential" not in case.body
        and SECOND_FACTOR.take(label)
    ):
        mfa_token, code, recovery_code = SECOND_FACTOR.challenge(base_url)
        case.body["mfa_token"] = mfa_token
        if "code" in case.body:
            case.body["code"] = code
        else:
            case.body["recovery_code"] = recovery_code
        return
    if label == "POST /oauth2/token" and is_positive(case) and isinstance(case.body, dict):
        # A registered public client (make dev's and make test's demo-spa):
        # the drawn code or refresh token is then what is refused (400).
        case.body["client_id"] = "demo-spa"
        case.body.pop("client_secret", None)
        if case.headers:
            case.headers.pop("Authorization", None)
        return
    if label == "POST /oauth2/revoke" and is_positive(case) and isinstance(case.body, dict):
        # As the token endpoint: demo-spa, so that the drawn token is what is
        # judged (unknown: 200).
        case.body["client_id"] = "demo-spa"
        case.body.pop("client_secret", None)
        if case.headers:
            case.headers.pop("Authorization", None)
        return
    if label == "POST /oauth2/introspect" and is_positive(case) and isinstance(case.body, dict):
        # A confidential client (make test's machine-test, issue #22), so
        # that the drawn token is what is judged (unknown: active false).
        client, secret = os.environ.get("E2E_MACHINE_CLIENT"), os.environ.get("E2E_MACHINE_SECRET")
        if client and secret:
            case.body.pop("client_id", None)
            case.body.pop("client_secret", None)
            credentials = base64.b64encode(f"{client}:{secret}".encode()).decode()
            case.headers = {**(case.headers or {}), "Authorization": f"Basic {credentials}"}
        return
    token = bearer(case)
    if token is None:
        return
    if label in ("GET /oauth2/userinfo", "POST /oauth2/userinfo") and is_positive(case):
        client_token = CLIENT_TOKEN.get(base_url) if token == OWNER_TOKEN else None
        if client_token is not None:
            set_bearer(case, client_token)
        return
    if (
        label == "POST /users/{user_id}/mfa/totp/"
        and is_positive(case)
        and isinstance(case.body, dict)
        # A drawn passkey credential is refused whatever the token: no live one spent on it.
        and "credential" not in case.body
        and SECOND_FACTOR.take(label)
    ):
        # A fresh account's own id, token and password: a pending factor for it.
        user_id, own = ACCOUNTS.fresh_account(base_url)
        case.path_parameters["user_id"] = user_id
        set_bearer(case, own)
        case.body["password"] = ACCOUNTS.credentials[user_id][1]
        return
    # Whatever the case, the owner's session must outlive it: a negative case
    # (an odd header, say) is still sent with the owner's token.
    if label in ("POST /auth/logout", "POST /auth/logout_all"):
        if token == OWNER_TOKEN:
            set_bearer(case, ACCOUNTS.fresh_session(base_url))
        return
    if label == "DELETE /users/{user_id}/sessions/{session_id}/" and token == OWNER_TOKEN:
        session_id = case.path_parameters.get("session_id") if case.path_parameters else None
        owners_own = isinstance(session_id, str) and session_id.lower() == token_claims(OWNER_TOKEN).get("sid")
        if owners_own or is_positive(case):
            spare = ACCOUNTS.fresh_session(base_url)
            claims = token_claims(spare)
            case.path_parameters["user_id"] = claims["sub"]
            case.path_parameters["session_id"] = claims["sid"]
            set_bearer(case, spare)
            return
    user_id = case.path_parameters.get("user_id") if case.path_parameters else None
    if not isinstance(user_id, str) or not USER_ID.match(user_id):
        return
    user_id = user_id.lower()
    subject = token_subject(token)
    if subject is None:
        return
    positive = is_positive(case)
    # An id nobody has: half of them (by parity) become the token's own user.
    adopt = (
        positive
        and subject != user_id
        and not ACCOUNTS.known(user_id)
        and (int(user_id, 16) % 2 == 0 or token != OWNER_TOKEN)
    )
    if label == "DELETE /users/{user_id}/" and token == OWNER_TOKEN and (user_id == ACCOUNTS.owner or adopt):
        # The owner stays, even for a negative case: a fresh account is deleted in its place.
        victim, victim_token = ACCOUNTS.fresh_account(base_url)
        case.path_parameters["user_id"] = victim
        set_bearer(case, victim_token)
    elif subject == user_id or not positive:
        return
    elif ACCOUNTS.known(user_id):
        # A link brought this id (registration, profile, link): its own token.
        own = ACCOUNTS.token_for(base_url, user_id)
        if own is not None:
            set_bearer(case, own)
    elif adopt:
        case.path_parameters["user_id"] = subject


@schemathesis.hook
def after_call(ctx, case, response):
    label = case.operation.label
    status = response.status_code
    if label == "POST /auth/register" and status == 201 and isinstance(case.body, dict):
        email, password = case.body.get("email"), case.body.get("password")
        if isinstance(email, str) and isinstance(password, str):
            user_id = json_member(response, "id")
            if isinstance(user_id, str):
                ACCOUNTS.remember(user_id, email.strip().lower(), password)
    elif label == "POST /auth/login" and status == 200:
        subject = token_subject(token := json_member(response, "access_token"))
        if subject is not None:
            ACCOUNTS.remember(subject, token=token)
    elif label == "POST /auth/logout" and status == 200:
        token = bearer(case)
        subject = token_subject(token)
        if subject is not None:
            ACCOUNTS.forget_token(subject, token)
    elif label == "POST /auth/logout_all" and status == 200:
        subject = token_subject(bearer(case))
        if subject is not None:
            ACCOUNTS.forget_token(subject)
    elif label == "DELETE /users/{user_id}/sessions/{session_id}/" and status == 200:
        # Possibly the token's own session (a link passes the newest one on).
        token = bearer(case)
        subject = token_subject(token)
        if subject is not None and token_claims(token).get("sid") == str(case.path_parameters["session_id"]).lower():
            ACCOUNTS.forget_token(subject, token)
    elif label == "DELETE /users/{user_id}/" and status == 200:
        ACCOUNTS.forget(str(case.path_parameters["user_id"]).lower())


@schemathesis.hook
def filter_body(ctx, body):
    # cargo lambda watch answers a JSON or text body that is not UTF-8 with a
    # 500 of its own, before any function runs (API Gateway would pass it on
    # base64-encoded, and the functions answer 400): not a finding about the API.
    if isinstance(body, (bytes, bytearray)):
        try:
            bytes(body).decode("utf-8")
        except UnicodeDecodeError:
            return False
    return True


@schemathesis.check
def registration_refused_only_for_password_rules(ctx, response, case):
    # zxcvbn strength and "not the username or e-mail" are beyond JSON Schema
    # (openapi.yaml says so): a schema-valid registration may get 422, but only
    # for its password.
    meta = case.meta
    if (
        case.operation.label != "POST /auth/register"
        or response.status_code != 422
        or meta is None
        or not meta.generation.mode.is_positive
    ):
        return None
    refused = [
        error
        for error in response.json().get("errors", [])
        if error.get("field") != "password"
        or not error.get("message", "").startswith(("is too easy to guess", "must not be the same as"))
    ]
    assert not refused, f"a schema-valid registration was refused for {refused}"
    return None
