//! The mail adapter (`functions/send-mail`): mail requests from the queue as
//! JSON, each mail as a complete RFC 5322 message, sent through SES v2 or,
//! locally, written to a directory as `.eml` files.

use std::path::PathBuf;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use lambda_runtime::{Error, LambdaEvent};
use serde_json::{json, Value};

use crate::aws::ses::Ses;

mod render;
use crate::domain::ports::{
    Accounts, FactorChange, LoginAttempts, Mail, MailRequest, MailTransport, OneTimeTokens,
};
use crate::domain::recovery::{send_requested_mail, MailSettings};
use crate::domain::values::{hex, Email, Timestamp, UserId};
pub use render::{render, OutgoingMail};

/// A queue message's body: the purpose and the ids, never a token.
pub fn request_json(request: &MailRequest) -> Value {
    let purpose = request.name();
    match request {
        MailRequest::PasswordReset { email } => {
            json!({ "purpose": purpose, "email": email.as_str() })
        }
        MailRequest::EmailVerification { user_id } => {
            json!({ "purpose": purpose, "user_id": user_id.to_hex() })
        }
        MailRequest::EmailChange { user_id, new_email } => json!({
            "purpose": purpose, "user_id": user_id.to_hex(), "email": new_email.as_str(),
        }),
        MailRequest::PasswordChangedNotice { user_id } => {
            json!({ "purpose": purpose, "user_id": user_id.to_hex() })
        }
        MailRequest::EmailChangedNotice { user_id, previous } => json!({
            "purpose": purpose, "user_id": user_id.to_hex(), "email": previous.as_str(),
        }),
        MailRequest::MfaChangedNotice { user_id, change } => json!({
            "purpose": purpose, "user_id": user_id.to_hex(), "change": change.as_str(),
        }),
        MailRequest::AccountRestore { user_id, until } => json!({
            "purpose": purpose, "user_id": user_id.to_hex(), "until": until.to_rfc3339(),
        }),
    }
}

/// The reason names the field, never quotes a value.
pub fn parse_request(body: &str) -> Result<MailRequest, String> {
    let value: Value =
        serde_json::from_str(body).map_err(|_| "the body is not JSON".to_string())?;
    let field = |name: &str| {
        value
            .get(name)
            .and_then(Value::as_str)
            .ok_or_else(|| format!("`{name}` is missing or not a string"))
    };
    let email = || Email::parse(field("email")?).map_err(|_| "`email` is invalid".to_string());
    let user_id =
        || UserId::parse(field("user_id")?).map_err(|_| "`user_id` is invalid".to_string());
    match field("purpose")? {
        "password_reset" => Ok(MailRequest::PasswordReset { email: email()? }),
        "email_verification" => Ok(MailRequest::EmailVerification {
            user_id: user_id()?,
        }),
        "email_change" => Ok(MailRequest::EmailChange {
            user_id: user_id()?,
            new_email: email()?,
        }),
        "password_changed_notice" => Ok(MailRequest::PasswordChangedNotice {
            user_id: user_id()?,
        }),
        "email_changed_notice" => Ok(MailRequest::EmailChangedNotice {
            user_id: user_id()?,
            previous: email()?,
        }),
        "mfa_changed_notice" => Ok(MailRequest::MfaChangedNotice {
            user_id: user_id()?,
            change: FactorChange::parse(field("change")?)
                .ok_or_else(|| "`change` is invalid".to_string())?,
        }),
        "account_restore" => Ok(MailRequest::AccountRestore {
            user_id: user_id()?,
            until: Timestamp::parse_rfc3339(field("until")?)
                .ok_or_else(|| "`until` is invalid".to_string())?,
        }),
        _ => Err("unknown `purpose`".into()),
    }
}

/// `mail` as an RFC 5322 message: multipart/alternative, a text and an HTML
/// part, 7-bit (every part is ASCII: see `domain::recovery::render`).
pub fn rfc5322(sender: &str, mail: &OutgoingMail, id: &str, now: Timestamp) -> String {
    let domain = sender.rsplit('@').next().unwrap_or("localhost");
    let boundary = format!("=_part_{id}");
    let ascii = |text: &str| -> String {
        text.chars()
            .map(|c| {
                if c.is_ascii() && (c == '\r' || c == '\n' || !c.is_control()) {
                    c
                } else {
                    '?'
                }
            })
            .collect()
    };
    let header = |text: &str| ascii(text).replace(['\r', '\n'], " ");
    format!(
        "From: {from}\r\nTo: {to}\r\nSubject: {subject}\r\nDate: {date}\r\nMessage-ID: <{id}@{domain}>\r\n\
         MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=\"{boundary}\"\r\n\r\n\
         --{boundary}\r\nContent-Type: text/plain; charset=us-ascii\r\nContent-Transfer-Encoding: 7bit\r\n\r\n{text}\r\n\
         --{boundary}\r\nContent-Type: text/html; charset=us-ascii\r\nContent-Transfer-Encoding: 7bit\r\n\r\n{html}\r\n\
         --{boundary}--\r\n",
        from = header(sender),
        to = header(&mail.to),
        subject = header(&mail.subject),
        date = rfc5322_date(now),
        text = ascii(&mail.text),
        html = ascii(&mail.html),
    )
}

/// `Wed, 02 Dec 2026 08:40:00 +0000`.
fn rfc5322_date(now: Timestamp) -> String {
    let seconds = now.as_millis().div_euclid(1000);
    let (days, time) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let weekday = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][days.rem_euclid(7) as usize];
    let months = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{weekday}, {day:02} {} {year} {:02}:{:02}:{:02} +0000",
        months[(month - 1) as usize],
        time / 3600,
        time % 3600 / 60,
        time % 60
    )
}

fn message_id() -> String {
    use rand_core::{OsRng, RngCore};
    let mut bytes = [0u8; 12];
    OsRng.fill_bytes(&mut bytes);
    hex(&bytes)
}

/// How mail leaves: SES in AWS, files locally (`MAIL_DIRECTORY`).
/// How mail leaves: through SES, or (locally) as files.
pub enum Delivery {
    Ses(Ses),
    Files(PathBuf),
}

/// The transport: renders each mail (links under `app_base_url`) and sends
/// it from `sender`.
pub struct Transport {
    pub delivery: Delivery,
    pub sender: String,
    pub app_base_url: String,
}

impl MailTransport for Transport {
    async fn send_mail(&self, mail: &Mail) -> Result<String, String> {
        let mail = render(mail, &self.app_base_url);
        let id = message_id();
        let now = Timestamp::now();
        let sender = &self.sender;
        match &self.delivery {
            Delivery::Ses(ses) => {
                let message = rfc5322(sender, &mail, &id, now);
                ses.send_raw(sender, &mail.to, &message).await
            }
            Delivery::Files(directory) => {
                let message = rfc5322(sender, &mail, &id, now);
                let name = format!("{}-{id}.eml", now.as_millis());
                let path = directory.join(&name);
                // Written aside, then renamed: a reader never sees half a mail.
                let partial = directory.join(format!(".{name}.partial"));
                tokio::fs::create_dir_all(directory)
                    .await
                    .and(tokio::fs::write(&partial, message).await)
                    .and(tokio::fs::rename(&partial, &path).await)
                    .map_err(|error| format!("cannot write {}: {error}", path.display()))?;
                tracing::info!(file = %path.display(), "mail written");
                Ok(name)
            }
        }
    }
}

/// The Lambda handler of `send-mail`: each record on its own; a failed one
/// is reported in `batchItemFailures`, redelivered, and after a few receives
/// moved to the dead-letter queue. A malformed one is logged and dropped:
/// it would fail the same way every time.
pub async fn handler<S, T>(
    store: &S,
    transport: &T,
    settings: &MailSettings,
    event: LambdaEvent<SqsEvent>,
) -> Result<SqsBatchResponse, Error>
where
    S: Accounts + OneTimeTokens + LoginAttempts,
    T: MailTransport,
{
    let mut response = SqsBatchResponse::default();
    for message in event.payload.records {
        let message_id = message.message_id.unwrap_or_default();
        let request = match parse_request(message.body.as_deref().unwrap_or_default()) {
            Ok(request) => request,
            Err(reason) => {
                tracing::error!(message_id, reason, "mail request dropped: malformed");
                continue;
            }
        };
        let purpose = request.name();
        match send_requested_mail(store, transport, settings, &request, Timestamp::now()).await {
            Ok(outcome) => {
                tracing::info!(
                    message_id,
                    purpose,
                    outcome = outcome.as_str(),
                    "mail request done"
                );
            }
            Err(error) => {
                tracing::error!(message_id, purpose, %error, cause = error.cause().unwrap_or_default(), "mail request failed; SQS retries it");
                let mut failure = BatchItemFailure::default();
                failure.item_identifier = message_id;
                response.batch_item_failures.push(failure);
            }
        }
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_round_trip_and_carry_no_token() {
        let requests = [
            MailRequest::PasswordReset {
                email: Email::parse("a@example.com").unwrap(),
            },
            MailRequest::EmailVerification {
                user_id: UserId::new(),
            },
            MailRequest::EmailChange {
                user_id: UserId::new(),
                new_email: Email::parse("b@example.com").unwrap(),
            },
            MailRequest::PasswordChangedNotice {
                user_id: UserId::new(),
            },
            // To the second: the queue carries the deletion's time as RFC 3339.
            MailRequest::AccountRestore {
                user_id: UserId::new(),
                until: Timestamp::from_millis(1_796_000_000_000),
            },
        ];
        for request in requests {
            let json = request_json(&request);
            assert!(json.get("token").is_none());
            assert_eq!(parse_request(&json.to_string()).unwrap(), request);
        }
        assert!(parse_request("{\"purpose\":\"nope\"}").is_err());
        assert!(parse_request("[]").is_err());
    }

    #[test]
    fn a_message_is_rfc5322_with_both_parts() {
        let mail = OutgoingMail {
            to: "ada@example.com".into(),
            subject: "Reset your password".into(),
            text: "Go: https://app/reset-password?token=abc\r\n".into(),
            html: "<p>Go</p>\r\n".into(),
        };
        let message = rfc5322(
            "no-reply@example.com",
            &mail,
            "0123",
            Timestamp::from_millis(1_796_200_800_000),
        );
        assert!(message.starts_with(
            "From: no-reply@example.com\r\nTo: ada@example.com\r\nSubject: Reset your password\r\n"
        ));
        assert!(message.contains("Date: Wed, 02 Dec 2026 08:40:00 +0000\r\n"));
        assert!(message.contains("Content-Type: text/plain"));
        assert!(message.contains("Content-Type: text/html"));
        assert!(message.contains("reset-password?token=abc"));
        assert!(message.ends_with("--=_part_0123--\r\n"));
        assert!(message.is_ascii());
    }
}
