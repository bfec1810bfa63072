//! The scheduled purge's edge (`functions/purge-deletions`, issue #24): an
//! EventBridge Scheduler schedule (or a direct invocation) runs
//! `deletion::purge_due` at the time of the run. The payload is ignored: the
//! clock is the function's own, injected into the use case (tests set it).

use lambda_runtime::{Error, LambdaEvent};
use serde_json::Value;

use crate::domain::deletion::{self, PurgeLimits, PurgeSummary};
use crate::domain::linking::LinkVerification;
use crate::domain::ports::Deletions;
use crate::domain::values::Timestamp;

pub async fn handler<S: Deletions>(
    store: &S,
    links: LinkVerification,
    _event: LambdaEvent<Value>,
) -> Result<PurgeSummary, Error> {
    run(store, links, Timestamp::now()).await
}

/// One run at `now`: an error (the database) fails the invocation; the next
/// scheduled run is the retry, and finds what this one left due.
pub async fn run<S: Deletions>(
    store: &S,
    links: LinkVerification,
    now: Timestamp,
) -> Result<PurgeSummary, Error> {
    let summary = deletion::purge_due(store, now, links.trust(), PurgeLimits::default())
        .await
        .map_err(|error| {
            tracing::error!(cause = error.cause().unwrap_or_default(), %error, "purge failed");
            Error::from(error.to_string())
        })?;
    tracing::info!(
        deleted = summary.deleted,
        skipped = summary.skipped,
        more = summary.more,
        "scheduled deletions purged"
    );
    Ok(summary)
}
