//! Intentionally empty: the benchmark lives in `benches/lambda.rs` and `runner/`,
//! and all of its dependencies are dev-dependencies (see `Cargo.toml` for why).
//! A package needs a library or a binary target, and a binary would be packaged
//! by `cargo lambda build` as if it were a sixth function.
