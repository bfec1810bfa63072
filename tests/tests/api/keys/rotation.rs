//! The signing-key rotation against moto's Secrets Manager: the four steps
//! of the rotation protocol, as Secrets Manager invokes them, on a secret
//! created empty as the template creates it. Tokens signed before a rotation
//! still verify after it; after two rotations the oldest key's no longer do.

use api_tests::Moto;
use secrecy::ExposeSecret;
use serde_json::Value;
use users_core::aws::secrets::SecretsClient;
use users_core::domain::keys::{KeySet, KeyState, PublicKeySet};
use users_core::domain::tokens::{Caller, TokenError, TokenSettings, TokenSigner, TokenVerifier};
use users_core::domain::values::{SessionId, Timestamp, UserId};
use users_core::env::Vars;
use users_core::rotation::{Rotation, RotationEvent};

const SETUP: &str = r#"
import json, os, boto3
sm = boto3.client("secretsmanager", endpoint_url=os.environ["ENDPOINT"], region_name="eu-west-1")
signing = sm.create_secret(Name="user-api/signing-keys", SecretString="{}")["ARN"]
public = sm.create_secret(Name="user-api/public-keys", SecretString='{"keys":[]}')["ARN"]
print(json.dumps({"signing": signing, "public": public}))
"#;

fn settings() -> TokenSettings {
    TokenSettings {
        issuer: "https://auth.example.com".into(),
        audience: "user-management-api".into(),
        access_token_ttl: std::time::Duration::from_secs(1800),
    }
}

struct Secrets {
    _moto: Moto,
    client: SecretsClient,
    signing: String,
    public: String,
}

fn secrets() -> Secrets {
    let moto = Moto::start();
    let arns: Value = serde_json::from_str(&moto.python(SETUP, &[])).unwrap();
    let env = [
        ("AWS_REGION", "eu-west-1"),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_ENDPOINT_URL_SECRETS_MANAGER", moto.endpoint.as_str()),
    ];
    let client = SecretsClient::from_environment(&Vars(&env)).unwrap();
    Secrets {
        client,
        signing: arns["signing"].as_str().unwrap().into(),
        public: arns["public"].as_str().unwrap().into(),
        _moto: moto,
    }
}

impl Secrets {
    /// One rotation, step by step, as Secrets Manager runs it. The minimum
    /// age of the next key is waived: these rotations are seconds apart.
    async fn rotate(&self) {
        let rotation = self.rotation(std::time::Duration::ZERO);
        // A UUID, as Secrets Manager sends: 32 to 64 characters.
        let token = format!("{}-{}", UserId::new().to_hex(), UserId::new().to_hex());
        for step in ["createSecret", "setSecret", "testSecret", "finishSecret"] {
            let event: RotationEvent = serde_json::from_value(serde_json::json!({
                "Step": step, "SecretId": self.signing, "ClientRequestToken": token,
            }))
            .unwrap();
            rotation
                .run(&event)
                .await
                .unwrap_or_else(|error| panic!("{step}: {error}"));
            // Every step may be repeated without harm.
            rotation
                .run(&event)
                .await
                .unwrap_or_else(|error| panic!("{step} again: {error}"));
        }
    }

    fn rotation(&self, min_next_age: std::time::Duration) -> Rotation {
        Rotation {
            client: self.client.clone(),
            public_keys_arn: self.public.clone(),
            settings: settings(),
            min_next_age,
        }
    }

    async fn signing_set(&self) -> KeySet {
        KeySet::parse(&self.client.get_secret_value(&self.signing).await.unwrap()).unwrap()
    }

    async fn verifier(&self) -> TokenVerifier {
        let published =
            PublicKeySet::parse(&self.client.get_secret_value(&self.public).await.unwrap())
                .unwrap();
        TokenVerifier::new(&settings(), &published)
    }
}

fn token(set: &KeySet) -> String {
    let caller = Caller {
        user_id: UserId::new(),
        session_id: SessionId::new(),
        auth: Default::default(),
    };
    TokenSigner::new(&settings(), set.current())
        .issue(&caller, Timestamp::now().as_secs(), "j".into())
        .token
}

fn states(set: &KeySet) -> Vec<KeyState> {
    set.keys.iter().map(|key| key.state).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotations_keep_every_token_verifiable_until_its_key_has_been_retired_a_period() {
    let secrets = secrets();

    // The first rotation makes the first keys: one signing, one published ahead.
    secrets.rotate().await;
    let first = secrets.signing_set().await;
    assert_eq!(states(&first), [KeyState::Current, KeyState::Next]);
    let before = token(&first);
    assert!(secrets.verifier().await.verify(&before).is_ok());

    // The next key was published a rotation ahead, so it verifies at once.
    secrets.rotate().await;
    let second = secrets.signing_set().await;
    assert_eq!(
        states(&second),
        [KeyState::Retired, KeyState::Current, KeyState::Next]
    );
    assert_eq!(second.current().kid, first.keys[1].kid);
    assert_eq!(
        second.refresh_token_key.expose_secret(),
        first.refresh_token_key.expose_secret(),
        "the refresh-token key never rotates"
    );
    let after = token(&second);
    let verifier = secrets.verifier().await;
    assert!(
        verifier.verify(&before).is_ok(),
        "a retired key still verifies"
    );
    assert!(verifier.verify(&after).is_ok());

    // Two rotations on, the first key is gone: its tokens are refused.
    secrets.rotate().await;
    let verifier = secrets.verifier().await;
    assert_eq!(verifier.verify(&before), Err(TokenError::UnknownKey));
    assert!(verifier.verify(&after).is_ok());
    let jwks = PublicKeySet::parse(
        &secrets
            .client
            .get_secret_value(&secrets.public)
            .await
            .unwrap(),
    )
    .unwrap()
    .jwks();
    for key in jwks["keys"].as_array().unwrap() {
        for private in ["d", "p", "q", "dp", "dq", "qi"] {
            assert!(key.get(private).is_none(), "{private} published: {key}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotation_too_soon_after_the_last_is_refused_and_changes_nothing() {
    let secrets = secrets();
    secrets.rotate().await;
    let before = secrets.signing_set().await.to_json();
    let rotation = secrets.rotation(users_core::domain::keys::min_publication(
        settings().access_token_ttl,
    ));
    let event: RotationEvent = serde_json::from_value(serde_json::json!({
        "Step": "createSecret", "SecretId": secrets.signing, "ClientRequestToken": "b".repeat(36),
    }))
    .unwrap();
    let refused = rotation.run(&event).await.unwrap_err().to_string();
    assert!(refused.contains("less than 9000 s ago"), "{refused}");
    assert_eq!(secrets.signing_set().await.to_json(), before);
}
