//! `/account/export` (issue #24): a page that says what the export holds and
//! a button whose POST downloads it (the same use case as
//! `GET /users/{user_id}/export`: a recent sign-in, 3 an hour).

use lambda_http::http::{header, HeaderValue, Method, StatusCode};
use lambda_http::{Body, Response};
use maud::{html, Markup};

use super::session::signed;
use super::views::{self, form, layout};
use super::web::{answer_error, download, page, Ctx, Holder, Pages, Problems, Store, Visit};
use crate::domain::export;
use crate::domain::ports::MailRequests;
use crate::domain::values::Timestamp;

pub const EXPORT: &str = "/account/export";

fn export_page(
    p: &Pages<'_, impl Store, impl MailRequests>,
    ctx: &Ctx,
    problems: &Problems,
) -> Markup {
    layout(
        p.site,
        "Download your data",
        true,
        html! {
            p { "One JSON file with your profile, the data linked to your account, your signed-in devices, your two-step sign-in (whether it is on, never its secret), and the apps you allowed. It holds no password and no key." }
            p.hint { "For your safety this needs a recent sign-in, and works a few times an hour." }
            (views::alert(problems.form.as_deref()))
            (form(EXPORT, &ctx.csrf, html! {
                button type="submit" { "Download my data" }
            }))
        },
    )
}

pub async fn export_page_or_file<S: Store, Q: MailRequests>(
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
        page(p.site, status, export_page(p, ctx, &problems), &ctx.cookies)
    };
    if visit.method == Method::GET {
        return rerender(StatusCode::OK, visit.problems());
    }
    let now = Timestamp::now();
    let settings = export::ExportSettings {
        step_up_max_age: p.mfa.step_up_max_age,
        ..Default::default()
    };
    match export::export_account(p.store, caller, &settings, now, p.links.trust()).await {
        Ok(text) => {
            let mut response = download(p.site, "account-export.json", text);
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            response
        }
        Err(error) => answer_error(p.site, visit, error, rerender),
    }
}
