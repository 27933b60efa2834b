//! A supervised child process: its stdout lines arrive on a channel, its stdin
//! takes command lines, and it is killed and reaped if dropped before it exits.
//!
//! Every wait is bounded: [`recv`] takes a deadline and [`ChildProcess::wait`]
//! a timeout, so a child that hangs fails the run instead of the benchmark.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use crate::error::BenchResult;

/// A line from a child's stdout, or the end of it; `T` says which child.
#[derive(Debug)]
pub enum Event<T> {
    /// One line, without its newline.
    Line(T, String),
    /// The child closed its stdout (it exited, at the latest).
    Closed(T),
}

/// A running child whose stdout is forwarded as [`Event`]s.
#[derive(Debug)]
pub struct ChildProcess {
    name: String,
    child: Child,
    stdin: Option<ChildStdin>,
    reaped: bool,
}

/// Forwards a child's stdout lines to `tx` from a helper thread (which ends
/// when the child closes its stdout, at exit at the latest).
fn forward_lines<T: Copy + Send + 'static>(tag: T, stdout: ChildStdout, tx: Sender<Event<T>>) {
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(Event::Line(tag, line)).is_err() {
                return;
            }
        }
        let _ = tx.send(Event::Closed(tag));
    });
}

impl ChildProcess {
    /// Starts `command` with piped stdin and stdout (stderr inherited) and
    /// forwards its stdout lines to `tx`, tagged with `tag`.
    ///
    /// # Errors
    /// If the process cannot be started.
    pub fn spawn<T: Copy + Send + 'static>(
        name: impl Into<String>,
        mut command: Command,
        tag: T,
        tx: &Sender<Event<T>>,
    ) -> BenchResult<Self> {
        let name = name.into();
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("cannot start the {name} process: {e}"))?;
        let stdout = child.stdout.take().ok_or("child stdout missing")?;
        let stdin = child.stdin.take();
        forward_lines(tag, stdout, tx.clone());
        Ok(Self { name, child, stdin, reaped: false })
    }

    /// The name used in messages.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Writes `line` and a newline to the child's stdin.
    ///
    /// # Errors
    /// If the child's stdin is closed (it exited).
    pub fn send_line(&mut self, line: &str) -> BenchResult<()> {
        let stdin = self.stdin.as_mut().ok_or_else(|| format!("{}: stdin already closed", self.name))?;
        writeln!(stdin, "{line}")
            .and_then(|()| stdin.flush())
            .map_err(|e| format!("cannot write to the {} process: {e}", self.name).into())
    }

    /// Waits at most `timeout` for the child to exit.
    ///
    /// # Errors
    /// If it is still running then, or waiting fails.
    pub fn wait(&mut self, timeout: Duration) -> BenchResult<ExitStatus> {
        self.stdin = None; // EOF on its stdin: a child waiting for a command gives up
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait()? {
                self.reaped = true;
                return Ok(status);
            }
            if Instant::now() >= deadline {
                return Err(format!("{} did not exit within {timeout:?}", self.name).into());
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Waits at most `timeout` for the child to exit and fails unless it succeeded.
    ///
    /// # Errors
    /// A timeout or a non-zero exit.
    pub fn wait_success(&mut self, timeout: Duration) -> BenchResult<()> {
        let status = self.wait(timeout)?;
        if status.success() { Ok(()) } else { Err(format!("{} exited with {status}", self.name).into()) }
    }
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        if !self.reaped {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The next event, waiting at most until `deadline`; `what` names the wait
/// in the error.
///
/// # Errors
/// On timeout, or when every sender is gone.
pub fn recv<T>(rx: &Receiver<Event<T>>, deadline: Instant, what: &str) -> BenchResult<Event<T>> {
    let left = deadline.saturating_duration_since(Instant::now());
    match rx.recv_timeout(left) {
        Ok(e) => Ok(e),
        Err(RecvTimeoutError::Timeout) => Err(format!("timed out waiting for {what}").into()),
        Err(RecvTimeoutError::Disconnected) => Err(format!("lost the children's output waiting for {what}").into()),
    }
}
