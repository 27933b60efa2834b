//! Helpers shared by the integration tests: spawning the real helper
//! binaries with bounded waits.

use std::process::{Child, ExitStatus};
use std::time::{Duration, Instant};

/// Waits for `child` at most `limit`; kills it and panics with `what` if it
/// is still running then.
///
/// # Panics
/// On timeout or if waiting fails.
pub fn wait_bounded(child: &mut Child, limit: Duration, what: &str) -> ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} still running after {limit:?}; killed");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}
