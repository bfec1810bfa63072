//! The signed-in pages: the account (with its recent security activity),
//! its password, e-mail, second factor, devices, and deleting it. Every request re-reads the session
//! (`web::Holder`); without an open one it goes to the sign-in page and
//! comes back. The use cases are the API's.

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Response};
use maud::{html, Markup};

use super::anonymous::proof;
use super::session::signed;
use super::views::{self, field, form, layout, Field};
use super::web::{
    answer_error, page, problem_page, redirect, Ctx, Holder, Pages, Problems, Store, Visit,
    SESSION_COOKIE,
};
use crate::domain::activity::{self, Activity};
use crate::domain::deletion::{self, DeletionOutcome};
use crate::domain::devices::ClientInfo;
use crate::domain::mfa::{self, Proof};
use crate::domain::ports::MailRequests;
use crate::domain::recovery::{self, EmailChangeConfirmation};
use crate::domain::values::{Password, SessionId, Timestamp};
use crate::domain::{devices, login, sessions, DomainError};

/// The fixed messages a redirect to the account page may ask for.
fn account_notice(code: Option<&str>) -> Option<&'static str> {
    Some(match code? {
        "password" => "Your password was changed; every other device was signed out.",
        "email" => "Check your mail: the address changes once the links we sent are followed.",
        "email-new" => "Check your mail at the new address: it changes once the link is followed.",
        "cancelled" => "The change of address was cancelled.",
        "resent" => "Unless the address is confirmed already, a new link is on its way.",
        "mfa-off" => "Two-step sign-in is off.",
        "ended" => "That device was signed out.",
        _ => return None,
    })
}

/// `/account`: who you are, and the way to each change.
pub async fn account<S: Store, Q: MailRequests>(
    p: &Pages<'_, S, Q>,
    visit: &Visit,
    holder: &Holder,
) -> Response<Body> {
    let signed = match signed(p, visit, holder).await {
        Ok(signed) => signed,
        Err(answer) => return answer,
    };
    let (caller, ctx) = (signed.caller, &signed.ctx);
    let now = Timestamp::now();
    let mut problems = Problems::default();
    if visit.method == Method::POST {
        match recovery::resend_verification(p.store, p.queue, p.mail_policy, caller, now).await {
            Ok(()) => return redirect(p.site, "/account?notice=resent", &[]),
            Err(error) => match error {
                DomainError::TooManyRequests { .. } | DomainError::TooManyAttempts { .. } => {
                    problems = Problems::form(match super::web::says(&error) {
                        super::web::Said::Form(text) => text,
                        _ => String::new(),
                    });
                }
                other => {
                    return answer_error(p.site, visit, other, |status, problems| {
                        problem_page(p.site, status, &problems)
                    })
                }
            },
        }
    }
    let read = tokio::try_join!(
        async { Ok::<_, DomainError>(p.store.find_account(caller.user_id).await?) },
        async { Ok::<_, DomainError>(p.store.mfa_account(caller.user_id).await?) },
        async {
            let recent = p.store.recent_activity(caller.user_id, activity::RECENT);
            Ok::<_, DomainError>(recent.await?)
        },
    );
    let (account, mfa, recent) = match read {
        Ok((Some(account), mfa, recent)) => (account, mfa, recent),
        Ok((None, _, _)) => {
            return answer_error(
                p.site,
                visit,
                DomainError::UnknownUser,
                |status, problems| problem_page(p.site, status, &problems),
            )
        }
        Err(error) => {
            return answer_error(p.site, visit, error, |status, problems| {
                problem_page(p.site, status, &problems)
            })
        }
    };
    let mfa_on = mfa
        .and_then(|mfa| mfa.factor)
        .is_some_and(|factor| factor.confirmed);
    let markup = layout(
        p.site,
        "Your account",
        true,
        html! {
            (views::notice(account_notice(visit.query("notice"))))
            (views::alert(problems.form.as_deref()))
            dl {
                dt { "Username" } dd { (account.username) }
                dt { "E-mail" } dd { (account.email) }
                dt { "Confirmed" } dd { @if account.email_verified { "Yes" } @else { "Not yet" } }
                @if let Some(pending) = &account.pending_email {
                    dt { "Changing to" } dd { (pending) " (waiting for confirmation)" }
                }
                dt { "Two-step sign-in" } dd { @if mfa_on { "On" } @else { "Off" } }
            }
            @if !account.email_verified {
                (form("/account", &ctx.csrf, html! {
                    button.secondary type="submit" { "Send the confirmation link again" }
                }))
            }
            h2 { "Settings" }
            ul {
                li { a href="/account/password" { "Change your password" } }
                li { a href="/account/email" { "Change your e-mail address" } }
                li { a href="/account/mfa" { "Two-step sign-in" } }
                li { a href="/account/sessions" { "Your devices" } }
                li { a href=(super::export::EXPORT) { "Download your data" } }
                li { a href=(super::passkeys::ACCOUNT_PATH) { "Passkeys" } }
                (super::apps::link())
                li { a href="/account/delete" { "Delete your account" } }
            }
            (recent_activity(&recent))
        },
    );
    page(p.site, StatusCode::OK, markup, &ctx.cookies)
}

/// The account's last `activity::RECENT` security events, newest first,
/// with where each came from (times in UTC).
fn recent_activity(recent: &[Activity]) -> Markup {
    html! {
        h2 #recent-activity { "Recent activity" }
        @if recent.is_empty() {
            p { "Nothing yet." }
        } @else {
            p.hint { "Sign-ins and changes to your account's security, newest first (times in UTC). Something you don't recognise? Change your password and sign out every device." }
            ul.devices.activity aria-labelledby="recent-activity" {
                @for entry in recent {
                    li {
                        strong { (entry.kind.label()) }
                        @if let Some(detail) = &entry.detail { " (" (detail) ")" }
                        br;
                        time datetime=(entry.at.to_rfc3339()) { (when(entry.at)) }
                        @if entry.from != ClientInfo::default() {
                            ", from " (device_name(entry.from.user_agent.as_deref()))
                            ", address " (entry.from.source_ip.as_deref().unwrap_or("unknown"))
                        }
                    }
                }
            }
        }
    }
}

fn password_page(
    p: &Pages<'_, impl Store, impl MailRequests>,
    ctx: &Ctx,
    problems: &Problems,
) -> Markup {
    layout(
        p.site,
        "Change your password",
        true,
        html! {
            p { "Every other device signed in to your account will be signed out." }
            (views::alert(problems.form.as_deref()))
            (form("/account/password", &ctx.csrf, html! {
                (field(&Field::new("current_password", "Current password", "password", "current-password").error(problems.field("current_password"))))
                (field(&Field::new("new_password", "New password", "password", "new-password")
                    .error(problems.field("new_password"))
                    .hint("At least 8 characters; a few unusual words make a strong one.")))
                button type="submit" { "Change the password" }
            }))
        },
    )
}

/// `/account/password`
pub async fn password<S: Store, Q: MailRequests>(
    p: &Pages<'_, S, Q>,
    visit: &Visit,
    holder: &Holder,
) -> Response<Body> {
    let signed = match signed(p, visit, holder).await {
        Ok(signed) => signed,
        Err(answer) => return answer,
    };
    let (caller, ctx) = (signed.caller, &signed.ctx);
    let rerender = |status, problems: Problems| {
        page(
            p.site,
            status,
            password_page(p, ctx, &problems),
            &ctx.cookies,
        )
    };
    if visit.method == Method::GET {
        return rerender(StatusCode::OK, visit.problems());
    }
    let body = visit.fields_as_json(&["current_password", "new_password"]);
    let (current, new) = match crate::http::bodies::password_change(&body) {
        Ok(parsed) => parsed,
        Err(errors) => {
            return rerender(
                StatusCode::UNPROCESSABLE_ENTITY,
                Problems::of_fields(errors),
            )
        }
    };
    match recovery::change_password(p.store, p.queue, caller, current, new, Timestamp::now()).await
    {
        Ok(()) => redirect(p.site, "/account?notice=password", &[]),
        Err(DomainError::InvalidCredentials) => {
            let mut problems = Problems::default();
            problems.fields.insert(
                "current_password".into(),
                "The current password is wrong.".into(),
            );
            rerender(StatusCode::UNAUTHORIZED, problems)
        }
        Err(error) => answer_error(p.site, visit, error, rerender),
    }
}

fn email_page(
    p: &Pages<'_, impl Store, impl MailRequests>,
    visit: &Visit,
    ctx: &Ctx,
    pending: Option<&str>,
    problems: &Problems,
) -> Markup {
    let new_email = visit.echo("new_email");
    layout(
        p.site,
        "Change your e-mail address",
        true,
        html! {
            @if let Some(pending) = pending {
                p.notice role="status" { "A change to " strong { (pending) } " is waiting for confirmation." }
                (form("/account/email", &ctx.csrf, html! {
                    input type="hidden" name="action" value="cancel";
                    button.secondary type="submit" { "Cancel that change" }
                }))
            }
            p { "We mail a link to the new address"
                @if p.mail_policy.email_change_confirmation == EmailChangeConfirmation::Both { " and one to the current address" }
                "; the address changes once "
                @if p.mail_policy.email_change_confirmation == EmailChangeConfirmation::Both { "both are" } @else { "it is" }
                " followed." }
            (views::alert(problems.form.as_deref()))
            (form("/account/email", &ctx.csrf, html! {
                input type="hidden" name="action" value="change";
                (field(&Field::new("new_email", "New e-mail address", "email", "email").value(&new_email).error(problems.field("new_email").or(problems.field("email")))))
                (field(&Field::new("password", "Password", "password", "current-password").error(problems.field("password"))))
                button type="submit" { "Change the address" }
            }))
        },
    )
}

/// `/account/email`: ask for a change (`action=change`) or cancel the
/// pending one (`action=cancel`).
pub async fn email<S: Store, Q: MailRequests>(
    p: &Pages<'_, S, Q>,
    visit: &Visit,
    holder: &Holder,
) -> Response<Body> {
    let signed = match signed(p, visit, holder).await {
        Ok(signed) => signed,
        Err(answer) => return answer,
    };
    let (caller, ctx) = (signed.caller, &signed.ctx);
    let pending = match p.store.find_account(caller.user_id).await {
        Ok(Some(account)) => account.pending_email,
        Ok(None) => {
            return answer_error(
                p.site,
                visit,
                DomainError::UnknownUser,
                |status, problems| problem_page(p.site, status, &problems),
            )
        }
        Err(error) => {
            return answer_error(p.site, visit, error.into(), |status, problems| {
                problem_page(p.site, status, &problems)
            })
        }
    };
    let rerender = |status, problems: Problems| {
        page(
            p.site,
            status,
            email_page(p, visit, ctx, pending.as_deref(), &problems),
            &ctx.cookies,
        )
    };
    if visit.method == Method::GET {
        return rerender(StatusCode::OK, visit.problems());
    }
    let now = Timestamp::now();
    if visit.field("action") == "cancel" {
        return match recovery::cancel_email_change(p.store, caller, now).await {
            Ok(_) => redirect(p.site, "/account?notice=cancelled", &[]),
            Err(error) => answer_error(p.site, visit, error, rerender),
        };
    }
    let body = visit.fields_as_json(&["password", "new_email"]);
    let (password, new_email) = match crate::http::bodies::email_change(&body) {
        Ok(parsed) => parsed,
        Err(errors) => {
            return rerender(
                StatusCode::UNPROCESSABLE_ENTITY,
                Problems::of_fields(errors),
            )
        }
    };
    match recovery::change_email(
        p.store,
        p.queue,
        p.mail_policy,
        caller,
        password,
        new_email,
        now,
    )
    .await
    {
        Ok(()) => {
            let notice = match p.mail_policy.email_change_confirmation {
                EmailChangeConfirmation::Both => "email",
                EmailChangeConfirmation::New => "email-new",
            };
            redirect(p.site, &format!("/account?notice={notice}"), &[])
        }
        Err(DomainError::InvalidCredentials) => {
            let mut problems = Problems::default();
            problems
                .fields
                .insert("password".into(), "The password is wrong.".into());
            rerender(StatusCode::UNAUTHORIZED, problems)
        }
        Err(error) => answer_error(p.site, visit, error, rerender),
    }
}

/// What the second-factor page shows after an action.
enum MfaShown {
    /// The state, with its forms.
    State,
    /// A new factor to scan, and the form that confirms it.
    Enrolled(mfa::Enrolment),
    /// Recovery codes, shown this once.
    Codes(Vec<String>),
}

fn mfa_page(
    p: &Pages<'_, impl Store, impl MailRequests>,
    ctx: &Ctx,
    on: bool,
    shown: &MfaShown,
    problems: &Problems,
) -> Markup {
    use base64::Engine;
    let body = match shown {
        MfaShown::Codes(codes) => {
            let text: String = codes.iter().map(|code| format!("{code}\r\n")).collect();
            let href = format!("data:text/plain;charset=utf-8,{}", percent(&text));
            html! {
                p.notice role="status" { "Two-step sign-in is on. Save these recovery codes now: each signs you in once without your app, and they are not shown again." }
                (views::recovery_codes_list(codes))
                p { a href=(href) download="recovery-codes.txt" { "Download the codes as a text file" } }
                p { a href="/account" { "Done: back to your account" } }
            }
        }
        MfaShown::Enrolled(enrolment) => {
            let qr = format!(
                "data:image/svg+xml;base64,{}",
                base64::engine::general_purpose::STANDARD.encode(&enrolment.qr_svg)
            );
            html! {
                p { "Scan this code with your authenticator app, or type the key below into it. Then enter the 6-digit code it shows." }
                img.qr src=(qr) alt="QR code of the key for your authenticator app" width="200" height="200";
                p { "Key: " code.secret id="totp-secret" { (enrolment.secret_base32) } }
                (views::alert(problems.form.as_deref()))
                (form("/account/mfa", &ctx.csrf, html! {
                    input type="hidden" name="action" value="confirm";
                    (field(&Field::new("code", "Code from the app", "text", "one-time-code").error(problems.field("code"))))
                    button type="submit" { "Turn on two-step sign-in" }
                }))
            }
        }
        MfaShown::State if on => html! {
            p { "Two-step sign-in is on: signing in asks for a code of your authenticator app, or a recovery code." }
            (views::alert(problems.form.as_deref()))
            h2 { "New recovery codes" }
            p { "The old codes stop working." }
            (form("/account/mfa", &ctx.csrf, html! {
                input type="hidden" name="action" value="regenerate";
                (field(&Field::new("code", "Code from the app", "text", "one-time-code").error(problems.field("code"))))
                button.secondary type="submit" { "Make new recovery codes" }
            }))
            h2 { "Turn it off" }
            (form("/account/mfa", &ctx.csrf, html! {
                input type="hidden" name="action" value="disable";
                (field(&Field::new("password", "Password", "password", "current-password").error(problems.field("password"))))
                (field(&Field::new("disable_code", "Code from the app, or a recovery code", "text", "one-time-code").error(problems.field("disable_code"))))
                button.danger type="submit" { "Turn off two-step sign-in" }
            }))
        },
        MfaShown::State => html! {
            p { "With two-step sign-in, signing in also asks for a code of an authenticator app on your phone." }
            (views::alert(problems.form.as_deref()))
            (form("/account/mfa", &ctx.csrf, html! {
                input type="hidden" name="action" value="enrol";
                (field(&Field::new("password", "Password", "password", "current-password").error(problems.field("password"))))
                button type="submit" { "Set up two-step sign-in" }
            }))
        },
    };
    layout(p.site, "Two-step sign-in", true, body)
}

/// Percent-encodes a recovery-code file for a `data:` link.
fn percent(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' => (byte as char).to_string(),
            _ => format!("%{byte:02X}"),
        })
        .collect()
}

/// `/account/mfa`: enrol (password), confirm (code; shows the recovery
/// codes), regenerate codes (code), disable (password and code). Each needs
/// a recent sign-in: else sign in again and come back.
pub async fn mfa<S: Store, Q: MailRequests>(
    p: &Pages<'_, S, Q>,
    visit: &Visit,
    holder: &Holder,
) -> Response<Body> {
    let signed = match signed(p, visit, holder).await {
        Ok(signed) => signed,
        Err(answer) => return answer,
    };
    let (caller, ctx) = (signed.caller, &signed.ctx);
    let on = match p.store.mfa_account(caller.user_id).await {
        Ok(account) => account
            .and_then(|account| account.factor)
            .is_some_and(|factor| factor.confirmed),
        Err(error) => {
            return answer_error(p.site, visit, error.into(), |status, problems| {
                problem_page(p.site, status, &problems)
            })
        }
    };
    let show = |status, shown: &MfaShown, problems: &Problems| {
        page(
            p.site,
            status,
            mfa_page(p, ctx, on, shown, problems),
            &ctx.cookies,
        )
    };
    if visit.method == Method::GET {
        return show(StatusCode::OK, &MfaShown::State, &visit.problems());
    }
    let now = Timestamp::now();
    let field_problem = |name: &str, text: &str| {
        let mut problems = Problems::default();
        problems.fields.insert(name.into(), text.into());
        problems
    };
    let password = || Password::parse_for_login(visit.field("password").to_string());
    match visit.field("action") {
        "enrol" => {
            let Ok(password) = password() else {
                return show(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    &MfaShown::State,
                    &field_problem("password", "Enter your password."),
                );
            };
            match mfa::enrol(p.store, p.queue, p.mfa, caller, password, now).await {
                Ok(enrolment) => show(
                    StatusCode::OK,
                    &MfaShown::Enrolled(enrolment),
                    &visit.problems(),
                ),
                Err(DomainError::InvalidCredentials) => show(
                    StatusCode::UNAUTHORIZED,
                    &MfaShown::State,
                    &field_problem("password", "The password is wrong."),
                ),
                Err(error) => answer_error(p.site, visit, error, |status, problems| {
                    show(status, &MfaShown::State, &problems)
                }),
            }
        }
        "confirm" => {
            let code = visit.field("code").trim().to_string();
            match mfa::confirm(p.store, p.queue, p.mfa, caller, code, now).await {
                Ok(codes) => show(StatusCode::OK, &MfaShown::Codes(codes), &visit.problems()),
                Err(DomainError::InvalidMfaCode) => show(
                    StatusCode::UNAUTHORIZED,
                    &MfaShown::State,
                    &Problems::form(
                        "The code was wrong: set up again, and enter the code your app shows.",
                    ),
                ),
                Err(error) => answer_error(p.site, visit, error, |status, problems| {
                    show(status, &MfaShown::State, &problems)
                }),
            }
        }
        "regenerate" => {
            let code = visit.field("code").trim().to_string();
            match mfa::regenerate_recovery_codes(p.store, p.queue, p.mfa, caller, code, now).await {
                Ok(codes) => show(StatusCode::OK, &MfaShown::Codes(codes), &visit.problems()),
                Err(error) => answer_error(p.site, visit, error, |status, problems| {
                    show(status, &MfaShown::State, &problems)
                }),
            }
        }
        "disable" => {
            let Ok(password) = password() else {
                return show(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    &MfaShown::State,
                    &field_problem("password", "Enter your password."),
                );
            };
            let Some(proof) = proof(visit.field("disable_code")) else {
                return show(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    &MfaShown::State,
                    &field_problem(
                        "disable_code",
                        "Enter a code of your app or a recovery code.",
                    ),
                );
            };
            let proof: Proof = proof;
            match mfa::disable(p.store, p.queue, p.mfa, caller, password, proof, now).await {
                Ok(()) => redirect(p.site, "/account?notice=mfa-off", &[]),
                Err(DomainError::InvalidCredentials) => show(
                    StatusCode::UNAUTHORIZED,
                    &MfaShown::State,
                    &field_problem("password", "The password is wrong."),
                ),
                Err(DomainError::InvalidMfaCode) => show(
                    StatusCode::UNAUTHORIZED,
                    &MfaShown::State,
                    &field_problem("disable_code", "The code is wrong or was used already."),
                ),
                Err(error) => answer_error(p.site, visit, error, |status, problems| {
                    show(status, &MfaShown::State, &problems)
                }),
            }
        }
        _ => show(
            StatusCode::UNPROCESSABLE_ENTITY,
            &MfaShown::State,
            &Problems::form("Choose one of the buttons."),
        ),
    }
}

/// A browser and system, roughly, from a `User-Agent`.
fn device_name(user_agent: Option<&str>) -> String {
    let Some(agent) = user_agent else {
        return "Unknown device".into();
    };
    let browser = [
        ("Edg/", "Edge"),
        ("Firefox/", "Firefox"),
        ("Chrome/", "Chrome"),
        ("Safari/", "Safari"),
        ("curl/", "curl"),
    ]
    .iter()
    .find(|(mark, _)| agent.contains(mark))
    .map(|(_, name)| *name);
    let system = [
        ("Android", "Android"),
        ("iPhone", "iPhone"),
        ("iPad", "iPad"),
        ("Windows", "Windows"),
        ("Mac OS X", "macOS"),
        ("Linux", "Linux"),
    ]
    .iter()
    .find(|(mark, _)| agent.contains(mark))
    .map(|(_, name)| *name);
    match (browser, system) {
        (Some(browser), Some(system)) => format!("{browser} on {system}"),
        (Some(name), None) | (None, Some(name)) => name.to_string(),
        (None, None) => agent.chars().take(60).collect(),
    }
}

fn when(instant: Timestamp) -> String {
    let text = mongodb::bson::DateTime::from_millis(instant.as_millis())
        .try_to_rfc3339_string()
        .unwrap_or_default();
    format!(
        "{} UTC",
        text.get(..16).unwrap_or_default().replace('T', " ")
    )
}

/// `/account/sessions`: the devices (the API's sessions, this browser's
/// among them); end one (`action=end`, `session`), or all (`action=all`).
pub async fn sessions_page<S: Store, Q: MailRequests>(
    p: &Pages<'_, S, Q>,
    visit: &Visit,
    holder: &Holder,
) -> Response<Body> {
    let signed = match signed(p, visit, holder).await {
        Ok(signed) => signed,
        Err(answer) => return answer,
    };
    let (caller, ctx) = (signed.caller, &signed.ctx);
    let now = Timestamp::now();
    if visit.method == Method::POST {
        let signed_out = || {
            redirect(
                p.site,
                "/signin?notice=everywhere",
                &[p.site.set_cookie(SESSION_COOKIE, "", 0)],
            )
        };
        if visit.field("action") == "all" {
            return match sessions::logout_all(p.store, caller, now).await {
                Ok(_) => signed_out(),
                Err(error) => answer_error(p.site, visit, error, |status, problems| {
                    problem_page(p.site, status, &problems)
                }),
            };
        }
        let Ok(session) = SessionId::parse(visit.field("session")) else {
            return redirect(p.site, "/account/sessions", &[]);
        };
        return match devices::end_session(p.store, caller, session, now).await {
            Ok(()) if session == caller.session_id => redirect(
                p.site,
                "/signin?notice=signed-out",
                &[p.site.set_cookie(SESSION_COOKIE, "", 0)],
            ),
            Ok(()) | Err(DomainError::SessionNotFound) => {
                redirect(p.site, "/account/sessions", &[])
            }
            Err(error) => answer_error(p.site, visit, error, |status, problems| {
                problem_page(p.site, status, &problems)
            }),
        };
    }
    let (listed, truncated) = match devices::list_sessions(p.store, caller, now).await {
        Ok(listed) => listed,
        Err(error) => {
            return answer_error(p.site, visit, error, |status, problems| {
                problem_page(p.site, status, &problems)
            })
        }
    };
    let markup = layout(
        p.site,
        "Your devices",
        true,
        html! {
            p { "Every device and app signed in to your account." }
            ul.devices {
                @for entry in &listed {
                    @let session = &entry.session;
                    li {
                        strong { (device_name(session.last_used_from.user_agent.as_deref())) }
                        @if entry.current { " (this device)" }
                        br;
                        "Address: " (session.last_used_from.source_ip.as_deref().unwrap_or("unknown"))
                        br;
                        "Signed in: " (when(session.created_at)) ", last used: " (when(session.last_used_at))
                        @if !entry.current {
                            (form("/account/sessions", &ctx.csrf, html! {
                                input type="hidden" name="action" value="end";
                                input type="hidden" name="session" value=(session.id.to_hex());
                                button.secondary type="submit" aria-label={ "Sign out this device: " (device_name(session.last_used_from.user_agent.as_deref())) ", signed in " (when(session.created_at)) } { "Sign out this device" }
                            }))
                        }
                    }
                }
            }
            @if truncated { p.hint { "Only the newest devices are listed." } }
            h2 { "Everywhere" }
            (form("/account/sessions", &ctx.csrf, html! {
                input type="hidden" name="action" value="all";
                button.danger type="submit" { "Sign out every device, this one too" }
            }))
        },
    );
    page(p.site, StatusCode::OK, markup, &ctx.cookies)
}

fn delete_page(
    p: &Pages<'_, impl Store, impl MailRequests>,
    ctx: &Ctx,
    problems: &Problems,
) -> Markup {
    layout(
        p.site,
        "Delete your account",
        true,
        html! {
            (super::deletion::delete_warning(p.deletion_grace))
            (views::alert(problems.form.as_deref()))
            (form("/account/delete", &ctx.csrf, html! {
                (field(&Field::new("password", "Password", "password", "current-password").error(problems.field("password"))))
                button.danger type="submit" { "Delete my account" }
            }))
        },
    )
}

/// `/account/delete`: with the password again.
pub async fn delete<S: Store, Q: MailRequests>(
    p: &Pages<'_, S, Q>,
    visit: &Visit,
    holder: &Holder,
) -> Response<Body> {
    let signed = match signed(p, visit, holder).await {
        Ok(signed) => signed,
        Err(answer) => return answer,
    };
    let (caller, ctx) = (signed.caller, &signed.ctx);
    let rerender = |status, problems: Problems| {
        page(p.site, status, delete_page(p, ctx, &problems), &ctx.cookies)
    };
    if visit.method == Method::GET {
        return rerender(StatusCode::OK, visit.problems());
    }
    let wrong = |text: &str| {
        let mut problems = Problems::default();
        problems.fields.insert("password".into(), text.into());
        problems
    };
    let Ok(password) = Password::parse_for_login(visit.field("password").to_string()) else {
        return rerender(
            StatusCode::UNPROCESSABLE_ENTITY,
            wrong("Enter your password."),
        );
    };
    let now = Timestamp::now();
    let deleted = async {
        let account = p
            .store
            .find_account(caller.user_id)
            .await?
            .ok_or(DomainError::UnknownUser)?;
        // The login throttle's re-authentication: a wrong password counts.
        login::check_password(
            p.store,
            &account.email,
            &account.hashed_password,
            password,
            now,
        )
        .await?;
        let (grace, trust) = (p.deletion_grace, p.links.trust());
        deletion::request_deletion(p.store, p.queue, caller, grace, now, trust).await
    };
    match deleted.await {
        Ok(outcome) => redirect(
            p.site,
            match outcome {
                DeletionOutcome::Deleted => "/signin?notice=deleted",
                DeletionOutcome::Scheduled { .. } => "/signin?notice=scheduled",
            },
            &[p.site.set_cookie(SESSION_COOKIE, "", 0)],
        ),
        Err(DomainError::InvalidCredentials) => {
            rerender(StatusCode::UNAUTHORIZED, wrong("The password is wrong."))
        }
        Err(error) => answer_error(p.site, visit, error, rerender),
    }
}
