//! What every page shares and nothing route-specific: the branding from
//! configuration, the stylesheet and the headers of every page response.
//! A leaf: it imports no other module of the pages.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use sha2::{Digest, Sha256};

/// The stylesheet, compiled in.
const STYLE: &str = include_str!("style.css");

/// How the pages present themselves, read once at start-up.
#[derive(Debug, Clone)]
pub struct Site {
    /// `SITE_NAME`: the title of every page.
    pub name: String,
    /// `LOGO_URL`: an https image shown in the header, if any.
    pub logo_url: Option<String>,
    /// `PUBLIC_BASE_URL`: the origin forms must come from.
    pub origin: String,
    /// Over https: `Secure` and `__Host-` cookies, HSTS.
    pub https: bool,
    /// The stylesheet with the accent colour, and its CSP hash.
    pub style: String,
    style_hash: String,
}

impl Site {
    /// `accent` must be a validated `#rgb` / `#rrggbb` colour (config.rs).
    pub fn new(
        name: String,
        logo_url: Option<String>,
        accent: Option<String>,
        public_base_url: &str,
    ) -> Self {
        let style = match accent {
            Some(accent) => STYLE.replacen("#1f5fbf", &accent, 1),
            None => STYLE.to_string(),
        };
        let style_hash = format!("'sha256-{}'", STANDARD.encode(Sha256::digest(&style)));
        Self {
            name,
            logo_url,
            origin: origin_of(public_base_url),
            https: public_base_url.starts_with("https://"),
            style,
            style_hash,
        }
    }

    /// The `Content-Security-Policy` of every page: nothing but the hashed
    /// stylesheet, scripts from this origin only (the passkeys' file, no
    /// inline script) and requests to it, images from here, `data:` (the QR
    /// code) and the logo's origin, forms to this origin only, no framing,
    /// no `<base>`.
    /// `form_action` adds one origin to `form-action`: Chromium applies it to
    /// the redirects after a POST, so a page whose POST redirects to an app
    /// (the OpenID provider's sign-in, next) passes that app's validated
    /// origin here.
    pub fn content_security_policy(&self, form_action: Option<&str>) -> String {
        let logo = self
            .logo_url
            .as_deref()
            .map(|url| format!(" {}", origin_of(url)))
            .unwrap_or_default();
        let extra = form_action
            .map(|origin| format!(" {origin}"))
            .unwrap_or_default();
        format!(
            "default-src 'none'; style-src {}; script-src 'self'; connect-src 'self'; img-src 'self' data:{logo}; form-action 'self'{extra}; \
             frame-ancestors 'none'; base-uri 'none'",
            self.style_hash
        )
    }

    /// A cookie's name: `__Host-` over https (the browser then insists on
    /// `Secure`, `Path=/` and no `Domain`: no sibling host can set it), the
    /// plain name on loopback http, where `Secure` cookies are not kept by
    /// every browser.
    pub fn cookie_name(&self, name: &str) -> String {
        if self.https {
            format!("__Host-{name}")
        } else {
            name.to_string()
        }
    }

    /// A `Set-Cookie` value: HttpOnly, SameSite=Lax, `Path=/`, `Secure`
    /// over https; `max_age` 0 deletes it.
    pub fn set_cookie(&self, name: &str, value: &str, max_age: u64) -> String {
        let secure = if self.https { "; Secure" } else { "" };
        format!(
            "{}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}",
            self.cookie_name(name)
        )
    }
}

/// `scheme://host[:port]` of an URL.
pub fn origin_of(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
            format!(
                "{}://{}",
                scheme.to_ascii_lowercase(),
                authority.to_ascii_lowercase()
            )
        }
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_pins_the_stylesheet_and_https_sites_get_host_cookies() {
        let site = Site::new(
            "Example".into(),
            Some("https://cdn.example.com/logo.png".into()),
            Some("#aa0000".into()),
            "https://auth.example.com",
        );
        assert!(site.style.contains("#aa0000"));
        let policy = site.content_security_policy(None);
        assert!(policy.starts_with("default-src 'none'; style-src 'sha256-"));
        // Scripts only as files from this origin (/passkeys.js), never inline.
        assert!(policy.contains("; script-src 'self'; connect-src 'self';"));
        assert!(!policy.contains("unsafe"));
        assert!(policy.contains("img-src 'self' data: https://cdn.example.com;"));
        assert!(policy.contains("form-action 'self';"));
        assert!(policy.contains("frame-ancestors 'none'"));
        let with_app = site.content_security_policy(Some("https://app.example.com"));
        assert!(with_app.contains("form-action 'self' https://app.example.com;"));
        assert_eq!(
            site.set_cookie("session", "v", 60),
            "__Host-session=v; Path=/; Max-Age=60; HttpOnly; SameSite=Lax; Secure"
        );
        let local = Site::new("Local".into(), None, None, "http://localhost:9000");
        assert_eq!(local.origin, "http://localhost:9000");
        assert_eq!(
            local.set_cookie("session", "v", 0),
            "session=v; Path=/; Max-Age=0; HttpOnly; SameSite=Lax"
        );
    }
}
