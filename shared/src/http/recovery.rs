//! The routes of recovery and change (`domain::recovery`): one function per
//! route, as in `routes`.

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Error, Request, Response};
use serde_json::json;

use super::bodies;
use super::problem::json_response;
use super::request::{json_object, source_ip};
use super::routes::{answer, authorized_caller, registered};
use crate::domain::ports::{
    Accounts, LoginAttempts, MailRequest, MailRequests, OneTimeTokens, Sessions, Users,
};
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

/// `POST /auth/email/verify`
pub async fn verify_email<S: Accounts + OneTimeTokens>(
    store: &S,
    request: Request,
) -> Result<Response<Body>, Error> {
    answer(&request, Method::POST, async {
        let token = bodies::mail_token(&json_object(&request)?)?;
        recovery::verify_email(store, &token, Timestamp::now()).await?;
        Ok(json_response(
            StatusCode::OK,
            &json!({ "message": "E-mail address verified", "email_verified": true }),
        ))
    })
    .await
}

/// `POST /users/{user_id}/email/verification`
pub async fn resend_verification<S: Sessions, Q: MailRequests>(
    store: &S,
    keys: &PublishedKeys,
    queue: &Q,
    request: Request,
) -> Result<Response<Body>, Error> {
    answer(&request, Method::POST, async {
        let caller = authorized_caller(keys, &request).await?;
        recovery::resend_verification(store, queue, &caller, Timestamp::now()).await?;
        Ok(json_response(
            StatusCode::ACCEPTED,
            &json!({ "message": "Unless the address is verified already, a verification link is on its way." }),
        ))
    })
    .await
}

/// `PUT /users/{user_id}/password`
pub async fn change_password<S: Accounts + LoginAttempts, Q: MailRequests>(
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
    request: Request,
) -> Result<Response<Body>, Error> {
    answer(&request, Method::PUT, async {
        let caller = authorized_caller(keys, &request).await?;
        let (password, new_email) = bodies::email_change(&json_object(&request)?)?;
        recovery::change_email(store, queue, &caller, password, new_email, Timestamp::now())
            .await?;
        Ok(json_response(
            StatusCode::ACCEPTED,
            &json!({ "message": "A link to confirm the new address is on its way; the address changes once it is followed." }),
        ))
    })
    .await
}
