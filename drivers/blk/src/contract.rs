//! Checks every `BlockDevice` implementation must pass, and test helpers.

/// The seed for one test run: `FLOE_SEED` if set (to replay a failure),
/// else a fresh one. Printed first either way, so a failure can be replayed.
pub fn test_seed() -> u64 {
    let seed = match std::env::var("FLOE_SEED") {
        Ok(text) => match text.trim().parse() {
            Ok(seed) => seed,
            Err(e) => panic!("FLOE_SEED={text:?}: expected an unsigned 64-bit integer ({e})"),
        },
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|elapsed| elapsed.as_nanos() as u64)
            .unwrap_or(0),
    };
    eprintln!("FLOE_SEED={seed}");
    seed
}
