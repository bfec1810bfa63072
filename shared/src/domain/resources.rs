//! Resource indicators (RFC 8707, issue #22): the APIs (an MCP server, say)
//! an access token may be meant for. Each is named by an absolute URL,
//! configured in the clients document; a client asks for some with
//! `resource` (repeatable) at authorize and token, and what it gets becomes
//! the access token's `aud`, so that one API cannot replay it at another.
//!
//! Two spellings of one URL are one resource: they are compared after
//! normalising (scheme and host in lower case, the scheme's default port
//! and an empty path's trailing slash removed), so that
//! `HTTPS://MCP.Example:443/` and `https://mcp.example` match.

/// More resources than one request or token needs.
pub const MAX_RESOURCES: usize = 8;
/// The longest resource URL accepted.
pub const MAX_RESOURCE_CHARS: usize = 2048;

/// The normal form of `raw`, or `None` when it is no resource indicator:
/// not an absolute http(s) URL with a host, or with a fragment
/// (RFC 8707 §2), or with user information.
pub fn normalise(raw: &str) -> Option<String> {
    if raw.is_empty() || raw.len() > MAX_RESOURCE_CHARS {
        return None;
    }
    // The url crate lowers the scheme and host and drops a default port.
    let url = url::Url::parse(raw).ok()?;
    let usable = matches!(url.scheme(), "https" | "http")
        && url.host().is_some()
        && url.fragment().is_none()
        && url.username().is_empty()
        && url.password().is_none();
    if !usable {
        return None;
    }
    let mut normal = url.to_string();
    // The parser writes an empty path as "/": `https://a.example` and
    // `https://a.example/` name the same resource.
    if url.path() == "/" && url.query().is_none() {
        normal.pop();
    }
    Some(normal)
}

/// Why requested resources are refused (`invalid_target`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("a resource is not an absolute URL without a fragment")]
    Malformed,
    #[error("too many resources")]
    TooMany,
    #[error("a resource is not one this server issues tokens for")]
    Unknown,
}

/// `requested` (raw, in order), normalised, without duplicates, each one
/// of `allowed` (normal forms).
pub fn select(requested: &[&str], allowed: &[String]) -> Result<Vec<String>, TargetError> {
    if requested.len() > MAX_RESOURCES {
        return Err(TargetError::TooMany);
    }
    let mut selected: Vec<String> = Vec::with_capacity(requested.len());
    for raw in requested {
        let normal = normalise(raw).ok_or(TargetError::Malformed)?;
        if !allowed.contains(&normal) {
            return Err(TargetError::Unknown);
        }
        if !selected.contains(&normal) {
            selected.push(normal);
        }
    }
    Ok(selected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_of_one_url_normalise_alike() {
        for (raw, normal) in [
            ("https://mcp.example", "https://mcp.example"),
            ("https://mcp.example/", "https://mcp.example"),
            ("HTTPS://MCP.Example:443/", "https://mcp.example"),
            ("http://127.0.0.1:80/", "http://127.0.0.1"),
            ("http://127.0.0.1:8080/mcp", "http://127.0.0.1:8080/mcp"),
            ("https://mcp.example/mcp/", "https://mcp.example/mcp/"),
            ("https://mcp.example:8443/a", "https://mcp.example:8443/a"),
            ("https://mcp.example/?x=1", "https://mcp.example/?x=1"),
        ] {
            assert_eq!(normalise(raw).as_deref(), Some(normal), "{raw}");
        }
        for refused in [
            "",
            "mcp.example",
            "/relative",
            "https://mcp.example/#f",
            "urn:example:api",
            "ftp://mcp.example/",
            "https://user@mcp.example/",
        ] {
            assert_eq!(normalise(refused), None, "{refused}");
        }
    }

    #[test]
    fn only_configured_resources_are_selected_once_each() {
        let allowed = vec![
            "https://mcp.example".to_string(),
            "https://api.example/v1".to_string(),
        ];
        assert_eq!(
            select(&["https://MCP.example/", "https://mcp.example"], &allowed).unwrap(),
            vec!["https://mcp.example".to_string()]
        );
        assert_eq!(
            select(&["https://other.example"], &allowed),
            Err(TargetError::Unknown)
        );
        assert_eq!(
            select(&["https://api.example/v1/"], &allowed),
            Err(TargetError::Unknown)
        );
        assert_eq!(select(&["#"], &allowed), Err(TargetError::Malformed));
        assert_eq!(
            select(&["https://mcp.example"; 9], &allowed),
            Err(TargetError::TooMany)
        );
        assert!(select(&[], &allowed).unwrap().is_empty());
    }
}
