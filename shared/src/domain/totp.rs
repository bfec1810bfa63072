//! RFC 6238 time-based one-time passwords as authenticator apps compute
//! them: HMAC-SHA-1, 6 digits, 30-second steps, one step of drift each way.
//! SHA-1 is what every app supports; HOTP's use of it (RFC 4226) relies on
//! HMAC, which SHA-1's collisions do not break.

use ring::hmac;

/// Seconds per time step.
pub const STEP_SECONDS: u64 = 30;
pub const DIGITS: u32 = 6;
/// Steps accepted either side of the current one (clock drift, typing time).
pub const DRIFT_STEPS: u64 = 1;
/// 160 bits, the HMAC-SHA-1 block's natural key size (RFC 4226 §4).
pub const SECRET_BYTES: usize = 20;

/// The time step of `unix_seconds`.
pub fn step_at(unix_seconds: u64) -> u64 {
    unix_seconds / STEP_SECONDS
}

/// The code of `step` with `digits` digits (RFC 4226 §5.3 dynamic truncation).
fn hotp(secret: &[u8], step: u64, digits: u32) -> u32 {
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret);
    let mac = hmac::sign(&key, &step.to_be_bytes());
    let mac = mac.as_ref();
    let offset = usize::from(mac[mac.len() - 1] & 0x0f);
    let binary = u32::from_be_bytes([
        mac[offset],
        mac[offset + 1],
        mac[offset + 2],
        mac[offset + 3],
    ]) & 0x7fff_ffff;
    binary % 10_u32.pow(digits)
}

/// The six-digit code of `step`, zero-padded.
pub fn code(secret: &[u8], step: u64) -> String {
    format!("{:06}", hotp(secret, step, DIGITS))
}

/// The step within the drift window around `unix_seconds` whose code is
/// `presented`, latest first. Every candidate is computed and compared in
/// constant time, so the timing tells nothing about which step (if any) matched.
pub fn matching_step(secret: &[u8], presented: &str, unix_seconds: u64) -> Option<u64> {
    let now = step_at(unix_seconds);
    let mut found = None;
    for step in now.saturating_sub(DRIFT_STEPS)..=now + DRIFT_STEPS {
        let expected = code(secret, step);
        if constant_time_eq(expected.as_bytes(), presented.as_bytes()) {
            found = Some(step);
        }
    }
    found
}

/// Equal, compared without an early exit (lengths are not secret here).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// RFC 4648 base32 without padding: how authenticator apps take secrets.
pub fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &byte in bytes {
        buffer = (buffer << 8) | u32::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(ALPHABET[((buffer >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(ALPHABET[((buffer << (5 - bits)) & 31) as usize]));
    }
    out
}

/// The `otpauth://` URI (Google Authenticator's key-URI format) that apps scan.
pub fn otpauth_uri(issuer: &str, account: &str, secret_base32: &str) -> String {
    let (issuer, account) = (percent_encode(issuer), percent_encode(account));
    format!(
        "otpauth://totp/{issuer}:{account}?secret={secret_base32}&issuer={issuer}\
         &algorithm=SHA1&digits={DIGITS}&period={STEP_SECONDS}"
    )
}

fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(byte).to_string()
            }
            _ => format!("%{byte:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B, SHA-1 rows (8 digits, the RFC's own seed).
    #[test]
    fn rfc6238_appendix_b_vectors() {
        let seed = b"12345678901234567890";
        let vectors = [
            (59, 94_287_082),
            (1_111_111_109, 7_081_804),
            (1_111_111_111, 14_050_471),
            (1_234_567_890, 89_005_924),
            (2_000_000_000, 69_279_037),
            (20_000_000_000, 65_353_130),
        ];
        for (time, expected) in vectors {
            assert_eq!(hotp(seed, step_at(time), 8), expected, "T = {time}");
            // Six digits are the last six of the eight.
            assert_eq!(
                code(seed, step_at(time)),
                format!("{:06}", expected % 1_000_000)
            );
        }
    }

    #[test]
    fn the_drift_window_is_one_step_each_way() {
        let secret = [7u8; SECRET_BYTES];
        let now = 1_700_000_015;
        let step = step_at(now);
        for (offset, accepted) in [(-2i64, false), (-1, true), (0, true), (1, true), (2, false)] {
            let candidate = (step as i64 + offset) as u64;
            let found = matching_step(&secret, &code(&secret, candidate), now);
            assert_eq!(found.is_some(), accepted, "offset {offset}");
            if accepted {
                assert_eq!(found, Some(candidate));
            }
        }
        assert_eq!(matching_step(&secret, "12345", now), None);
        assert_eq!(matching_step(&secret, "", now), None);
    }

    #[test]
    fn base32_is_rfc4648() {
        // RFC 4648 §10, without padding.
        for (input, expected) in [
            ("", ""),
            ("f", "MY"),
            ("fo", "MZXQ"),
            ("foo", "MZXW6"),
            ("foob", "MZXW6YQ"),
            ("fooba", "MZXW6YTB"),
            ("foobar", "MZXW6YTBOI"),
        ] {
            assert_eq!(base32(input.as_bytes()), expected);
        }
    }

    #[test]
    fn the_uri_escapes_issuer_and_account() {
        let uri = otpauth_uri("User API", "ada@example.com", "MZXW6");
        assert_eq!(
            uri,
            "otpauth://totp/User%20API:ada%40example.com?secret=MZXW6&issuer=User%20API\
             &algorithm=SHA1&digits=6&period=30"
        );
    }
}
