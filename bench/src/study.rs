//! Does an operation's cost depend on how much data other users have? Each
//! operation's floor, in a database of its own, first with only its own
//! users' data, then with `documents` more linked documents of other users,
//! then with as many more sessions of other users too.

use std::time::{Duration, Instant};

use mongodb::bson::{doc, oid::ObjectId, Document};
use tokio::task::JoinSet;
use users_core::domain::ports::Sessions;
use users_core::domain::values::Timestamp;

use crate::dataset::Dataset;
use crate::operations::{Floor, Kind, Needs, Operation};
use crate::Error;

const BATCH: usize = 500;
const PARALLEL_INSERTS: usize = 8;
/// Whose sessions the third step adds.
const OTHER_USERS: usize = 20;

pub struct Step {
    pub label: String,
    pub linked_documents: u64,
    pub sessions: u64,
    pub floors: Vec<Duration>,
    /// Commands of the last floor.
    pub commands: usize,
}

pub struct Study {
    pub operation: Operation,
    pub steps: Vec<Step>,
}

/// `operations` are studied in a database each; `database` names them (suffixed).
pub async fn run(
    uri: &str,
    env: &[(String, String)],
    operations: &[Operation],
    database: &str,
    documents: usize,
    samples: usize,
    progress: &mut dyn FnMut(&str),
) -> Result<Vec<Study>, Error> {
    let mut studies = Vec::new();
    for &operation in operations {
        let name = format!("{database}_{}", studies.len());
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(key, value)| match key.as_str() {
                "MONGODB_DB" => (key.clone(), name.clone()),
                _ => (key.clone(), value.clone()),
            })
            .collect();
        progress(&format!(
            "size study: {operation:?} floors with {documents} more linked documents, then sessions, of other users"
        ));
        let mut data = Dataset::create(uri, &env).await?;
        let outcome = steps(&mut data, operation, documents, samples).await;
        data.drop().await;
        studies.push(Study {
            operation,
            steps: outcome?,
        });
    }
    Ok(studies)
}

async fn steps(
    data: &mut Dataset,
    operation: Operation,
    documents: usize,
    samples: usize,
) -> Result<Vec<Step>, Error> {
    let mut steps = Vec::new();
    for step in 0..3 {
        let label = match step {
            0 => "its own users' data only".to_string(),
            1 => {
                add_linked(data, documents).await?;
                format!("+ {documents} linked documents of other users")
            }
            _ => {
                add_sessions(data, documents).await?;
                format!("+ {documents} sessions of other users")
            }
        };
        // One more than measured: the first warms the store's connections.
        let subjects = match operation.needs() {
            Needs::Each(kind) => data.subjects(kind, samples + 1, false).await?,
            Needs::Shared(kind) => data.subjects(kind, samples + 1, true).await?,
            Needs::Nothing => return Err(format!("{operation:?} reads no database").into()),
        };
        let (linked_documents, sessions) = counts(data).await?;
        let mut floors = Vec::new();
        let mut commands = 0;
        for (i, subject) in subjects.iter().enumerate() {
            // Staged first: a passkey finish's floor is built from what it staged.
            data.stage(operation, Some(subject)).await?;
            let floor = Floor::new(operation, Some(subject), step * (samples + 1) + i)?
                .ok_or("no floor")?;
            data.log.take();
            let started = Instant::now();
            floor.run(&data.floor, &data.context).await?;
            let took = started.elapsed();
            commands = data.log.take().commands.len();
            if i > 0 {
                floors.push(took);
            }
        }
        steps.push(Step {
            label,
            linked_documents,
            sessions,
            floors,
            commands,
        });
    }
    Ok(steps)
}

async fn counts(data: &Dataset) -> Result<(u64, u64), Error> {
    let db = data.db();
    let linked = db
        .collection::<Document>(&data.settings.linked_collection)
        .count_documents(doc! {})
        .await?;
    let sessions = db
        .collection::<Document>("sessions")
        .count_documents(doc! {})
        .await?;
    Ok((linked, sessions))
}

/// Half found by external id, half by user id, as the profile finds them.
async fn add_linked(data: &Dataset, n: usize) -> Result<(), Error> {
    let collection = data
        .db()
        .collection::<Document>(&data.settings.linked_collection);
    let documents: Vec<Document> = (0..n)
        .map(|i| {
            if i % 2 == 0 {
                doc! { "_id": format!("crm-other-{i}"), "plan": "basic", "version": 1_i64 }
            } else {
                doc! { "user_id": ObjectId::new(), "kind": "note" }
            }
        })
        .collect();
    for batch in documents.chunks(BATCH) {
        collection.insert_many(batch).await?;
    }
    Ok(())
}

/// Sessions of other users (twenty of them), opened as login opens them:
/// the store keeps a session only for a user that exists.
async fn add_sessions(data: &mut Dataset, n: usize) -> Result<(), Error> {
    let others = data.subjects(Kind::Account, OTHER_USERS, false).await?;
    let mut tasks = JoinSet::new();
    for i in 0..n {
        if tasks.len() >= PARALLEL_INSERTS {
            if let Some(done) = tasks.join_next().await {
                done??;
            }
        }
        let user_id = others[i % others.len()].user_id;
        let (session, _) = data.issuer.open_session(user_id, Timestamp::now());
        let store = data.floor.clone();
        tasks.spawn(async move {
            match store.insert_session(&session).await {
                Ok(true) => Ok(()),
                Ok(false) => Err(Error::from("a session of an existing user was not kept")),
                Err(error) => Err(Error::from(error.to_string())),
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    data.log.take();
    Ok(())
}
