//! The size of a function's zip and of its `bootstrap`, as `make build`
//! leaves them: what the report's size column shows.

use std::path::Path;

/// `(zip size, uncompressed size of its `bootstrap` entry)`, read from the
/// zip's central directory.
pub fn zip_sizes(path: &Path) -> Result<(u64, u64), String> {
    let bytes = std::fs::read(path).map_err(|error| error.to_string())?;
    let u16_at = |at: usize| u16::from_le_bytes([bytes[at], bytes[at + 1]]) as usize;
    let u32_at =
        |at: usize| u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
    let end = (0..bytes.len().saturating_sub(21))
        .rev()
        .find(|&at| bytes[at..at + 4] == [0x50, 0x4b, 0x05, 0x06])
        .ok_or("not a zip file")?;
    let entries = u16_at(end + 10);
    let mut at = u32_at(end + 16) as usize;
    for _ in 0..entries {
        if at + 46 > bytes.len() || bytes[at..at + 4] != [0x50, 0x4b, 0x01, 0x02] {
            return Err("corrupt central directory".into());
        }
        let name_len = u16_at(at + 28);
        let name = &bytes[at + 46..at + 46 + name_len];
        if name == b"bootstrap" {
            return Ok((bytes.len() as u64, u64::from(u32_at(at + 24))));
        }
        at += 46 + name_len + u16_at(at + 30) + u16_at(at + 32);
    }
    Err("no bootstrap entry".into())
}
