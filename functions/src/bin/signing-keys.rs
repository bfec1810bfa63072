//! A local tool, not a Lambda function: creates or rotates the key set of
//! `make dev` in files, with the rotation's own code (`make rotate-keys`).
//!
//!     signing-keys <signing-keys.json> <public-keys.json>

use users_core::rotation::rotate_files;

fn main() -> Result<(), String> {
    let paths: Vec<String> = std::env::args().skip(1).collect();
    let [signing, public] = paths.as_slice() else {
        return Err("usage: signing-keys <signing-keys.json> <public-keys.json>".into());
    };
    let set = rotate_files(signing.as_ref(), public.as_ref())?;
    for key in &set.keys {
        println!("{:?} {}", key.state, key.kid);
    }
    Ok(())
}
