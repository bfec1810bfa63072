//! Issue #24's figure: the size and time of an account export
//! (`domain::export::export_account`, the very use case of
//! `GET /users/{user_id}/export`) for a user with LINKED linked records,
//! SESSIONS open sessions and PASSKEYS passkeys.
//!
//! `MONGODB_URI=mongodb://127.0.0.1:27017/?directConnection=true \
//!  cargo run --release -p lambda-bench --bin export-size -- [LINKED] [SESSIONS] [PASSKEYS]`
//!
//! Defaults: 1000 linked records (each a small CRM-like document), 100
//! sessions and 5 passkeys; a database of its own, dropped after. Each
//! sign-in and passkey writes its security activity entry, as the functions
//! do, so the export carries those too (1 + SESSIONS + PASSKEYS entries,
//! and one more per export). Three exports (the hourly budget); prints each
//! one's time and the document's size.

use std::time::{Duration, Instant};

use mongodb::bson::{doc, oid::ObjectId};
use users_core::config::{DatabaseSettings, SessionLifetimes};
use users_core::domain::devices::ClientInfo;
use users_core::domain::export::{export_account, ExportSettings};
use users_core::domain::passkeys::{PasskeyRecord, PasskeyStore};
use users_core::domain::ports::{LinkTrust, NewUser, Sessions, Users};
use users_core::domain::tokens::{Caller, TokenSettings};
use users_core::domain::values::{Email, PasskeyId, Timestamp, UserId, Username};
use users_core::keystore::{KeySource, SigningKeys};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let linked: usize = args.next().map_or(Ok(1000), |raw| raw.parse())?;
    let sessions: usize = args.next().map_or(Ok(100), |raw| raw.parse())?;
    let passkeys: usize = args.next().map_or(Ok(5), |raw| raw.parse())?;
    let uri = std::env::var("MONGODB_URI").map_err(|_| "MONGODB_URI must be set")?;
    let database = format!("export_bench_{}", ObjectId::new().to_hex());
    let store = users_core::runtime::connect(&DatabaseSettings {
        uri: uri.clone().into(),
        database: database.clone(),
        linked_collection: "linked_collection".into(),
        max_pool_size: 4,
    })
    .await
    .map_err(|error| error.to_string())?;
    store
        .prepare()
        .await
        .map_err(|error| format!("{error:?}"))?;
    let client = mongodb::Client::with_uri_str(&uri).await?;
    let db = client.database(&database);

    let keys = users_core::keygen::next_key_set(None, 0, Duration::ZERO)?;
    let signing = SigningKeys::load(
        KeySource::Inline(keys.to_json()),
        TokenSettings {
            issuer: "http://127.0.0.1:9000".into(),
            audience: "user-management-api".into(),
            access_token_ttl: Duration::from_secs(1800),
        },
        SessionLifetimes {
            sliding: Duration::from_secs(30 * 86_400),
            max: Duration::from_secs(90 * 86_400),
            grace: Duration::from_secs(10),
        },
    )
    .await?;
    let issuer = signing.issuer().await;

    let user_id = UserId::new();
    store
        .insert_user(NewUser {
            id: user_id,
            username: Username::parse("exporter").map_err(|_| "a valid name")?,
            email: Email::parse("exporter@example.com").map_err(|_| "a valid e-mail")?,
            hashed_password: "$argon2id$v=19$m=19456,t=2,p=1$unused$unused".into(),
            created_at: Timestamp::now(),
        })
        .await
        .map_err(|error| format!("{error:?}"))?;
    let user = ObjectId::from_bytes(user_id.bytes());
    let records: Vec<_> = (0..linked)
        .map(|n| {
            doc! {
                "_id": format!("order-{n}"), "user_id": user,
                "kind": "order", "total": (n as f64) * 1.25, "currency": "EUR",
                "placed_at": mongodb::bson::DateTime::now(), "items": [format!("sku-{n}")],
            }
        })
        .collect();
    db.collection::<mongodb::bson::Document>("linked_collection")
        .insert_many(records)
        .await?;
    let mut caller = None;
    for n in 0..sessions {
        let device = ClientInfo::new(
            Some(b"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36"),
            &format!("203.0.113.{}", n % 250),
        );
        let (session, _) = issuer.open_session_from(user_id, device, Timestamp::now());
        store
            .insert_session(&session)
            .await
            .map_err(|error| format!("{error:?}"))?;
        caller.get_or_insert(Caller {
            user_id,
            session_id: session.id,
            auth: session.auth,
        });
    }
    let caller = caller.ok_or("at least one session")?;
    for n in 0..passkeys {
        // A credential as webauthn-rs stores it is about 600 bytes of JSON:
        // the export leaves it (and its id) out; the name and dates go in.
        let passkey = PasskeyRecord {
            id: PasskeyId::new(),
            user_id,
            credential_id: format!("credential-{n}-{}", ObjectId::new().to_hex()),
            name: format!("Security key {n}"),
            credential: "x".repeat(600),
            counter: 0,
            backup_eligible: n % 2 == 0,
            backup_state: n % 2 == 0,
            created_at: Timestamp::now(),
            last_used_at: Some(Timestamp::now()),
        };
        store
            .insert_passkey(&passkey)
            .await
            .map_err(|error| format!("{error:?}"))?;
    }

    let settings = ExportSettings::default();
    for run in 1..=settings.per_hour {
        let started = Instant::now();
        let text = export_account(&store, &caller, &settings, Timestamp::now(), LinkTrust::Any)
            .await
            .map_err(|error| format!("{error:?}"))?;
        println!(
            "export {run}: {linked} linked records, {sessions} sessions, {passkeys} passkeys: \
             {} bytes in {:.1} ms",
            text.len(),
            started.elapsed().as_secs_f64() * 1000.0
        );
    }
    db.drop().await?;
    Ok(())
}
