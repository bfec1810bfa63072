//! Secrets at cold start: what a verifying function reads (`runtime::load_verifying`:
//! the MongoDB URI and the public key set) against moto's Secrets Manager, with
//! moto checking every request's SigV4 signature and the role's policy, as AWS
//! does. The function signs with temporary credentials from `AssumeRole`, like
//! a Lambda execution role's. No database is needed.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use api_tests::{test_keys, Moto};
use secrecy::ExposeSecret;
use serde_json::Value;
use users_core::aws::signed::TIMEOUT;
use users_core::config::DatabaseSettings;
use users_core::env::{ConfigError, Environment};
use users_core::keystore::PublishedKeys;
use users_core::runtime::{load_verifying, InitError};

/// What a function that verifies tokens reads at cold start.
async fn load(env: &Vars) -> Result<(DatabaseSettings, PublishedKeys), ConfigError> {
    match load_verifying(env).await {
        Ok(verifying) => Ok((verifying.database, verifying.keys)),
        Err(InitError::Config(error)) => Err(error),
        Err(other) => panic!("not a configuration error: {other}"),
    }
}

const REGION: &str = "eu-west-1";
const MONGODB_URI: &str = "mongodb://app:moto-db-password@db.example.com:27017/?tls=true";

/// Two secrets, padded as a console paste would be, a role allowed to read
/// them, and that role's credentials. Everything after this setup is
/// authenticated.
const SETUP: &str = r#"
import json, os, urllib.request, boto3
kw = dict(endpoint_url=os.environ["ENDPOINT"], region_name=os.environ["REGION"])
sm, iam, sts = (boto3.client(service, **kw) for service in ("secretsmanager", "iam", "sts"))
keys = sm.create_secret(Name="user-api/public-keys", SecretString=" %s\n" % os.environ["KEYS"])["ARN"]
uri = sm.create_secret(Name="user-api/mongodb-uri", SecretString=os.environ["URI"] + "\n")["ARN"]
trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
         "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
role = iam.create_role(RoleName="user-api", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
read = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Action": "secretsmanager:GetSecretValue", "Resource": "*"}]}
iam.put_role_policy(RoleName="user-api", PolicyName="read-secrets", PolicyDocument=json.dumps(read))
creds = sts.assume_role(RoleArn=role, RoleSessionName="cold-start")["Credentials"]
urllib.request.urlopen(urllib.request.Request(
    os.environ["ENDPOINT"] + "/moto-api/reset-auth", data=b"0", headers={"Content-Type": "text/plain"}))
print(json.dumps({"keys": keys, "uri": uri, "key": creds["AccessKeyId"],
                  "secret": creds["SecretAccessKey"], "token": creds["SessionToken"]}))
"#;

struct Aws {
    _moto: Moto,
    /// What a function of the stack would find in its environment.
    env: Vars,
}

fn start_aws() -> Aws {
    let moto = Moto::start();
    let public_keys = test_keys().public().to_json();
    let out = moto.python(
        SETUP,
        &[
            ("REGION", REGION),
            ("KEYS", &public_keys),
            ("URI", MONGODB_URI),
        ],
    );
    let setup: Value = serde_json::from_str(&out).unwrap();
    let field = |name: &str| setup[name].as_str().unwrap().to_string();
    let env = Vars(vec![
        ("AWS_REGION", REGION.into()),
        ("AWS_ACCESS_KEY_ID", field("key")),
        ("AWS_SECRET_ACCESS_KEY", field("secret")),
        ("AWS_SESSION_TOKEN", field("token")),
        ("AWS_ENDPOINT_URL_SECRETS_MANAGER", moto.endpoint.clone()),
        ("PUBLIC_KEYS_SECRET_ARN", field("keys")),
        ("MONGODB_URI_SECRET_ARN", field("uri")),
        ("PUBLIC_BASE_URL", "https://auth.example.com".into()),
    ]);
    Aws { _moto: moto, env }
}

/// Variables; a later entry for the same name wins.
#[derive(Clone)]
struct Vars(Vec<(&'static str, String)>);

impl Vars {
    fn with(&self, name: &'static str, value: &str) -> Self {
        let mut vars = self.clone();
        vars.0.push((name, value.into()));
        vars
    }

    fn get(&self, name: &str) -> String {
        self.var(name).unwrap()
    }
}

impl Environment for Vars {
    fn var(&self, name: &str) -> Option<String> {
        self.0
            .iter()
            .rev()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value.clone())
    }
}

/// The error's text, checked to quote neither a secret nor a credential.
fn reason(error: ConfigError, env: &Vars) -> (&'static str, String) {
    let text = error.to_string();
    for leak in [
        MONGODB_URI,
        "moto-db-password",
        &env.get("AWS_SECRET_ACCESS_KEY"),
        &env.get("AWS_SESSION_TOKEN"),
    ] {
        assert!(!text.contains(leak), "{text}");
    }
    match error {
        ConfigError::Secret { variable, .. } | ConfigError::KeySet { variable, .. } => {
            (variable, text)
        }
        other => panic!("not a Secrets Manager error: {other}"),
    }
}

#[tokio::test]
async fn both_secrets_come_back_whole() {
    let aws = start_aws();
    let (database, keys) = load(&aws.env).await.unwrap();
    assert_eq!(*keys.keys().await, test_keys().public());
    assert_eq!(database.uri.expose_secret(), MONGODB_URI);
}

#[tokio::test]
async fn the_global_endpoint_override_is_honoured() {
    let aws = start_aws();
    let endpoint = aws.env.get("AWS_ENDPOINT_URL_SECRETS_MANAGER");
    let env = Vars(
        aws.env
            .0
            .iter()
            .filter(|(name, _)| *name != "AWS_ENDPOINT_URL_SECRETS_MANAGER")
            .cloned()
            .collect(),
    )
    .with("AWS_ENDPOINT_URL", &endpoint);
    let (database, _) = load(&env).await.unwrap();
    assert_eq!(database.uri.expose_secret(), MONGODB_URI);
}

#[tokio::test]
async fn an_unknown_arn_names_the_variable_and_the_aws_error() {
    let aws = start_aws();
    let missing = aws
        .env
        .get("MONGODB_URI_SECRET_ARN")
        .replace("mongodb-uri", "gone");
    let env = aws.env.with("MONGODB_URI_SECRET_ARN", &missing);
    let error = load(&env).await.unwrap_err();
    let (variable, text) = reason(error, &env);
    assert_eq!(variable, "MONGODB_URI");
    assert!(text.contains("ResourceNotFoundException"), "{text}");
}

#[tokio::test]
async fn a_wrong_signature_is_refused_without_quoting_credentials() {
    let aws = start_aws();
    let env = aws
        .env
        .with("AWS_SECRET_ACCESS_KEY", "not-the-role-secret-access-key");
    let error = load(&env).await.unwrap_err();
    let (_, text) = reason(error, &env);
    // Moto answers this one in XML, which the JSON protocol does not read;
    // AWS answers in JSON and the type is named (see the unknown ARN).
    assert!(text.contains("HTTP 403"), "{text}");
}

#[tokio::test]
async fn a_silent_endpoint_fails_both_reads_within_the_timeout() {
    // Connections complete in the kernel's backlog; nothing ever answers.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let env = endpoint_only(&format!("http://{}", silent.local_addr().unwrap()));
    let started = Instant::now();
    let error = load(&env).await.unwrap_err();
    let elapsed = started.elapsed();
    // Both reads run at once, so the wait is one timeout, not two.
    assert!(
        elapsed >= TIMEOUT && elapsed < TIMEOUT + Duration::from_secs(2),
        "{elapsed:?}"
    );
    let (variable, text) = reason(error, &env);
    assert_eq!(variable, "PUBLIC_KEYS_SECRET_ARN");
    assert!(text.contains("no answer from http://127.0.0.1:"), "{text}");
    assert!(text.contains("within 5 s"), "{text}");
}

#[tokio::test]
async fn a_closed_port_fails_at_once() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let env = endpoint_only(&format!("http://127.0.0.1:{port}"));
    let started = Instant::now();
    let error = load(&env).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(1));
    let (_, text) = reason(error, &env);
    assert!(
        text.contains(&format!("cannot connect to 127.0.0.1:{port}")),
        "{text}"
    );
}

/// Lambda's variables with both secrets behind `endpoint`.
fn endpoint_only(endpoint: &str) -> Vars {
    Vars(vec![
        ("AWS_REGION", REGION.into()),
        ("AWS_ACCESS_KEY_ID", "ASIATESTTESTTESTTEST".into()),
        ("AWS_SECRET_ACCESS_KEY", "test-secret-access-key".into()),
        ("AWS_SESSION_TOKEN", "test-session-token".into()),
        ("AWS_ENDPOINT_URL", endpoint.into()),
        (
            "PUBLIC_KEYS_SECRET_ARN",
            format!("arn:aws:secretsmanager:{REGION}:123456789012:secret:keys-AbCdEf"),
        ),
        ("PUBLIC_BASE_URL", "https://auth.example.com".into()),
        (
            "MONGODB_URI_SECRET_ARN",
            format!("arn:aws:secretsmanager:{REGION}:123456789012:secret:uri-GhIjKl"),
        ),
    ])
}
