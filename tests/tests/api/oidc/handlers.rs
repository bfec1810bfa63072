//! The OpenID Provider's token and userinfo functions, called directly with
//! API Gateway events; codes come from `domain::oauth::issue_code`, as the
//! authorize endpoint will issue them.

use api_tests::{Answer, Event, Function, SignedUp, TestApp, SERVER_CLIENT_SECRET};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use serde_json::{json, Value};
use users_core::domain::authorize::{validate, AuthorizeOutcome};
use users_core::domain::oauth::{issue_code, SignedIn};
use users_core::domain::records::Authentication;
use users_core::domain::values::{Timestamp, UserId};

/// RFC 7636 Appendix B.
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
const SPA_REDIRECT: &str = "http://localhost:8765/callback";
const SERVER_REDIRECT: &str = "https://app.example/callback";

fn form(pairs: &[(&str, &str)]) -> String {
    let mut encoded = form_urlencoded::Serializer::new(String::new());
    for (name, value) in pairs {
        encoded.append_pair(name, value);
    }
    encoded.finish()
}

fn token_request(pairs: &[(&str, &str)]) -> Event {
    Event::http_api("POST", "/oauth2/token")
        .header("content-type", "application/x-www-form-urlencoded")
        .raw_body(&form(pairs))
}

/// A code for `user`, issued through the domain function for `client_id`
/// with `scope` (PKCE for the public clients).
async fn code(app: &TestApp, user: &SignedUp, client_id: &str, scope: &str) -> String {
    let redirect = match client_id {
        "server" => SERVER_REDIRECT,
        "first" => "http://localhost:8766/callback",
        _ => SPA_REDIRECT,
    };
    let mut parameters = vec![
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", redirect),
        ("scope", scope),
        ("state", "xyz"),
        ("nonce", "n-0S6_WzA2Mj"),
    ];
    if client_id != "server" {
        parameters.push(("code_challenge", CHALLENGE));
        parameters.push(("code_challenge_method", "S256"));
    }
    let parameters: Vec<(String, String)> = parameters
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let registry = app.clients.registry().await;
    let AuthorizeOutcome::Valid(request) = validate(&parameters, &registry) else {
        panic!("the test request is valid");
    };
    let signed_in = SignedIn {
        user_id: UserId::parse(&user.user_id).unwrap(),
        auth: Authentication::password(Timestamp::now()),
    };
    issue_code(&app.store, signed_in, &request, Timestamp::now())
        .await
        .unwrap()
}

async fn exchange_spa(app: &TestApp, code: &str, verifier: &str) -> Answer {
    app.call(
        Function::OAuthToken,
        token_request(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", SPA_REDIRECT),
            ("client_id", "spa"),
            ("code_verifier", verifier),
        ]),
    )
    .await
}

fn claims(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

fn header_of(jwt: &str) -> Value {
    let header = jwt.split('.').next().unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap()
}

fn assert_oauth_error(answer: &Answer, status: u16, error: &str) {
    assert_eq!(answer.status, status, "{}", answer.body);
    assert_eq!(answer.body["error"], error, "{}", answer.body);
    assert_eq!(answer.header("cache-control"), "no-store");
}

#[tokio::test]
async fn a_public_client_exchanges_a_code_with_pkce_for_tokens_and_an_id_token() {
    let app = TestApp::new().await;
    let ada = app.sign_up("ada").await;
    let code = code(&app, &ada, "spa", "openid profile email offline_access").await;
    let answer = exchange_spa(&app, &code, VERIFIER).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.header("cache-control"), "no-store");
    assert_eq!(answer.header("pragma"), "no-cache");
    assert_eq!(answer.body["token_type"], "Bearer");
    assert_eq!(answer.body["scope"], "openid profile email offline_access");
    assert!(answer.body["refresh_token"].is_string());

    let access = answer.body["access_token"].as_str().unwrap();
    assert_eq!(header_of(access)["typ"], "at+jwt");
    let at = claims(access);
    assert_eq!(at["client_id"], "spa");
    assert_eq!(at["scope"], "openid profile email offline_access");
    assert_eq!(at["aud"], "user-management-api");
    assert_eq!(at["sub"], ada.user_id.as_str());

    let id_token = answer.body["id_token"].as_str().unwrap();
    assert_eq!(header_of(id_token)["alg"], "RS256");
    let id = claims(id_token);
    assert_eq!(id["iss"], "http://127.0.0.1:9000");
    assert_eq!(id["aud"], "spa", "the ID token's audience is the client");
    assert_ne!(
        id["aud"], at["aud"],
        "ID and access tokens have distinct audiences"
    );
    assert_eq!(id["sub"], ada.user_id.as_str());
    assert_eq!(id["nonce"], "n-0S6_WzA2Mj");
    assert_eq!(id["amr"], json!(["pwd"]));
    assert_eq!(id["sid"], at["sid"]);
    let lifetime = id["exp"].as_u64().unwrap() - id["iat"].as_u64().unwrap();
    assert!(lifetime <= 600, "{lifetime}");
    assert!(id["auth_time"].as_u64().unwrap() > 0);

    // The session is a device of its own, named after the client.
    let listed = app
        .call(
            Function::ListSessions,
            Event::http_api("GET", "/users/{user_id}/sessions")
                .user_id(&ada.user_id)
                .bearer(&ada.access_token),
        )
        .await;
    let clients: Vec<&Value> = listed.body["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|session| &session["client"])
        .collect();
    assert!(clients.contains(&&json!("Demo SPA")), "{}", listed.body);
    assert!(clients.contains(&&Value::Null), "{}", listed.body);
    app.drop().await;
}

#[tokio::test]
async fn a_wrong_or_missing_verifier_is_invalid_grant() {
    let app = TestApp::new().await;
    let ada = app.sign_up("ada").await;
    let code = code(&app, &ada, "spa", "openid").await;
    let wrong = exchange_spa(&app, &code, &"a".repeat(43)).await;
    assert_oauth_error(&wrong, 400, "invalid_grant");
    let missing = app
        .call(
            Function::OAuthToken,
            token_request(&[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", SPA_REDIRECT),
                ("client_id", "spa"),
            ]),
        )
        .await;
    assert_oauth_error(&missing, 400, "invalid_grant");
    // Not spent by the failures: the right verifier still works.
    assert_eq!(exchange_spa(&app, &code, VERIFIER).await.status, 200);
    app.drop().await;
}

#[tokio::test]
async fn a_code_used_again_is_refused_and_revokes_what_its_first_use_issued() {
    let app = TestApp::new().await;
    let ada = app.sign_up("ada").await;
    let code = code(&app, &ada, "spa", "openid offline_access").await;
    let first = exchange_spa(&app, &code, VERIFIER).await;
    assert_eq!(first.status, 200, "{}", first.body);
    let again = exchange_spa(&app, &code, VERIFIER).await;
    assert_oauth_error(&again, 400, "invalid_grant");
    // The first use's session is gone: its refresh token and access token too.
    let refresh = app
        .call(
            Function::OAuthToken,
            token_request(&[
                ("grant_type", "refresh_token"),
                (
                    "refresh_token",
                    first.body["refresh_token"].as_str().unwrap(),
                ),
                ("client_id", "spa"),
            ]),
        )
        .await;
    assert_oauth_error(&refresh, 400, "invalid_grant");
    let userinfo = app
        .call(
            Function::OAuthUserInfo,
            Event::http_api("GET", "/oauth2/userinfo")
                .bearer(first.body["access_token"].as_str().unwrap()),
        )
        .await;
    assert_eq!(userinfo.status, 401, "{}", userinfo.body);
    // The login's own session is untouched.
    assert_eq!(app.refresh(&ada.refresh_token).await.status, 200);
    app.drop().await;
}

#[tokio::test]
async fn a_code_of_another_client_is_invalid_grant() {
    let app = TestApp::new().await;
    let ada = app.sign_up("ada").await;
    let code = code(&app, &ada, "spa", "openid").await;
    let answer = app
        .call(
            Function::OAuthToken,
            token_request(&[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", SPA_REDIRECT),
                ("client_id", "server"),
                ("client_secret", SERVER_CLIENT_SECRET),
                ("code_verifier", VERIFIER),
            ]),
        )
        .await;
    assert_oauth_error(&answer, 400, "invalid_grant");
    app.drop().await;
}

#[tokio::test]
async fn client_authentication_basic_post_and_refusals() {
    let app = TestApp::new().await;
    let ada = app.sign_up("ada").await;
    // client_secret_basic, the id and secret form-encoded first.
    let code_a = code(&app, &ada, "server", "openid email").await;
    let basic = STANDARD.encode(format!("server:{SERVER_CLIENT_SECRET}"));
    let answer = app
        .call(
            Function::OAuthToken,
            token_request(&[
                ("grant_type", "authorization_code"),
                ("code", &code_a),
                ("redirect_uri", SERVER_REDIRECT),
            ])
            .header("authorization", &format!("Basic {basic}")),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(
        answer.body.get("refresh_token").is_none(),
        "no offline_access, no refresh token"
    );
    // client_secret_post.
    let code_b = code(&app, &ada, "server", "openid").await;
    let post = |code: String, secret: &'static str| {
        token_request(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", SERVER_REDIRECT),
            ("client_id", "server"),
            ("client_secret", secret),
        ])
    };
    let wrong = app
        .call(Function::OAuthToken, post(code_b.clone(), "wrong"))
        .await;
    assert_oauth_error(&wrong, 401, "invalid_client");
    assert!(wrong.header("www-authenticate").starts_with("Basic"));
    let right = app
        .call(Function::OAuthToken, post(code_b, SERVER_CLIENT_SECRET))
        .await;
    assert_eq!(right.status, 200, "{}", right.body);
    // A public client presenting a secret.
    let code_c = code(&app, &ada, "spa", "openid").await;
    let public_with_secret = app
        .call(
            Function::OAuthToken,
            token_request(&[
                ("grant_type", "authorization_code"),
                ("code", &code_c),
                ("redirect_uri", SPA_REDIRECT),
                ("client_id", "spa"),
                ("client_secret", "anything"),
                ("code_verifier", VERIFIER),
            ]),
        )
        .await;
    assert_oauth_error(&public_with_secret, 401, "invalid_client");
    // A confidential client without its secret, an unknown one, no client.
    for pairs in [
        vec![
            ("grant_type", "authorization_code"),
            ("client_id", "server"),
        ],
        vec![
            ("grant_type", "authorization_code"),
            ("client_id", "nobody"),
        ],
        vec![("grant_type", "authorization_code")],
    ] {
        let answer = app.call(Function::OAuthToken, token_request(&pairs)).await;
        assert_oauth_error(&answer, 401, "invalid_client");
    }
    app.drop().await;
}

#[tokio::test]
async fn malformed_token_requests_get_the_specs_errors_never_a_500() {
    let app = TestApp::new().await;
    let cases: Vec<(Event, u16, &str)> = vec![
        (
            token_request(&[("grant_type", "password"), ("client_id", "spa")]),
            400,
            "unsupported_grant_type",
        ),
        (
            token_request(&[("client_id", "spa")]),
            400,
            "invalid_request",
        ),
        (
            Event::http_api("POST", "/oauth2/token").json(json!({"grant_type": "refresh_token"})),
            400,
            "invalid_request",
        ),
        (
            token_request(&[]).raw_body("grant_type=a&grant_type=b&client_id=spa"),
            400,
            "invalid_request",
        ),
        (
            token_request(&[
                ("grant_type", "authorization_code"),
                ("client_id", "spa"),
                ("code", "made-up"),
                ("redirect_uri", SPA_REDIRECT),
                ("code_verifier", VERIFIER),
            ]),
            400,
            "invalid_grant",
        ),
        (
            token_request(&[
                ("grant_type", "refresh_token"),
                ("client_id", "spa"),
                ("refresh_token", "made-up"),
            ]),
            400,
            "invalid_grant",
        ),
        (
            token_request(&[
                ("grant_type", "refresh_token"),
                ("client_id", "spa"),
                ("refresh_token", "x"),
                ("scope", "openid phone"),
            ]),
            400,
            "invalid_scope",
        ),
        (
            token_request(&[("grant_type", "authorization_code"), ("client_id", "spa")]),
            400,
            "invalid_request",
        ),
    ];
    for (event, status, error) in cases {
        let answer = app.call(Function::OAuthToken, event).await;
        assert_oauth_error(&answer, status, error);
    }
    let get = app
        .call(
            Function::OAuthToken,
            Event::http_api("GET", "/oauth2/token"),
        )
        .await;
    assert_eq!(get.status, 405);
    app.drop().await;
}

#[tokio::test]
async fn refresh_rotates_may_narrow_the_scope_and_logout_everywhere_ends_it() {
    let app = TestApp::new().await;
    let ada = app.sign_up("ada").await;
    let code = code(&app, &ada, "spa", "openid email offline_access").await;
    let first = exchange_spa(&app, &code, VERIFIER).await;
    let refresh = |token: String, scope: Option<&'static str>| {
        let mut pairs = vec![
            ("grant_type", "refresh_token".to_string()),
            ("refresh_token", token),
            ("client_id", "spa".to_string()),
        ];
        if let Some(scope) = scope {
            pairs.push(("scope", scope.to_string()));
        }
        let pairs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        token_request(&pairs)
    };
    let token = |answer: &Answer| answer.body["refresh_token"].as_str().unwrap().to_string();
    let wider = app
        .call(
            Function::OAuthToken,
            refresh(token(&first), Some("openid profile")),
        )
        .await;
    assert_oauth_error(&wider, 400, "invalid_scope");
    let narrowed = app
        .call(Function::OAuthToken, refresh(token(&first), Some("openid")))
        .await;
    assert_eq!(narrowed.status, 200, "{}", narrowed.body);
    assert_eq!(narrowed.body["scope"], "openid");
    assert_eq!(
        claims(narrowed.body["access_token"].as_str().unwrap())["scope"],
        "openid"
    );
    assert_ne!(token(&narrowed), token(&first), "rotated");
    // Logout everywhere, from the login's session, ends the client's too.
    let ended = app
        .call(
            Function::LogoutAll,
            Event::http_api("POST", "/auth/logout_all").bearer(&ada.access_token),
        )
        .await;
    assert_eq!(ended.status, 200, "{}", ended.body);
    let after = app
        .call(Function::OAuthToken, refresh(token(&narrowed), None))
        .await;
    assert_oauth_error(&after, 400, "invalid_grant");
    app.drop().await;
}

#[tokio::test]
async fn userinfo_by_get_post_header_and_post_body_with_claims_by_scope() {
    let app = TestApp::new().await;
    let ada = app.sign_up("ada").await;
    let code = code(&app, &ada, "spa", "openid profile email").await;
    let tokens = exchange_spa(&app, &code, VERIFIER).await;
    let access = tokens.body["access_token"].as_str().unwrap();
    let expected = json!({
        "sub": ada.user_id, "preferred_username": "ada",
        "email": "ada@example.com", "email_verified": false
    });
    let by_get = app
        .call(
            Function::OAuthUserInfo,
            Event::http_api("GET", "/oauth2/userinfo").bearer(access),
        )
        .await;
    assert_eq!(by_get.status, 200, "{}", by_get.body);
    assert_eq!(by_get.body, expected);
    assert_eq!(by_get.header("cache-control"), "no-store");
    let by_post_header = app
        .call(
            Function::OAuthUserInfo,
            Event::http_api("POST", "/oauth2/userinfo").bearer(access),
        )
        .await;
    assert_eq!(by_post_header.body, expected);
    let by_post_body = app
        .call(
            Function::OAuthUserInfo,
            Event::http_api("POST", "/oauth2/userinfo")
                .header("content-type", "application/x-www-form-urlencoded")
                .raw_body(&form(&[("access_token", access)])),
        )
        .await;
    assert_eq!(by_post_body.status, 200, "{}", by_post_body.body);
    assert_eq!(by_post_body.body, expected);
    // Both at once; none; a bad token; a login token (no openid scope).
    let both = app
        .call(
            Function::OAuthUserInfo,
            Event::http_api("POST", "/oauth2/userinfo")
                .bearer(access)
                .header("content-type", "application/x-www-form-urlencoded")
                .raw_body(&form(&[("access_token", access)])),
        )
        .await;
    assert_eq!(both.status, 400, "{}", both.body);
    let none = app
        .call(
            Function::OAuthUserInfo,
            Event::http_api("GET", "/oauth2/userinfo"),
        )
        .await;
    assert_eq!(none.status, 401);
    assert_eq!(none.header("www-authenticate"), "Bearer");
    let bad = app
        .call(
            Function::OAuthUserInfo,
            Event::http_api("GET", "/oauth2/userinfo").bearer("not.a.token"),
        )
        .await;
    assert_eq!(bad.status, 401);
    assert_eq!(
        bad.header("www-authenticate"),
        r#"Bearer error="invalid_token""#
    );
    let login_token = app
        .call(
            Function::OAuthUserInfo,
            Event::http_api("GET", "/oauth2/userinfo").bearer(&ada.access_token),
        )
        .await;
    assert_eq!(login_token.status, 403, "{}", login_token.body);

    // Only `sub` for `openid` alone.
    let code = self::code(&app, &ada, "spa", "openid").await;
    let tokens = exchange_spa(&app, &code, VERIFIER).await;
    let only_sub = app
        .call(
            Function::OAuthUserInfo,
            Event::http_api("GET", "/oauth2/userinfo")
                .bearer(tokens.body["access_token"].as_str().unwrap()),
        )
        .await;
    assert_eq!(only_sub.body, json!({ "sub": ada.user_id }));
    app.drop().await;
}

#[tokio::test]
async fn a_third_party_token_is_refused_by_the_account_routes_a_first_party_one_is_not() {
    let app = TestApp::new().await;
    let ada = app.sign_up("ada").await;
    let third = exchange_spa(&app, &code(&app, &ada, "spa", "openid").await, VERIFIER).await;
    let third_party = third.body["access_token"].as_str().unwrap();
    let delete = app
        .call(
            Function::DeleteUser,
            Event::http_api("DELETE", "/users/{user_id}")
                .user_id(&ada.user_id)
                .bearer(third_party),
        )
        .await
        .problem(403);
    assert_eq!(
        delete.header("www-authenticate"),
        r#"Bearer error="insufficient_scope""#
    );
    let profile = app
        .call(
            Function::GetFullProfile,
            Event::http_api("GET", "/users/{user_id}/full_profile")
                .user_id(&ada.user_id)
                .bearer(third_party),
        )
        .await;
    assert_eq!(profile.status, 403, "{}", profile.body);

    let first_code = code(&app, &ada, "first", "openid").await;
    let first = app
        .call(
            Function::OAuthToken,
            token_request(&[
                ("grant_type", "authorization_code"),
                ("code", &first_code),
                ("redirect_uri", "http://localhost:8766/callback"),
                ("client_id", "first"),
                ("code_verifier", VERIFIER),
            ]),
        )
        .await;
    assert_eq!(first.status, 200, "{}", first.body);
    let profile = app
        .call(
            Function::GetFullProfile,
            Event::http_api("GET", "/users/{user_id}/full_profile")
                .user_id(&ada.user_id)
                .bearer(first.body["access_token"].as_str().unwrap()),
        )
        .await;
    assert_eq!(profile.status, 200, "{}", profile.body);
    // The user still exists: the third-party DELETE did nothing.
    assert_eq!(
        app.login("ada@example.com", api_tests::PASSWORD)
            .await
            .status,
        200
    );
    app.drop().await;
}

#[tokio::test]
async fn cors_allows_registered_origins_only() {
    let app = TestApp::new().await;
    let registered = app
        .call(
            Function::OAuthToken,
            token_request(&[("grant_type", "password"), ("client_id", "spa")])
                .header("origin", "http://localhost:8765"),
        )
        .await;
    assert_eq!(
        registered.header("access-control-allow-origin"),
        "http://localhost:8765"
    );
    assert_eq!(registered.header("vary"), "Origin");
    let other = app
        .call(
            Function::OAuthUserInfo,
            Event::http_api("GET", "/oauth2/userinfo").header("origin", "https://evil.example"),
        )
        .await;
    assert!(other.headers.get("access-control-allow-origin").is_none());
    app.drop().await;
}

#[tokio::test]
async fn discovery_is_served_at_both_well_known_paths_and_says_only_what_is_implemented() {
    let app = TestApp::new().await;
    let openid = app
        .call(
            Function::Jwks,
            Event::http_api("GET", "/.well-known/openid-configuration"),
        )
        .await;
    let rfc8414 = app
        .call(
            Function::Jwks,
            Event::http_api("GET", "/.well-known/oauth-authorization-server"),
        )
        .await;
    assert_eq!(openid.status, 200, "{}", openid.body);
    assert_eq!(rfc8414.status, 200, "{}", rfc8414.body);
    assert_eq!(openid.body, rfc8414.body);
    let document = &openid.body;
    let issuer = "http://127.0.0.1:9000";
    assert_eq!(document["issuer"], issuer);
    assert_eq!(document["token_endpoint"], format!("{issuer}/oauth2/token"));
    assert_eq!(
        document["userinfo_endpoint"],
        format!("{issuer}/oauth2/userinfo")
    );
    assert_eq!(document["response_types_supported"], json!(["code"]));
    assert_eq!(
        document["code_challenge_methods_supported"],
        json!(["S256"])
    );
    assert_eq!(
        document["grant_types_supported"],
        json!(["authorization_code", "refresh_token", "client_credentials"])
    );
    assert_eq!(
        document["revocation_endpoint"],
        format!("{issuer}/oauth2/revoke")
    );
    assert_eq!(
        document["introspection_endpoint"],
        format!("{issuer}/oauth2/introspect")
    );
    assert_eq!(document["request_parameter_supported"], false);
    assert_eq!(document["request_uri_parameter_supported"], false);
    assert_eq!(
        document["authorization_response_iss_parameter_supported"],
        true
    );
    assert_eq!(
        document["end_session_endpoint"],
        json!("http://127.0.0.1:9000/oauth2/logout")
    );
    let scopes = document["scopes_supported"].as_array().unwrap();
    assert!(!scopes.contains(&json!("phone")) && !scopes.contains(&json!("address")));
    app.drop().await;
}

/// An independent check: PyJWT (a JOSE library nobody here wrote) verifies
/// the ID token against the published JWKS, as a relying party does.
#[tokio::test]
async fn pyjwt_verifies_the_id_token_against_the_jwks() {
    let app = TestApp::new().await;
    let ada = app.sign_up("ada").await;
    let code = code(&app, &ada, "spa", "openid email").await;
    let tokens = exchange_spa(&app, &code, VERIFIER).await;
    let id_token = tokens.body["id_token"].as_str().unwrap();
    let jwks = app
        .call(
            Function::Jwks,
            Event::http_api("GET", "/.well-known/jwks.json"),
        )
        .await;
    let script = "import json, os, jwt\n\
        token = os.environ['ID_TOKEN']\n\
        kid = jwt.get_unverified_header(token)['kid']\n\
        keys = {k['kid']: k for k in json.loads(os.environ['JWKS'])['keys']}\n\
        key = jwt.PyJWK(keys[kid]).key\n\
        claims = jwt.decode(token, key, algorithms=['RS256'], audience='spa',\n\
            issuer=os.environ['ISSUER'], options={'require': ['exp', 'iat', 'sub', 'aud', 'iss']})\n\
        print(json.dumps(claims))";
    let output = std::process::Command::new(api_tests::venv_program("python", "PYTHON_BIN"))
        .args(["-c", script])
        .env("ID_TOKEN", id_token)
        .env("JWKS", jwks.body.to_string())
        .env("ISSUER", "http://127.0.0.1:9000")
        .output()
        .expect("the project's .venv has python");
    assert!(
        output.status.success(),
        "PyJWT refused the ID token: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let verified: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(verified["sub"], ada.user_id.as_str());
    assert_eq!(verified["nonce"], "n-0S6_WzA2Mj");
    app.drop().await;
}
