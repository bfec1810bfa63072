//! The routes of recovery and change (`domain::recovery`): one function per
//! route, as in `routes`.

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Error, Request, Response};
use serde_json::json;

use super::bodies;
use super::edge::{answer, authorized_caller, registered};
use super::problem::json_response;
use super::request::{json_object, source_ip};
use crate::domain::ports::{
    Accounts, LoginAttempts, MailRequest, MailRequests, OneTimeTokens, Sessions, Users,
};
use crate::domain::recovery::{EmailChangeConfirmation, EmailConfirmed, MailRequestPolicy};
use crate::domain::values::Timestamp;
use crate::domain::{accounts, recovery};
use crate::keystore::PublishedKeys;

/// The one answer of `POST /auth/password/forgot`, whatever the address.
pub const FORGOT_ANSWER: &str =
    "If an account has this address, a link to reset its password is on its way.";

/// `POST /auth/register`, then the verification mail is requested. A request
/// that fails is logged, not the registration's failure: the user can ask again.
pub async fn register<S: Users, Q: MailRequests>(
    store: &S,
    queue: &Q,
    request: Request,
) -> Result<Response<Body>, Error> {
    answer(&request, Method::POST, async {
        let registration = bodies::registration(&json_object(&request)?)?;
        let user_id = accounts::register(store, registration, Timestamp::now()).await?;
        let mail = MailRequest::EmailVerification { user_id };
        if let Err(cause) = queue.request_mail(&mail).await {
            tracing::error!(user_id = %user_id, cause, "verification mail not requested");
        }
        Ok(registered(user_id))
    })
    .await
}

/// `POST /auth/password/forgot`: always `202` with the same body.
pub async fn forgot_password<S: LoginAttempts, Q: MailRequests>(
    store: &S,
    queue: &Q,
    per_source_per_hour: i64,
    request: Request,
) -> Result<Response<Body>, Error> {
    answer(&request, Method::POST, async {
        let email = bodies::forgot(&json_object(&request)?)?;
        let client = source_ip(&request);
        recovery::forgot_password(
            store,
            queue,
            email,
            &client,
            per_source_per_hour,
            Timestamp::now(),
        )
        .await?;
        Ok(json_response(
            StatusCode::ACCEPTED,
            &json!({ "message": FORGOT_ANSWER }),
        ))
    })
    .await
}

/// `POST /auth/password/reset`
pub async fn reset_password<S: Accounts + OneTimeTokens, Q: MailRequests>(
    store: &S,
    queue: &Q,
    request: Request,
) -> Result<Response<Body>, Error> {
    answer(&request, Method::POST, async {
        let (token, password) = bodies::reset(&json_object(&request)?)?;
        recovery::reset_password(store, queue, &token, password, Timestamp::now()).await?;
        Ok(json_response(
            StatusCode::OK,
            &json!({ "message": "Password reset; every session has ended: log in again" }),
        ))
    })
    .await
}

/// `POST /auth/email/verify`: a verification link, or either side's link of
/// an e-mail change.
pub async fn verify_email<S: Accounts + OneTimeTokens, Q: MailRequests>(
    store: &S,
    queue: &Q,
    request: Request,
) -> Result<Response<Body>, Error> {
    answer(&request, Method::POST, async {
        let token = bodies::mail_token(&json_object(&request)?)?;
        let body = match recovery::verify_email(store, queue, &token, Timestamp::now()).await? {
            EmailConfirmed::AddressVerified => {
                json!({ "message": "E-mail address verified", "email_verified": true })
            }
            EmailConfirmed::ChangeApplied => json!({
                "message": "E-mail address changed and verified",
                "email_verified": true,
                "email_change": "applied",
            }),
            EmailConfirmed::ChangeWaiting => json!({
                "message": "Confirmed; the address changes once the link sent to the other address is followed too",
                "email_verified": false,
                "email_change": "waiting",
            }),
        };
        Ok(json_response(StatusCode::OK, &body))
    })
    .await
}

/// `DELETE /users/{user_id}/email/pending`: `200` whether or not a change
/// was pending (the owner's intent holds either way); `cancelled` says which.
pub async fn cancel_email_change<S: Accounts + Sessions>(
    store: &S,
    keys: &PublishedKeys,
    request: Request,
) -> Result<Response<Body>, Error> {
    answer(&request, Method::DELETE, async {
        let caller = authorized_caller(keys, &request).await?;
        let cancelled = recovery::cancel_email_change(store, &caller, Timestamp::now()).await?;
        let message = if cancelled {
            "The e-mail change was cancelled"
        } else {
            "No e-mail change was pending"
        };
        Ok(json_response(
            StatusCode::OK,
            &json!({ "message": message, "cancelled": cancelled }),
        ))
    })
    .await
}

/// `POST /auth/email/cancel`: the link in the mail to the current address.
pub async fn cancel_email_change_by_link<S: Accounts + OneTimeTokens + Sessions>(
    store: &S,
    request: Request,
) -> Result<Response<Body>, Error> {
    answer(&request, Method::POST, async {
        let (token, end_sessions) = bodies::email_change_cancel(&json_object(&request)?)?;
        let ended =
            recovery::cancel_email_change_by_link(store, &token, end_sessions, Timestamp::now())
                .await?;
        let mut body = json!({ "message": "The e-mail change was cancelled" });
        if let Some(ended) = ended {
            body["sessions_ended"] = json!(ended);
        }
        Ok(json_response(StatusCode::OK, &body))
    })
    .await
}

/// `POST /users/{user_id}/email/verification`
pub async fn resend_verification<S: Sessions + LoginAttempts, Q: MailRequests>(
    store: &S,
    keys: &PublishedKeys,
    queue: &Q,
    policy: &MailRequestPolicy,
    request: Request,
) -> Result<Response<Body>, Error> {
    answer(&request, Method::POST, async {
        let caller = authorized_caller(keys, &request).await?;
        recovery::resend_verification(store, queue, policy, &caller, Timestamp::now()).await?;
        Ok(json_response(
            StatusCode::ACCEPTED,
            &json!({ "message": "Unless the address is verified already, a verification link is on its way." }),
        ))
    })
    .await
}

/// `PUT /users/{user_id}/password`
pub async fn change_password<S: Accounts + Sessions + LoginAttempts, Q: MailRequests>(
    store: &S,
    keys: &PublishedKeys,
    queue: &Q,
    request: Request,
) -> Result<Response<Body>, Error> {
    answer(&request, Method::PUT, async {
        let caller = authorized_caller(keys, &request).await?;
        let (current, new) = bodies::password_change(&json_object(&request)?)?;
        recovery::change_password(store, queue, &caller, current, new, Timestamp::now()).await?;
        Ok(json_response(
            StatusCode::OK,
            &json!({ "message": "Password changed; every other session has ended" }),
        ))
    })
    .await
}

/// `PUT /users/{user_id}/email`
pub async fn change_email<S: Accounts + Sessions + LoginAttempts, Q: MailRequests>(
    store: &S,
    keys: &PublishedKeys,
    queue: &Q,
    policy: &MailRequestPolicy,
    request: Request,
) -> Result<Response<Body>, Error> {
    answer(&request, Method::PUT, async {
        let caller = authorized_caller(keys, &request).await?;
        let (password, new_email) = bodies::email_change(&json_object(&request)?)?;
        let now = Timestamp::now();
        recovery::change_email(store, queue, policy, &caller, password, new_email, now).await?;
        Ok(json_response(
            StatusCode::ACCEPTED,
            &json!({ "message": match policy.email_change_confirmation {
                EmailChangeConfirmation::Both => "Links to confirm are on their way to both addresses; the address changes once both are followed.",
                EmailChangeConfirmation::New => "A link to confirm the new address is on its way; the address changes once it is followed.",
            } }),
        ))
    })
    .await
}
