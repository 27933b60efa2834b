//! Who is at the other end of a control connection, and how long a client
//! waits for the service's first answer.

use std::os::unix::net::UnixStream;
use std::time::Duration;

/// How long a client waits for the service to answer its Hello. A service
/// that is up answers in well under a millisecond; one that does not answer
/// in this time is stopped (SIGSTOP, a debugger) or stuck, and waiting the
/// full call bound (30 s) for it only delays the error.
pub const HELLO_TIMEOUT: Duration = Duration::from_secs(5);

/// The pid of the process at the other end of `stream` (`SO_PEERCRED`).
///
/// # Examples
/// ```
/// let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
/// assert_eq!(ringlog_ring::protocol::peer::peer_pid(&a), Some(std::process::id()));
/// ```
pub fn peer_pid(stream: &UnixStream) -> Option<u32> {
    rustix::net::sockopt::socket_peercred(stream).ok().map(|c| c.pid.as_raw_nonzero().get() as u32)
}

/// Whether an I/O error is a read or write timeout (`SO_RCVTIMEO` reports
/// `EAGAIN`/`EWOULDBLOCK`, which print as "Resource temporarily unavailable").
pub fn is_timeout(e: &std::io::Error) -> bool {
    matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut)
}

/// The message for a service that accepted the connection but did not answer.
///
/// # Examples
/// ```
/// let m = ringlog_ring::protocol::peer::not_answering("/run/x.sock", Some(42));
/// assert!(m.contains("pid 42") && m.contains("kill -CONT 42"));
/// ```
pub fn not_answering(socket: &str, pid: Option<u32>) -> String {
    match pid {
        Some(pid) => format!(
            "the ringlog service at pid {pid} ({socket}) does not answer within {}s: it is stopped (SIGSTOP, a \
             debugger) or stuck; resume it with `kill -CONT {pid}`, or kill it (a new one starts on the next call)",
            HELLO_TIMEOUT.as_secs()
        ),
        None => format!(
            "the ringlog service at {socket} does not answer within {}s: it is stopped or stuck; kill it (a new one \
             starts on the next call)",
            HELLO_TIMEOUT.as_secs()
        ),
    }
}
