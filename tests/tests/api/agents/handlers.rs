//! Issue #22, called directly with API Gateway events: resource indicators
//! (RFC 8707) at authorize, token and refresh; the `client_credentials`
//! grant; revocation (RFC 7009) and introspection (RFC 7662) answering from
//! the session. Codes come from `domain::oauth::issue_code` after
//! `domain::authorize::validate`, as the authorize page issues them.

use api_tests::{Answer, Event, Function, SignedUp, TestApp, SERVER_CLIENT_SECRET};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use serde_json::{json, Value};
use users_core::domain::authorize::{validate, AuthorizeErrorCode, AuthorizeOutcome};
use users_core::domain::oauth::{issue_code, SignedIn};
use users_core::domain::records::Authentication;
use users_core::domain::values::{Timestamp, UserId};

/// RFC 7636 Appendix B.
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
const SPA_REDIRECT: &str = "http://localhost:8765/callback";
const MCP: &str = "https://mcp.example";
const API: &str = "https://api.example/v1";

fn form(pairs: &[(&str, &str)]) -> String {
    let mut encoded = form_urlencoded::Serializer::new(String::new());
    for (name, value) in pairs {
        encoded.append_pair(name, value);
    }
    encoded.finish()
}

fn post(path: &str, pairs: &[(&str, &str)]) -> Event {
    Event::http_api("POST", path)
        .header("content-type", "application/x-www-form-urlencoded")
        .raw_body(&form(pairs))
}

fn basic(client_id: &str) -> String {
    format!(
        "Basic {}",
        STANDARD.encode(format!("{client_id}:{SERVER_CLIENT_SECRET}"))
    )
}

fn claims(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

fn assert_oauth_error(answer: &Answer, status: u16, error: &str) {
    assert_eq!(answer.status, status, "{}", answer.body);
    assert_eq!(answer.body["error"], error, "{}", answer.body);
}

fn spa_authorization(scope: &str, resources: &[&str]) -> Vec<(String, String)> {
    let mut parameters = vec![
        ("response_type", "code"),
        ("client_id", "spa"),
        ("redirect_uri", SPA_REDIRECT),
        ("scope", scope),
        ("state", "xyz"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ];
    for resource in resources {
        parameters.push(("resource", resource));
    }
    parameters
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A code of `spa` for `user`, validated as the authorize page validates.
async fn code(app: &TestApp, user: &SignedUp, scope: &str, resources: &[&str]) -> String {
    let registry = app.clients.registry().await;
    let AuthorizeOutcome::Valid(request) =
        validate(&spa_authorization(scope, resources), &registry)
    else {
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

/// The code exchanged by `spa`, with `resource`s on the token request.
async fn exchange(app: &TestApp, code: &str, resources: &[&str]) -> Answer {
    let mut pairs = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", SPA_REDIRECT),
        ("client_id", "spa"),
        ("code_verifier", VERIFIER),
    ];
    for resource in resources {
        pairs.push(("resource", resource));
    }
    app.call(Function::OAuthToken, post("/oauth2/token", &pairs))
        .await
}

async fn refresh(app: &TestApp, token: &str, resources: &[&str]) -> Answer {
    let mut pairs = vec![
        ("grant_type", "refresh_token"),
        ("refresh_token", token),
        ("client_id", "spa"),
    ];
    for resource in resources {
        pairs.push(("resource", resource));
    }
    app.call(Function::OAuthToken, post("/oauth2/token", &pairs))
        .await
}

fn text<'a>(answer: &'a Answer, member: &str) -> &'a str {
    answer.body[member]
        .as_str()
        .unwrap_or_else(|| panic!("no {member} in {}", answer.body))
}

/// Signed in `spa` tokens for `https://mcp.example`, with offline_access.
async fn mcp_tokens(app: &TestApp, user: &SignedUp) -> Answer {
    let code = code(app, user, "openid offline_access", &[MCP]).await;
    let answer = exchange(app, &code, &[]).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer
}

async fn introspect(app: &TestApp, client_id: &str, token: &str) -> Answer {
    app.call(
        Function::OAuthIntrospect,
        post("/oauth2/introspect", &[("token", token)]).header("authorization", &basic(client_id)),
    )
    .await
}

async fn revoke(app: &TestApp, client_id: &str, token: &str) -> Answer {
    app.call(
        Function::OAuthRevoke,
        post(
            "/oauth2/revoke",
            &[("token", token), ("client_id", client_id)],
        ),
    )
    .await
}

async fn machine_token(app: &TestApp, resources: &[&str]) -> Answer {
    let mut pairs = vec![("grant_type", "client_credentials")];
    for resource in resources {
        pairs.push(("resource", resource));
    }
    app.call(
        Function::OAuthToken,
        post("/oauth2/token", &pairs).header("authorization", &basic("machine")),
    )
    .await
}

#[tokio::test]
async fn a_resource_becomes_the_audience_normalised_and_a_refresh_keeps_or_narrows_it() {
    let app = TestApp::new().await;
    let ada = app.sign_up("ada").await;
    // Another spelling of a configured resource is that resource.
    let code_for_both = code(
        &app,
        &ada,
        "openid offline_access",
        &["HTTPS://MCP.Example:443/", API],
    )
    .await;
    let both = exchange(&app, &code_for_both, &[]).await;
    assert_eq!(both.status, 200, "{}", both.body);
    assert_eq!(
        claims(text(&both, "access_token"))["aud"],
        json!([MCP, API])
    );
    // The token request narrows to one.
    let code_for_both = code(&app, &ada, "openid offline_access", &[MCP, API]).await;
    let one = exchange(&app, &code_for_both, &["https://api.example/v1"]).await;
    assert_eq!(one.status, 200, "{}", one.body);
    assert_eq!(claims(text(&one, "access_token"))["aud"], API);
    // The refresh keeps the grant's resources, or narrows them, never widens.
    let kept = refresh(&app, text(&one, "refresh_token"), &[]).await;
    assert_eq!(kept.status, 200, "{}", kept.body);
    assert_eq!(
        claims(text(&kept, "access_token"))["aud"],
        json!([MCP, API])
    );
    let narrowed = refresh(&app, text(&kept, "refresh_token"), &[MCP]).await;
    assert_eq!(narrowed.status, 200, "{}", narrowed.body);
    assert_eq!(claims(text(&narrowed, "access_token"))["aud"], MCP);

    let code_for_mcp = code(&app, &ada, "openid offline_access", &[MCP]).await;
    let mcp = exchange(&app, &code_for_mcp, &[]).await;
    let wider = refresh(&app, text(&mcp, "refresh_token"), &[API]).await;
    assert_oauth_error(&wider, 400, "invalid_target");
    // The refused refresh changed nothing: the token still rotates.
    let still = refresh(&app, text(&mcp, "refresh_token"), &[]).await;
    assert_eq!(still.status, 200, "{}", still.body);
    // A resource-bound token is not for this API: UserInfo refuses it.
    let userinfo = app
        .call(
            Function::OAuthUserInfo,
            Event::http_api("GET", "/oauth2/userinfo").bearer(text(&still, "access_token")),
        )
        .await;
    assert_eq!(userinfo.status, 401, "{}", userinfo.body);
    // Without resources, the API's audience as before.
    let plain_code = code(&app, &ada, "openid", &[]).await;
    let plain = exchange(&app, &plain_code, &[]).await;
    assert_eq!(
        claims(text(&plain, "access_token"))["aud"],
        "user-management-api"
    );
    app.drop().await;
}

#[tokio::test]
async fn an_unknown_or_ungranted_resource_is_invalid_target() {
    let app = TestApp::new().await;
    let ada = app.sign_up("ada").await;
    let registry = app.clients.registry().await;
    for unknown in [
        "https://evil.example",
        "https://mcp.example/other",
        "https://mcp.example/#x",
        "not a url",
    ] {
        match validate(&spa_authorization("openid", &[unknown]), &registry) {
            AuthorizeOutcome::Redirect(redirect) => {
                assert_eq!(
                    redirect.error,
                    AuthorizeErrorCode::InvalidTarget,
                    "{unknown}"
                );
                assert!(redirect
                    .location("http://127.0.0.1:9000")
                    .contains("error=invalid_target"));
            }
            other => panic!("{unknown}: {other:?}"),
        }
    }
    // At the token endpoint: a resource the authorization did not name.
    let code_for_mcp = code(&app, &ada, "openid", &[MCP]).await;
    let refused = exchange(&app, &code_for_mcp, &[API]).await;
    assert_oauth_error(&refused, 400, "invalid_target");
    // Not spent by the refusal.
    let granted = exchange(&app, &code_for_mcp, &[MCP]).await;
    assert_eq!(granted.status, 200, "{}", granted.body);
    // A code without resources gets none at the token endpoint either.
    let plain_code = code(&app, &ada, "openid", &[]).await;
    assert_oauth_error(
        &exchange(&app, &plain_code, &[MCP]).await,
        400,
        "invalid_target",
    );
    app.drop().await;
}

#[tokio::test]
async fn client_credentials_gives_a_machine_token_for_the_clients_resources_only() {
    let app = TestApp::new().await;
    let answer = machine_token(&app, &[]).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(
        answer.body.get("refresh_token").is_none(),
        "{}",
        answer.body
    );
    assert!(answer.body.get("id_token").is_none(), "{}", answer.body);
    let token = text(&answer, "access_token");
    let machine = claims(token);
    assert_eq!(machine["sub"], "machine");
    assert_eq!(machine["client_id"], "machine");
    assert_eq!(machine["scope"], "email");
    assert_eq!(machine["aud"], json!([MCP, API]));
    assert!(machine.get("sid").is_none(), "no user, no session");
    let narrowed = machine_token(&app, &["https://mcp.example/"]).await;
    assert_eq!(claims(text(&narrowed, "access_token"))["aud"], MCP);
    assert_oauth_error(
        &machine_token(&app, &["https://evil.example"]).await,
        400,
        "invalid_target",
    );
    let wider_scope = app
        .call(
            Function::OAuthToken,
            post(
                "/oauth2/token",
                &[("grant_type", "client_credentials"), ("scope", "openid")],
            )
            .header("authorization", &basic("machine")),
        )
        .await;
    assert_oauth_error(&wider_scope, 400, "invalid_scope");
    // Not for public clients, nor confidential ones without the grant.
    let public = app
        .call(
            Function::OAuthToken,
            post(
                "/oauth2/token",
                &[("grant_type", "client_credentials"), ("client_id", "spa")],
            ),
        )
        .await;
    assert_oauth_error(&public, 400, "unauthorized_client");
    let server = app
        .call(
            Function::OAuthToken,
            post("/oauth2/token", &[("grant_type", "client_credentials")])
                .header("authorization", &basic("server")),
        )
        .await;
    assert_oauth_error(&server, 400, "unauthorized_client");
    let wrong_secret = app
        .call(
            Function::OAuthToken,
            post(
                "/oauth2/token",
                &[
                    ("grant_type", "client_credentials"),
                    ("client_id", "machine"),
                    ("client_secret", "wrong"),
                ],
            ),
        )
        .await;
    assert_oauth_error(&wrong_secret, 401, "invalid_client");
    // No account route takes a machine token.
    let ada = app.sign_up("ada").await;
    let profile = app
        .call(
            Function::GetFullProfile,
            Event::http_api("GET", "/users/{user_id}/full_profile")
                .user_id(&ada.user_id)
                .bearer(token),
        )
        .await;
    assert_eq!(profile.status, 401, "{}", profile.body);
    app.drop().await;
}

#[tokio::test]
async fn revoking_a_refresh_token_ends_its_grant_and_every_access_token_of_it() {
    let app = TestApp::new().await;
    let ada = app.sign_up("ada").await;
    let tokens = mcp_tokens(&app, &ada).await;
    let (access, refresh_token) = (
        text(&tokens, "access_token"),
        text(&tokens, "refresh_token"),
    );
    assert_eq!(
        introspect(&app, "mcp-resource", access).await.body["active"],
        true
    );
    let revoked = revoke(&app, "spa", refresh_token).await;
    assert_eq!(revoked.status, 200, "{}", revoked.body);
    assert_eq!(revoked.header("cache-control"), "no-store");
    assert_oauth_error(
        &refresh(&app, refresh_token, &[]).await,
        400,
        "invalid_grant",
    );
    // The access token's signature still holds; its session does not.
    assert_eq!(
        introspect(&app, "mcp-resource", access).await.body,
        json!({"active": false})
    );
    // Again: nothing left, still 200.
    assert_eq!(revoke(&app, "spa", refresh_token).await.status, 200);
    // The login's own session is untouched.
    let profile = app
        .call(
            Function::GetFullProfile,
            Event::http_api("GET", "/users/{user_id}/full_profile")
                .user_id(&ada.user_id)
                .bearer(&ada.access_token),
        )
        .await;
    assert_eq!(profile.status, 200, "{}", profile.body);
    app.drop().await;
}

#[tokio::test]
async fn revoking_an_access_token_ends_its_session_and_others_tokens_are_left_alone() {
    let app = TestApp::new().await;
    let ada = app.sign_up("ada").await;
    let tokens = mcp_tokens(&app, &ada).await;
    let (access, refresh_token) = (
        text(&tokens, "access_token"),
        text(&tokens, "refresh_token"),
    );
    // Another client's (and a confidential one's) revocation changes nothing.
    let other = app
        .call(
            Function::OAuthRevoke,
            post("/oauth2/revoke", &[("token", access)]).header("authorization", &basic("server")),
        )
        .await;
    assert_eq!(other.status, 200, "{}", other.body);
    assert_eq!(
        introspect(&app, "mcp-resource", access).await.body["active"],
        true
    );
    // Unknown and malformed tokens: 200, nothing learned.
    for unknown in ["x", "a.b.c", &"A".repeat(70)] {
        assert_eq!(revoke(&app, "spa", unknown).await.status, 200, "{unknown}");
    }
    let revoked = app
        .call(
            Function::OAuthRevoke,
            post(
                "/oauth2/revoke",
                &[
                    ("token", access),
                    ("token_type_hint", "access_token"),
                    ("client_id", "spa"),
                ],
            ),
        )
        .await;
    assert_eq!(revoked.status, 200, "{}", revoked.body);
    assert_oauth_error(
        &refresh(&app, refresh_token, &[]).await,
        400,
        "invalid_grant",
    );
    // A machine token has no session to end.
    let machine = machine_token(&app, &[]).await;
    let unsupported = app
        .call(
            Function::OAuthRevoke,
            post(
                "/oauth2/revoke",
                &[("token", text(&machine, "access_token"))],
            )
            .header("authorization", &basic("machine")),
        )
        .await;
    assert_oauth_error(&unsupported, 400, "unsupported_token_type");
    // The spec's errors for bad requests, never a 500.
    assert_oauth_error(
        &app.call(
            Function::OAuthRevoke,
            post("/oauth2/revoke", &[("client_id", "spa")]),
        )
        .await,
        400,
        "invalid_request",
    );
    assert_oauth_error(
        &app.call(
            Function::OAuthRevoke,
            post("/oauth2/revoke", &[("token", "x"), ("client_id", "nobody")]),
        )
        .await,
        401,
        "invalid_client",
    );
    let wrong_method = app
        .call(
            Function::OAuthRevoke,
            Event::http_api("GET", "/oauth2/revoke"),
        )
        .await;
    assert_eq!(wrong_method.status, 405);
    app.drop().await;
}

#[tokio::test]
async fn introspection_is_for_confidential_clients_and_shows_only_their_tokens() {
    let app = TestApp::new().await;
    let ada = app.sign_up("ada").await;
    let tokens = mcp_tokens(&app, &ada).await;
    let access = text(&tokens, "access_token");
    // The resource server of the token's audience sees it, with its claims.
    let seen = introspect(&app, "mcp-resource", access).await;
    assert_eq!(seen.status, 200, "{}", seen.body);
    assert_eq!(seen.header("cache-control"), "no-store");
    assert_eq!(seen.body["active"], true);
    assert_eq!(seen.body["client_id"], "spa");
    assert_eq!(seen.body["sub"], ada.user_id.as_str());
    assert_eq!(seen.body["aud"], MCP);
    assert_eq!(seen.body["scope"], "openid offline_access");
    assert_eq!(seen.body["iss"], "http://127.0.0.1:9000");
    assert!(seen.body["exp"].as_u64().unwrap() > seen.body["iat"].as_u64().unwrap());
    // A confidential client that is neither its client nor its audience: inactive.
    assert_eq!(
        introspect(&app, "server", access).await.body,
        json!({"active": false})
    );
    // A public client may not introspect at all.
    let public = app
        .call(
            Function::OAuthIntrospect,
            post(
                "/oauth2/introspect",
                &[("token", access), ("client_id", "spa")],
            ),
        )
        .await;
    assert_oauth_error(&public, 401, "invalid_client");
    // A machine token, by its own client and by its audience's server.
    let machine = machine_token(&app, &[]).await;
    let machine_access = text(&machine, "access_token");
    let own = introspect(&app, "machine", machine_access).await;
    assert_eq!(own.body["active"], true, "{}", own.body);
    assert_eq!(own.body["sub"], "machine");
    let by_resource = introspect(&app, "mcp-resource", machine_access).await;
    assert_eq!(by_resource.body["active"], true, "{}", by_resource.body);
    // Forged or garbage: inactive.
    let mut forged = access.to_string();
    forged.push('x');
    for token in [forged.as_str(), "garbage", "a.b.c"] {
        assert_eq!(
            introspect(&app, "mcp-resource", token).await.body,
            json!({"active": false}),
            "{token}"
        );
    }
    // Logout everywhere ends the session: the token is inactive at once.
    let ended = app
        .call(
            Function::LogoutAll,
            Event::http_api("POST", "/auth/logout_all").bearer(&ada.access_token),
        )
        .await;
    assert_eq!(ended.status, 200, "{}", ended.body);
    assert_eq!(
        introspect(&app, "mcp-resource", access).await.body,
        json!({"active": false})
    );
    app.drop().await;
}

#[tokio::test]
async fn a_refresh_token_is_introspected_by_its_own_confidential_client_only() {
    let app = TestApp::new().await;
    let ada = app.sign_up("ada").await;
    // The confidential `server` client's own grant.
    let registry = app.clients.registry().await;
    let parameters: Vec<(String, String)> = [
        ("response_type", "code"),
        ("client_id", "server"),
        ("redirect_uri", "https://app.example/callback"),
        ("scope", "openid offline_access"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let AuthorizeOutcome::Valid(request) = validate(&parameters, &registry) else {
        panic!("valid");
    };
    let signed_in = SignedIn {
        user_id: UserId::parse(&ada.user_id).unwrap(),
        auth: Authentication::password(Timestamp::now()),
    };
    let code = issue_code(&app.store, signed_in, &request, Timestamp::now())
        .await
        .unwrap();
    let tokens = app
        .call(
            Function::OAuthToken,
            post(
                "/oauth2/token",
                &[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("redirect_uri", "https://app.example/callback"),
                ],
            )
            .header("authorization", &basic("server")),
        )
        .await;
    assert_eq!(tokens.status, 200, "{}", tokens.body);
    let refresh_token = text(&tokens, "refresh_token");
    let own = introspect(&app, "server", refresh_token).await;
    assert_eq!(own.body["active"], true, "{}", own.body);
    assert_eq!(own.body["token_type"], "refresh_token");
    assert_eq!(own.body["client_id"], "server");
    assert_eq!(own.body["sub"], ada.user_id.as_str());
    assert_eq!(
        introspect(&app, "machine", refresh_token).await.body,
        json!({"active": false})
    );
    // Rotated: the old one is no longer active.
    let rotated = app
        .call(
            Function::OAuthToken,
            post(
                "/oauth2/token",
                &[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", refresh_token),
                ],
            )
            .header("authorization", &basic("server")),
        )
        .await;
    assert_eq!(rotated.status, 200, "{}", rotated.body);
    assert_eq!(
        introspect(&app, "server", refresh_token).await.body,
        json!({"active": false})
    );
    assert_eq!(
        introspect(&app, "server", text(&rotated, "refresh_token"))
            .await
            .body["active"],
        true
    );
    app.drop().await;
}

#[tokio::test]
async fn token_and_introspection_requests_are_limited_per_source_and_per_client() {
    use users_core::domain::oauth::OAuthLimits;
    let app = TestApp::with_config(&api_tests::mongodb_uri(), |config| {
        config.oauth_limits = OAuthLimits {
            per_source_per_minute: 1000,
            per_client_per_minute: 2,
        };
    })
    .await;
    for _ in 0..2 {
        assert_eq!(machine_token(&app, &[]).await.status, 200);
    }
    let limited = machine_token(&app, &[]).await;
    assert_eq!(limited.status, 429, "{}", limited.body);
    assert_eq!(limited.body["error"], "temporarily_unavailable");
    assert!(limited.header("retry-after").parse::<u64>().unwrap() > 0);
    // Introspection counts against the same client's budget; another
    // client has its own.
    assert_eq!(introspect(&app, "machine", "x").await.status, 429);
    assert_eq!(introspect(&app, "mcp-resource", "x").await.status, 200);
    app.drop().await;

    let app = TestApp::with_config(&api_tests::mongodb_uri(), |config| {
        config.oauth_limits = OAuthLimits {
            per_source_per_minute: 3,
            per_client_per_minute: 1000,
        };
    })
    .await;
    // Unauthenticated requests count too: a guesser is stopped by address.
    for _ in 0..3 {
        let refused = app
            .call(
                Function::OAuthToken,
                post("/oauth2/token", &[("grant_type", "client_credentials")]),
            )
            .await;
        assert_eq!(refused.status, 401, "{}", refused.body);
    }
    assert_eq!(machine_token(&app, &[]).await.status, 429);
    let elsewhere = app
        .call(
            Function::OAuthToken,
            post("/oauth2/token", &[("grant_type", "client_credentials")])
                .header("authorization", &basic("machine"))
                .source_ip("192.0.2.9"),
        )
        .await;
    assert_eq!(elsewhere.status, 200, "{}", elsewhere.body);
    app.drop().await;
}
