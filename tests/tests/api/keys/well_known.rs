//! The JWKS and discovery function, called directly with API Gateway events.

use api_tests::{test_keys, Event, Function, TestApp};
use serde_json::Value;
use users_core::domain::keys::thumbprint;

fn get(path: &str) -> Event {
    Event::http_api("GET", path)
}

#[tokio::test]
async fn the_jwks_publishes_every_key_with_public_parameters_only() {
    let app = TestApp::new().await;
    let answer = app
        .call(Function::Jwks, get("/.well-known/jwks.json"))
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.header("content-type"), "application/json");
    assert_eq!(answer.header("cache-control"), "public, max-age=300");
    let keys = answer.body["keys"].as_array().unwrap();
    let published: Vec<&str> = keys
        .iter()
        .map(|key| key["kid"].as_str().unwrap())
        .collect();
    let expected: Vec<String> = test_keys().keys.iter().map(|key| key.kid.clone()).collect();
    assert_eq!(published, expected, "current and next, in the set's order");
    for key in keys {
        for private in ["d", "p", "q", "dp", "dq", "qi"] {
            assert!(key.get(private).is_none(), "{private} published: {key}");
        }
        assert_eq!(key["kty"], "RSA");
        assert_eq!(key["alg"], "RS256");
        assert_eq!(key["use"], "sig");
        let decode = |field: &str| {
            use base64::Engine;
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(key[field].as_str().unwrap())
                .unwrap()
        };
        assert_eq!(key["kid"], thumbprint(&decode("n"), &decode("e")).as_str());
        assert!(decode("n").len() >= 256, "RSA 2048 or more");
    }
    app.drop().await;
}

#[tokio::test]
async fn discovery_names_the_issuer_and_where_its_keys_are() {
    let app = TestApp::new().await;
    let answer = app
        .call(Function::Jwks, get("/.well-known/openid-configuration"))
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.header("cache-control"), "public, max-age=300");
    assert_eq!(answer.body["issuer"], "http://127.0.0.1:9000");
    assert_eq!(
        answer.body["jwks_uri"],
        "http://127.0.0.1:9000/.well-known/jwks.json"
    );
    assert_eq!(
        answer.body["id_token_signing_alg_values_supported"],
        serde_json::json!(["RS256"])
    );
    // No endpoint that is not served is claimed (the OpenID Provider's are
    // checked by oidc::handlers): dynamic registration is off by default
    // (agents::pages checks it when open).
    assert_eq!(
        answer.body.get("registration_endpoint"),
        None::<&Value>,
        "registration_endpoint"
    );
    app.drop().await;
}

#[tokio::test]
async fn other_methods_and_paths_are_refused_as_problems() {
    let app = TestApp::new().await;
    let wrong_method = app
        .call(
            Function::Jwks,
            Event::http_api("POST", "/.well-known/jwks.json"),
        )
        .await
        .problem(405);
    assert_eq!(wrong_method.header("allow"), "GET");
    app.call(Function::Jwks, get("/.well-known/other"))
        .await
        .problem(404);
    app.drop().await;
}
