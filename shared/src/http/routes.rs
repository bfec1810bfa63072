//! One function per HTTP route: read the request, call the use case, answer.
//! Every failure becomes a problem+json response in `answer`, and none
//! escapes to the runtime as a 500.

use lambda_http::http::{header, Method, StatusCode};
use lambda_http::{Body, Error, Request, Response};
use serde_json::json;

use super::bodies;
use super::edge::{
    answer, authorized_caller, client_info, mfa_required, token_response, user_agent,
};
use super::problem::json_response;
use super::request::{bearer_token, json_object, json_object_or_empty, query_parameter, source_ip};
use crate::domain::deletion::{self, DeletionOutcome, GracePeriod};
use crate::domain::export::{self, ExportSettings};
use crate::domain::linking::{self, LinkVerification};
use crate::domain::login::{LoginOutcome, LoginPolicy};
use crate::domain::ports::{
    Deletions, Exports, LinkOffers, LoginAttempts, MailRequests, MfaStore, OneTimeTokens, Profile,
    Sessions, Users,
};
use crate::domain::values::Timestamp;
use crate::domain::{accounts, login as logins, sessions};
use crate::keystore::{PublishedKeys, SigningKeys};

/// `POST /auth/login`, under `REQUIRE_VERIFIED_EMAIL` (`policy`).
pub async fn login<S: Users + Sessions + LoginAttempts + MfaStore + Deletions>(
    store: &S,
    keys: &SigningKeys,
    policy: LoginPolicy,
    request: Request,
) -> Result<Response<Body>, Error> {
    answer(&request, Method::POST, async {
        let credentials = logins::Credentials {
            user_agent: user_agent(&request),
            ..bodies::credentials(&json_object(&request)?, source_ip(&request))?
        };
        let issuer = keys.issuer().await;
        match logins::login_with(store, &issuer, credentials, policy, Timestamp::now()).await? {
            LoginOutcome::Tokens(tokens) => Ok(token_response(tokens)),
            LoginOutcome::MfaRequired(pending) => Ok(mfa_required(pending)),
        }
    })
    .await
}

/// `POST /auth/refresh`: a new pair for a refresh token (rotation).
pub async fn refresh<S: Sessions>(
    store: &S,
    keys: &SigningKeys,
    request: Request,
) -> Result<Response<Body>, Error> {
    answer(&request, Method::POST, async {
        let refresh_token = bodies::refresh_token(&json_object(&request)?)?;
        let issuer = keys.issuer().await;
        let client = client_info(&request);
        let tokens =
            sessions::refresh_from(store, &issuer, &refresh_token, &client, Timestamp::now())
                .await?;
        Ok(token_response(tokens))
    })
    .await
}

/// `POST /auth/logout`: ends the session of the bearer token.
pub async fn logout<S: Sessions>(
    store: &S,
    keys: &PublishedKeys,
    request: Request,
) -> Result<Response<Body>, Error> {
    answer(&request, Method::POST, async {
        let caller = keys.verify(bearer_token(&request)?).await?;
        sessions::logout(store, &caller, Timestamp::now()).await?;
        Ok(json_response(
            StatusCode::OK,
            &json!({ "message": "Logged out" }),
        ))
    })
    .await
}

/// `POST /auth/logout_all`: ends every session of the bearer token's user.
pub async fn logout_all<S: Sessions>(
    store: &S,
    keys: &PublishedKeys,
    request: Request,
) -> Result<Response<Body>, Error> {
    answer(&request, Method::POST, async {
        let caller = keys.verify(bearer_token(&request)?).await?;
        let ended = sessions::logout_all(store, &caller, Timestamp::now()).await?;
        Ok(json_response(
            StatusCode::OK,
            &json!({ "message": "All sessions ended", "sessions_ended": ended }),
        ))
    })
    .await
}

/// `PUT /users/{user_id}/link_id/`
pub async fn link_external_id<S: Users + Sessions + LoginAttempts + LinkOffers>(
    store: &S,
    keys: &PublishedKeys,
    links: LinkVerification,
    request: Request,
) -> Result<Response<Body>, Error> {
    answer(&request, Method::PUT, async {
        let caller = authorized_caller(keys, &request).await?;
        let body = json_object_or_empty(&request)?;
        let (external_id, code) =
            bodies::link(body.as_ref(), query_parameter(&request, "external_id"))?;
        linking::link_external_id(store, &caller, &external_id, code, links, Timestamp::now())
            .await?;
        Ok(json_response(
            StatusCode::OK,
            &json!({
                "message": "ID linked successfully",
                "user_id": caller.user_id.to_hex(),
                "external_id": external_id.as_str(),
            }),
        ))
    })
    .await
}

/// `GET /users/{user_id}/full_profile/`
pub async fn get_full_profile<S: Users>(
    store: &S,
    keys: &PublishedKeys,
    links: LinkVerification,
    request: Request,
) -> Result<Response<Body>, Error> {
    answer(&request, Method::GET, async {
        let caller = authorized_caller(keys, &request).await?;
        let profile =
            accounts::full_profile(store, &caller, Timestamp::now(), links.trust()).await?;
        Ok(json_response(StatusCode::OK, &profile_json(profile)))
    })
    .await
}

/// `DELETE /users/{user_id}/`: deleted at once (200, the original's
/// answer) or, under `DELETION_GRACE_DAYS`, scheduled (202 with the date).
pub async fn delete_user<S: Users + Deletions, Q: MailRequests>(
    store: &S,
    keys: &PublishedKeys,
    links: LinkVerification,
    queue: &Q,
    grace: GracePeriod,
    request: Request,
) -> Result<Response<Body>, Error> {
    answer(&request, Method::DELETE, async {
        let caller = authorized_caller(keys, &request).await?;
        let now = Timestamp::now();
        let outcome =
            deletion::request_deletion(store, queue, &caller, grace, now, links.trust()).await?;
        Ok(match outcome {
            DeletionOutcome::Deleted => json_response(
                StatusCode::OK,
                &json!({ "message": "User and associated data deleted successfully" }),
            ),
            DeletionOutcome::Scheduled { until } => json_response(
                StatusCode::ACCEPTED,
                &json!({
                    "message": "User scheduled for deletion; the link mailed to the account's address restores it",
                    "deletion_scheduled_for": until.to_rfc3339(),
                }),
            ),
        })
    })
    .await
}

/// `POST /auth/account/restore`: the mailed link calls a scheduled deletion off.
pub async fn restore_account<S: Deletions + OneTimeTokens>(
    store: &S,
    request: Request,
) -> Result<Response<Body>, Error> {
    answer(&request, Method::POST, async {
        let token = bodies::mail_token(&json_object(&request)?)?;
        deletion::restore_by_link(store, &token, Timestamp::now()).await?;
        Ok(json_response(
            StatusCode::OK,
            &json!({ "message": "The account was restored; sign in again" }),
        ))
    })
    .await
}

/// `GET /users/{user_id}/export`: the owner's data as one JSON document
/// (`docs/export.schema.json`), after a recent sign-in, 3 an hour.
pub async fn export_account<S: Exports + LoginAttempts>(
    store: &S,
    keys: &PublishedKeys,
    links: LinkVerification,
    settings: &ExportSettings,
    request: Request,
) -> Result<Response<Body>, Error> {
    answer(&request, Method::GET, async {
        let caller = authorized_caller(keys, &request).await?;
        let now = Timestamp::now();
        let text = export::export_account(store, &caller, settings, now, links.trust()).await?;
        Ok(Response::builder()
            .status(StatusCode::OK)
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::CACHE_CONTROL, "no-store")
            .header(
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"account-export.json\"",
            )
            .body(Body::Text(text))
            .expect("static headers are valid"))
    })
    .await
}

fn profile_json(profile: Profile) -> serde_json::Value {
    json!({
        "id": profile.id.to_hex(),
        "username": profile.username,
        "email": profile.email,
        "external_id": profile.external_id,
        "created_at": profile.created_at,
        "linked_data": profile.linked_data,
        "email_verified": profile.email_verified,
    })
}
