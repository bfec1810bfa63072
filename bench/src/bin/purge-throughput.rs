//! Issue #24's figure: the throughput of the scheduled purge
//! (`purge-deletions`), users deleted per second, each with the immediate
//! delete's cascade (its linked records, its tombstone, `UserDeleted`).
//!
//! `MONGODB_URI=mongodb://127.0.0.1:27017/?directConnection=true \
//!  cargo run --release -p lambda-bench --bin purge-throughput -- [USERS] [LINKED_PER_USER]`
//!
//! Makes USERS (default 1000) users in a database of its own, each with an
//! external id, its record and LINKED_PER_USER (default 3) records naming
//! the user, marks them due, then times `purge::run` until nothing is left;
//! drops the database after.

use std::time::Instant;

use mongodb::bson::{doc, oid::ObjectId, DateTime};
use users_core::config::DatabaseSettings;
use users_core::domain::linking::LinkVerification;
use users_core::domain::ports::{NewUser, Users};
use users_core::domain::values::{Email, Timestamp, UserId, Username};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let users: usize = args.next().map_or(Ok(1000), |raw| raw.parse())?;
    let linked_per_user: usize = args.next().map_or(Ok(3), |raw| raw.parse())?;
    let uri = std::env::var("MONGODB_URI").map_err(|_| "MONGODB_URI must be set")?;
    let database = format!("purge_bench_{}", ObjectId::new().to_hex());
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

    let setup = Instant::now();
    let mut linked = Vec::new();
    for n in 0..users {
        let id = UserId::new();
        let name = format!("purge{n}");
        store
            .insert_user(NewUser {
                id,
                username: Username::parse(&name).map_err(|_| "a valid name")?,
                email: Email::parse(&format!("{name}@example.com"))
                    .map_err(|_| "a valid e-mail")?,
                // Never checked here: no argon2 in the set-up.
                hashed_password: "$argon2id$v=19$m=19456,t=2,p=1$unused$unused".into(),
                created_at: Timestamp::now(),
            })
            .await
            .map_err(|error| format!("{error:?}"))?;
        let user = ObjectId::from_bytes(id.bytes());
        let external_id = format!("crm-{n}");
        db.collection::<mongodb::bson::Document>("users")
            .update_one(
                doc! { "_id": user },
                doc! { "$set": {
                    "external_id": &external_id,
                    "external_id_proven": true,
                    "deletion_scheduled_for": DateTime::now(),
                } },
            )
            .await?;
        linked.push(doc! { "_id": external_id, "plan": "gold", "version": 1_i64 });
        for k in 0..linked_per_user {
            linked.push(doc! { "_id": format!("note-{n}-{k}"), "user_id": user });
        }
    }
    db.collection::<mongodb::bson::Document>("linked_collection")
        .insert_many(linked)
        .await?;
    eprintln!(
        "set up {users} due users with {} linked records each in {:.1} s",
        linked_per_user + 1,
        setup.elapsed().as_secs_f64()
    );

    let now = Timestamp::now().plus(std::time::Duration::from_secs(1));
    let started = Instant::now();
    let (mut deleted, mut runs) = (0, 0);
    loop {
        let summary = users_core::purge::run(&store, LinkVerification::Off, now)
            .await
            .map_err(|error| error.to_string())?;
        deleted += summary.deleted;
        runs += 1;
        if !summary.more {
            break;
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let left = db
        .collection::<mongodb::bson::Document>("users")
        .count_documents(doc! {})
        .await?;
    let events = db
        .collection::<mongodb::bson::Document>("outbox")
        .count_documents(doc! { "type": "UserDeleted" })
        .await?;
    println!(
        "purged {deleted} users in {elapsed:.2} s over {runs} run(s): {:.0} users/s \
         ({left} users left, {events} UserDeleted events)",
        deleted as f64 / elapsed
    );
    db.drop().await?;
    Ok(())
}
