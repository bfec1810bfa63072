//! What the server's `explain` says about each command an operation sent:
//! which index serves it, or that it scans a collection.
//!
//! Commands are explained as the equivalent read (`find` with the command's
//! filter), which every MongoDB-wire server explains the same way; an
//! `aggregate` is explained as sent (`verbosity: "queryPlanner"`), and each
//! of its `$lookup` stages again as the read it makes of its collection, since
//! an aggregate's explain describes only the cursor that feeds it.

use mongodb::bson::{doc, Bson, Document};
use mongodb::Client;
use serde_json::Value;

use crate::monitor::{Command, Recorded};
use crate::Error;

/// How one command (or one stage of an aggregate) reads its collection.
#[derive(Debug, Clone)]
pub struct Plan {
    /// `find sessions`, or for a stage `$lookup sessions`.
    pub what: String,
    /// `IXSCAN sessions_user_id`, `COLLSCAN`, or why there is no plan.
    pub access: String,
    /// Whether an index serves it (`None`: nothing to serve, e.g. an insert).
    pub indexed: Option<bool>,
    /// When the whole filter is planned as a scan: whether an index serves
    /// one of its clauses alone (which some executors use for the whole).
    pub clause_indexed: bool,
    /// The explain replies this rests on.
    pub replies: Vec<Value>,
}

/// Plans for every command of `recorded`, in order (aggregates stage by stage).
pub async fn commands(client: &Client, recorded: &Recorded) -> Vec<Plan> {
    let mut plans = Vec::new();
    for command in &recorded.commands {
        match explain_command(client, command).await {
            Ok(mut more) => plans.append(&mut more),
            Err(error) => plans.push(Plan {
                what: command.label(),
                access: format!("explain failed: {error}"),
                indexed: None,
                clause_indexed: false,
                replies: Vec::new(),
            }),
        }
    }
    plans
}

async fn explain_command(client: &Client, command: &Command) -> Result<Vec<Plan>, Error> {
    let document = &command.document;
    let db = client.database(document.get_str("$db").unwrap_or("admin"));
    let Some(collection) = command.collection.clone() else {
        return Ok(vec![no_read(command, "no collection read")]);
    };
    let filter = match command.name.as_str() {
        "find" => document.get_document("filter").ok().cloned(),
        "count" | "findAndModify" => document.get_document("query").ok().cloned(),
        "delete" => first_statement(document, "deletes"),
        "update" => first_statement(document, "updates"),
        "aggregate" => return aggregate(client, command).await,
        "insert" => {
            return Ok(vec![no_read(
                command,
                "insert: no read (each unique index is checked by key)",
            )])
        }
        _ => None,
    };
    let Some(filter) = filter else {
        return Ok(vec![no_read(command, "no filter")]);
    };
    let explained = explain_filter(&db, &collection, &filter).await?;
    Ok(vec![explained.plan(command.label())])
}

/// What `explain` says of a filter.
struct Explained {
    access: String,
    indexed: Option<bool>,
    clause_indexed: bool,
    replies: Vec<Value>,
}

impl Explained {
    fn plan(self, what: String) -> Plan {
        Plan {
            what,
            access: self.access,
            indexed: self.indexed,
            clause_indexed: self.clause_indexed,
            replies: self.replies,
        }
    }
}

/// `find` with `filter`, explained; when the whole filter is planned as a
/// scan, each of its clauses too: a server's explain may plan a multi-field
/// filter as a whole while its executor looks one clause up by an index.
async fn explain_filter(
    db: &mongodb::Database,
    collection: &str,
    filter: &Document,
) -> Result<Explained, Error> {
    let reply = db
        .run_command(doc! {
            "explain": { "find": collection, "filter": filter.clone() },
            "verbosity": "queryPlanner",
        })
        .await?;
    let (mut access, indexed) = summarize(&reply);
    let mut replies = vec![to_json(reply)];
    let clauses: Vec<(&String, &Bson)> = filter
        .iter()
        .filter(|(field, _)| !field.starts_with('$'))
        .collect();
    let mut served = Vec::new();
    if indexed == Some(false) && clauses.len() > 1 {
        for (field, clause) in clauses {
            let reply = db
                .run_command(doc! {
                    "explain": { "find": collection, "filter": { field: clause.clone() } },
                    "verbosity": "queryPlanner",
                })
                .await?;
            let (alone, ok) = summarize(&reply);
            if ok == Some(true) {
                served.push(format!("`{field}` alone: {alone}"));
            }
            replies.push(to_json(reply));
        }
    }
    if !served.is_empty() {
        access = format!("{access} as a whole; {}", served.join(", "));
    }
    Ok(Explained {
        access,
        indexed,
        clause_indexed: !served.is_empty(),
        replies,
    })
}

/// The filter of the first statement of a `delete` or `update`.
fn first_statement(document: &Document, key: &str) -> Option<Document> {
    match document.get_array(key).ok()?.first()? {
        Bson::Document(statement) => statement.get_document("q").ok().cloned(),
        _ => None,
    }
}

fn no_read(command: &Command, why: &str) -> Plan {
    Plan {
        what: command.label(),
        access: why.to_string(),
        indexed: None,
        clause_indexed: false,
        replies: Vec::new(),
    }
}

/// The aggregate as sent, then each `$lookup` as the read it makes.
async fn aggregate(client: &Client, command: &Command) -> Result<Vec<Plan>, Error> {
    let document = &command.document;
    let db = client.database(document.get_str("$db").unwrap_or("admin"));
    let collection = command.collection.clone().unwrap_or_default();
    let pipeline = document.get_array("pipeline")?.clone();
    let reply = db
        .run_command(doc! {
            "explain": { "aggregate": &collection, "pipeline": pipeline.clone(), "cursor": {} },
            "verbosity": "queryPlanner",
        })
        .await?;
    let cursor = reply
        .get_array("stages")
        .ok()
        .and_then(|stages| stages.first())
        .and_then(Bson::as_document)
        .and_then(|stage| stage.get_document("$cursor").ok())
        .cloned()
        .unwrap_or_else(|| reply.clone());
    let (mut access, indexed) = summarize(&cursor);
    let mut clause_indexed = false;
    let mut replies = vec![to_json(reply)];
    let leading = pipeline
        .first()
        .and_then(Bson::as_document)
        .and_then(|stage| stage.get_document("$match").ok());
    if let (Some(false), Some(filter)) = (indexed, leading) {
        let explained = explain_filter(&db, &collection, filter).await?;
        if explained.clause_indexed {
            access = explained.access;
            clause_indexed = true;
            replies.extend(explained.replies);
        }
    }
    let mut plans = vec![Plan {
        what: format!("aggregate {collection}: its first $match (the cursor)"),
        access,
        indexed,
        clause_indexed,
        replies,
    }];
    for stage in pipeline.iter().skip(1).filter_map(Bson::as_document) {
        let Some((name, spec)) = stage.iter().next() else {
            continue;
        };
        let Some(spec) = spec.as_document().filter(|_| name == "$lookup") else {
            plans.push(Plan {
                what: name.clone(),
                access: "in memory, on what the stages before it passed on: no collection read"
                    .into(),
                indexed: None,
                clause_indexed: false,
                replies: Vec::new(),
            });
            continue;
        };
        plans.push(lookup(&db, spec).await?);
    }
    Ok(plans)
}

/// A `$lookup` explained as the read of its `from` collection it makes for
/// one document: with `localField`/`foreignField`, equality on the foreign
/// field (its value does not change the plan; the lookup's own pipeline then
/// runs on what that finds); without, its pipeline's leading `$match`, which
/// the server may or may not run through an index for each lookup.
async fn lookup(db: &mongodb::Database, spec: &Document) -> Result<Plan, Error> {
    let from = spec.get_str("from")?.to_string();
    if let Ok(field) = spec.get_str("foreignField") {
        let explained = explain_filter(db, &from, &doc! { field: Bson::Null }).await?;
        let local = spec.get_str("localField").unwrap_or("?");
        return Ok(explained.plan(format!("$lookup {from} on {field} = {local}")));
    }
    let leading = spec
        .get_array("pipeline")
        .ok()
        .and_then(|stages| stages.first())
        .and_then(Bson::as_document)
        .and_then(|stage| stage.get_document("$match").ok())
        .cloned();
    let Some(filter) = leading else {
        return Ok(Plan {
            what: format!("$lookup {from}, pipeline form"),
            access: "no $match first: the whole collection each time".into(),
            indexed: Some(false),
            clause_indexed: false,
            replies: Vec::new(),
        });
    };
    let mut explained = explain_filter(db, &from, &filter).await?;
    explained
        .access
        .push_str(" for its $match; explain does not say whether each lookup runs it that way");
    Ok(explained.plan(format!(
        "$lookup {from}, pipeline form (no localField/foreignField)"
    )))
}

/// The access path of an explain reply's winning plan: the index stages it
/// uses (`IXSCAN <index>`, `IDHACK`, `EXPRESS_IXSCAN <index>`), or `COLLSCAN`.
pub fn summarize(reply: &Document) -> (String, Option<bool>) {
    let planner = reply.get_document("queryPlanner").ok().or_else(|| {
        reply
            .get_document("$cursor")
            .ok()
            .and_then(|cursor| cursor.get_document("queryPlanner").ok())
    });
    let Some(plan) = planner.and_then(|planner| planner.get_document("winningPlan").ok()) else {
        return ("no winningPlan in the reply".into(), None);
    };
    let mut leaves = Vec::new();
    stages(plan, &mut leaves);
    let indexed: Vec<&String> = leaves
        .iter()
        .filter(|leaf| {
            ["IXSCAN", "IDHACK", "EXPRESS", "COUNT_SCAN", "DISTINCT_SCAN"]
                .iter()
                .any(|kind| leaf.contains(kind))
        })
        .collect();
    let scans = leaves.iter().any(|leaf| leaf.starts_with("COLLSCAN"));
    let text = if leaves.is_empty() {
        "no stage in the winning plan".to_string()
    } else {
        leaves.join(" + ")
    };
    let verdict = if scans {
        Some(false)
    } else if !indexed.is_empty() || leaves.iter().any(|leaf| leaf == "EOF") {
        Some(true)
    } else {
        None
    };
    (text, verdict)
}

/// The leaf stages (with their index) of a plan tree.
fn stages(plan: &Document, leaves: &mut Vec<String>) {
    let children: Vec<&Document> = ["inputStage", "queryPlan"]
        .iter()
        .filter_map(|key| plan.get_document(key).ok())
        .chain(
            plan.get_array("inputStages")
                .into_iter()
                .flatten()
                .filter_map(Bson::as_document),
        )
        .collect();
    if children.is_empty() {
        if let Ok(stage) = plan.get_str("stage") {
            leaves.push(match plan.get_str("indexName") {
                Ok(index) => format!("{stage} {index}"),
                Err(_) => stage.to_string(),
            });
        }
    }
    for child in children {
        stages(child, leaves);
    }
}

fn to_json(document: Document) -> Value {
    users_core::mongo::bson_json::document_to_json(document)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_and_collection_scans_are_told_apart() {
        let indexed = doc! { "queryPlanner": { "winningPlan": {
        "stage": "FETCH", "inputStage": { "stage": "IXSCAN", "indexName": "_id_" } } } };
        assert_eq!(summarize(&indexed), ("IXSCAN _id_".into(), Some(true)));
        let express = doc! { "queryPlanner": { "winningPlan": {
        "queryPlan": { "stage": "EXPRESS_IXSCAN", "indexName": "sessions_user_id" } } } };
        assert_eq!(summarize(&express).1, Some(true));
        let or = doc! { "queryPlanner": { "winningPlan": { "stage": "SUBPLAN", "inputStage": {
        "stage": "OR", "inputStages": [
            { "stage": "IXSCAN", "indexName": "linked_user_id" },
            { "stage": "COLLSCAN" } ] } } } };
        assert_eq!(
            summarize(&or),
            ("IXSCAN linked_user_id + COLLSCAN".into(), Some(false))
        );
        let cursor =
            doc! { "$cursor": { "queryPlanner": { "winningPlan": { "stage": "IDHACK" } } } };
        assert_eq!(summarize(&cursor), ("IDHACK".into(), Some(true)));
    }
}
