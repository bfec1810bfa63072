//! The pages' HTML, compiled into the binary (maud): every interpolated
//! value is escaped. No script, no inline style attribute: the one
//! stylesheet is a `<style>` element whose hash the policy names.

use maud::{html, Markup, PreEscaped, DOCTYPE};

use super::site::Site;

/// What a field shows: its label, what was typed (never for passwords), its
/// error, a hint.
pub struct Field<'a> {
    pub name: &'a str,
    pub label: &'a str,
    pub kind: &'a str,
    pub autocomplete: &'a str,
    pub value: &'a str,
    pub error: Option<&'a str>,
    pub hint: Option<&'a str>,
}

impl<'a> Field<'a> {
    pub fn new(name: &'a str, label: &'a str, kind: &'a str, autocomplete: &'a str) -> Self {
        Self {
            name,
            label,
            kind,
            autocomplete,
            value: "",
            error: None,
            hint: None,
        }
    }

    pub fn value(mut self, value: &'a str) -> Self {
        self.value = value;
        self
    }

    pub fn error(mut self, error: Option<&'a str>) -> Self {
        self.error = error;
        self
    }

    pub fn hint(mut self, hint: &'a str) -> Self {
        self.hint = Some(hint);
        self
    }
}

/// A labelled input; its error and hint are tied to it (`aria-describedby`).
pub fn field(field: &Field) -> Markup {
    let error_id = format!("{}-error", field.name);
    let hint_id = format!("{}-hint", field.name);
    let mut described = Vec::new();
    if field.error.is_some() {
        described.push(error_id.as_str());
    }
    if field.hint.is_some() {
        described.push(hint_id.as_str());
    }
    let described = described.join(" ");
    let value = if field.kind == "password" {
        ""
    } else {
        field.value
    };
    html! {
        label for=(field.name) { (field.label) }
        input type=(field.kind) id=(field.name) name=(field.name) value=(value)
            autocomplete=(field.autocomplete) required
            aria-invalid=[field.error.map(|_| "true")]
            aria-describedby=[(!described.is_empty()).then_some(described.as_str())]
            spellcheck=[(field.kind != "password").then_some("false")]
            autocapitalize="none";
        @if let Some(error) = field.error {
            p.error id=(error_id) { (error) }
        }
        @if let Some(hint) = field.hint {
            p.hint id=(hint_id) { (hint) }
        }
    }
}

/// A form that POSTs to `action` with the CSRF token.
pub fn form(action: &str, csrf: &str, body: Markup) -> Markup {
    html! {
        form method="post" action=(action) novalidate {
            input type="hidden" name="csrf" value=(csrf);
            (body)
        }
    }
}

pub fn layout(site: &Site, title: &str, signed_in: bool, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="referrer" content="no-referrer";
                title { (title) " · " (site.name) }
                style { (PreEscaped(&site.style)) }
            }
            body {
                header {
                    @if let Some(logo) = &site.logo_url {
                        img src=(logo) alt="";
                    }
                    a.site href=(if signed_in { "/account" } else { "/signin" }) { (site.name) }
                    nav aria-label="Account" {
                        @if signed_in {
                            a href="/account" { "Account" }
                            a href="/signout" { "Sign out" }
                        } @else {
                            a href="/signin" { "Sign in" }
                            a href="/signup" { "Create an account" }
                        }
                    }
                }
                main {
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
}

pub fn notice(text: Option<&str>) -> Markup {
    html! {
        @if let Some(text) = text {
            p.notice role="status" { (text) }
        }
    }
}

pub fn alert(text: Option<&str>) -> Markup {
    html! {
        @if let Some(text) = text {
            p.alert role="alert" { (text) }
        }
    }
}

/// A page with a message and a link onwards.
pub fn message(
    site: &Site,
    signed_in: bool,
    title: &str,
    text: &str,
    link: (&str, &str),
) -> Markup {
    layout(
        site,
        title,
        signed_in,
        html! {
            p { (text) }
            p { a href=(link.0) { (link.1) } }
        },
    )
}

pub fn refused(site: &Site, cross_site: bool) -> Markup {
    let text = if cross_site {
        "This form was sent from another site, so it was not accepted."
    } else {
        "This form has expired or was not sent from this site's own page, so it was not accepted. Go back, reload the page and try again."
    };
    message(
        site,
        false,
        "Form not accepted",
        text,
        ("/signin", "Go to sign-in"),
    )
}

pub fn not_found(site: &Site) -> Markup {
    message(
        site,
        false,
        "Page not found",
        "There is no page at this address.",
        ("/signin", "Go to sign-in"),
    )
}

pub fn failure(site: &Site) -> Markup {
    message(
        site,
        false,
        "Something went wrong on our side",
        "Nothing you did caused this. Please try again in a moment.",
        ("/signin", "Go to sign-in"),
    )
}

pub fn recovery_codes_list(codes: &[String]) -> Markup {
    html! {
        ul.codes aria-label="Recovery codes" {
            @for code in codes { li { code { (code) } } }
        }
    }
}
