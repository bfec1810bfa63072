//! The mails' words: each `Mail` the domain decides on, rendered into a text
//! and an HTML part of fixed ASCII text and links under the web app's base
//! URL (`APP_BASE_URL`). Nothing a user typed is rendered.

use std::time::Duration;

use crate::domain::mail_token::MailToken;
use crate::domain::ports::{FactorChange, Mail, MailContent, TokenPurpose};

/// A rendered mail, ready for a transport.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingMail {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// `mail` in words, its links under `app_base_url` (no trailing slash).
pub fn render(mail: &Mail, app_base_url: &str) -> OutgoingMail {
    let to = mail.to.as_str();
    match &mail.content {
        MailContent::Link {
            purpose,
            token,
            valid_for,
        } => link_mail(app_base_url, *purpose, to, token, *valid_for),
        MailContent::ChangeRequested {
            confirm,
            cancel,
            valid_for,
        } => change_notice(app_base_url, to, confirm.as_ref(), cancel, *valid_for),
        MailContent::PasswordChanged => password_notice(to),
        MailContent::EmailChanged => email_changed_notice(to),
        MailContent::FactorChanged(change) => factor_notice(to, *change),
    }
}

fn lifetime(ttl: Duration) -> String {
    let minutes = ttl.as_secs() / 60;
    if minutes >= 2 * 1440 {
        // A restore link: until the deletion, some seconds short of whole days.
        format!("about {} days", (minutes + 720) / 1440)
    } else if minutes >= 120 && minutes.is_multiple_of(60) {
        format!("{} hours", minutes / 60)
    } else {
        format!("{minutes} minutes")
    }
}

/// The mail of `purpose`, in a text and an HTML part. Only fixed ASCII text
/// and the link: no user-supplied text is rendered into it.
fn link_mail(
    app_base_url: &str,
    purpose: TokenPurpose,
    to: &str,
    token: &MailToken,
    ttl: Duration,
) -> OutgoingMail {
    let (page, subject, opening, action, closing) = match purpose {
        TokenPurpose::PasswordReset => (
            "reset-password",
            "Reset your password",
            "Someone, hopefully you, asked to reset the password of the account with this e-mail address.",
            "Choose a new password",
            "If it was not you, ignore this mail: your password stays as it is.",
        ),
        TokenPurpose::EmailVerification => (
            "verify-email",
            "Confirm your e-mail address",
            "Please confirm that this is your e-mail address.",
            "Confirm the address",
            "If you did not create an account, ignore this mail.",
        ),
        TokenPurpose::EmailChange => (
            "verify-email",
            "Confirm your new e-mail address",
            "Someone, hopefully you, asked to make this the e-mail address of their account.",
            "Confirm the new address",
            "If it was not you, ignore this mail: nothing changes.",
        ),
        TokenPurpose::AccountRestore => (
            "restore-account",
            "Your account is scheduled for deletion",
            "The deletion of the account with this e-mail address was requested, and every device was signed out. It will be deleted for good when the link below expires.",
            "Keep my account",
            "If you asked for the deletion and want it, ignore this mail.",
        ),
        // Sent together in `change_notice`, never on their own; a total
        // match keeps a new purpose from compiling without its text.
        TokenPurpose::EmailChangeCurrent => (
            "confirm-email-change",
            "Confirm the change of your e-mail address",
            "A change of the e-mail address of your account was requested.",
            "Confirm the change",
            "If it was not you, ignore this mail: nothing changes without it.",
        ),
        TokenPurpose::EmailChangeCancel => (
            "cancel-email-change",
            "Cancel the change of your e-mail address",
            "A change of the e-mail address of your account was requested.",
            "Cancel the change",
            "If it was you, ignore this mail.",
        ),
    };
    let link = format!("{}/{page}?token={}", app_base_url, token.expose());
    let valid = format!("The link works once, for {}.", lifetime(ttl));
    let text =
        format!("{opening}\r\n\r\n{action}:\r\n\r\n{link}\r\n\r\n{valid}\r\n\r\n{closing}\r\n");
    let link_html = html_escape(&link);
    let html = format!(
        "<!DOCTYPE html>\r\n<html><body>\r\n<p>{opening}</p>\r\n<p><a href=\"{link_html}\">{action}</a></p>\r\n<p>{valid}</p>\r\n<p>{closing}</p>\r\n</body></html>\r\n"
    );
    OutgoingMail {
        to: to.to_string(),
        subject: subject.to_string(),
        text,
        html,
    }
}

/// The mail to the current address when a change to another one is asked
/// for: a link that cancels it and, when the change needs it, a link that
/// confirms it. Neither link is spent by opening it: each leads to a page
/// whose button POSTs.
fn change_notice(
    app_base_url: &str,
    to: &str,
    confirm: Option<&MailToken>,
    cancel: &MailToken,
    ttl: Duration,
) -> OutgoingMail {
    let link =
        |page: &str, token: &MailToken| format!("{}/{page}?token={}", app_base_url, token.expose());
    let line = "A change of the e-mail address of your account to another address was requested.";
    let cancel_link = link("cancel-email-change", cancel);
    let cancel_action =
        "If it was not you, cancel the change, then change your password: whoever asked knew it";
    let mut text = format!("{line}\r\n\r\n");
    let mut html = format!("<!DOCTYPE html>\r\n<html><body>\r\n<p>{line}</p>\r\n");
    match confirm {
        Some(confirm) => {
            let confirm_link = link("confirm-email-change", confirm);
            let confirm_action =
                "It takes effect only once both addresses confirm. If it was you, confirm it here";
            text.push_str(&format!("{confirm_action}:\r\n\r\n{confirm_link}\r\n\r\n"));
            html.push_str(&format!(
                "<p><a href=\"{}\">{confirm_action}</a></p>\r\n",
                html_escape(&confirm_link)
            ));
        }
        None => {
            let pending = "It takes effect once the link sent to the new address is followed.";
            text.push_str(&format!("{pending}\r\n\r\n"));
            html.push_str(&format!("<p>{pending}</p>\r\n"));
        }
    }
    let valid = format!("The links work once, for {}.", lifetime(ttl));
    text.push_str(&format!(
        "{cancel_action}:\r\n\r\n{cancel_link}\r\n\r\n{valid}\r\n"
    ));
    html.push_str(&format!(
        "<p><a href=\"{}\">{cancel_action}</a></p>\r\n<p>{valid}</p>\r\n</body></html>\r\n",
        html_escape(&cancel_link)
    ));
    OutgoingMail {
        to: to.to_string(),
        subject: "Your e-mail address is being changed".into(),
        text,
        html,
    }
}

/// A notice with no link: `lines` as paragraphs.
fn notice(to: &str, subject: &str, lines: &[&str]) -> OutgoingMail {
    let text = lines
        .iter()
        .map(|line| format!("{line}\r\n\r\n"))
        .collect::<String>();
    let paragraphs = lines
        .iter()
        .map(|line| format!("<p>{}</p>\r\n", html_escape(line)))
        .collect::<String>();
    OutgoingMail {
        to: to.to_string(),
        subject: subject.to_string(),
        text: text.trim_end().to_string() + "\r\n",
        html: format!("<!DOCTYPE html>\r\n<html><body>\r\n{paragraphs}</body></html>\r\n"),
    }
}

fn email_changed_notice(previous: &str) -> OutgoingMail {
    notice(
        previous,
        "Your account has a new e-mail address",
        &[
            "The e-mail address of your account was changed from this address to another one: mail about the account goes there from now on.",
            "If it was not you, contact the service's support at once: whoever did it knew your password and could read the new address's mail.",
        ],
    )
}

fn factor_notice(to: &str, change: FactorChange) -> OutgoingMail {
    let (subject, line) = match change {
        FactorChange::Enrolled => (
            "A second factor is being set up",
            "An authenticator app is being set up as the second factor of your account.",
        ),
        FactorChange::Enabled => (
            "Your second factor is on",
            "A second factor is now required to sign in to your account, and a new set of recovery codes was made.",
        ),
        FactorChange::Disabled => (
            "Your second factor was turned off",
            "The second factor of your account was turned off: a password alone signs in from now on.",
        ),
        FactorChange::RecoveryCodesRegenerated => (
            "New recovery codes",
            "New recovery codes were made for your account; the old ones no longer work.",
        ),
        FactorChange::PasskeyAdded => (
            "A passkey was added",
            "A passkey was added to your account: it signs in without the password.",
        ),
        FactorChange::PasskeyRemoved => (
            "A passkey was removed",
            "A passkey was removed from your account: it no longer signs in.",
        ),
    };
    notice(
        to,
        subject,
        &[
            line,
            "If it was not you, change your password now and end the sessions you do not know.",
        ],
    )
}

fn password_notice(to: &str) -> OutgoingMail {
    let line = "The password of your account was just reset or changed, and every other session of the account has ended.";
    let closing = "If it was not you, reset your password now with \"forgot password\", and check the e-mail address of your account.";
    OutgoingMail {
        to: to.to_string(),
        subject: "Your password was changed".into(),
        text: format!("{line}\r\n\r\n{closing}\r\n"),
        html: format!(
            "<!DOCTYPE html>\r\n<html><body>\r\n<p>{line}</p>\r\n<p>{}</p>\r\n</body></html>\r\n",
            html_escape(closing)
        ),
    }
}

fn html_escape(raw: &str) -> String {
    raw.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
