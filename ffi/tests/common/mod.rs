//! What the C/C++ consumer tests share: a new user's environment (a private
//! service, no `RINGLOG_*` variable, no `ringlog` on `PATH`), checked
//! commands, and the README's fenced blocks.

#![allow(dead_code)] // each test file uses part of it

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("ffi/ has a parent").to_path_buf()
}

/// Whether `RINGLOG_SKIP_C_TESTS=1` asks to skip tests that need a C toolchain.
pub fn skip_c_tests(test: &str) -> bool {
    let skip = std::env::var_os("RINGLOG_SKIP_C_TESTS").is_some_and(|v| v == "1");
    if skip {
        eprintln!("RINGLOG_SKIP_C_TESTS=1: skipping {test}");
    }
    skip
}

/// A temporary home for one test: a private service socket, runs and state
/// directories, and room for builds. The directory is removed on drop, after
/// every service started under it was shut down.
pub struct UserEnv {
    /// Everything the test writes.
    pub root: PathBuf,
    /// `ringlog` executables whose service to stop on drop, with their socket.
    services: Vec<(PathBuf, PathBuf)>,
}

impl UserEnv {
    /// A fresh directory under the system temp dir (outside the repository).
    pub fn new(name: &str) -> Self {
        let root = std::env::temp_dir().join(format!("rl-ffi-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).expect("create the test's temp dir");
        Self { root, services: Vec::new() }
    }

    /// The socket of service `n` (one per program, so each auto-starts its own).
    pub fn socket(&self, n: usize) -> PathBuf {
        self.root.join(format!("rt{n}")).join("ringlog.sock")
    }

    /// A command as a new user runs it against service `n`: every `RINGLOG_*`
    /// variable removed except a private `RINGLOG_SOCKET` and `RINGLOG_DIR`;
    /// `XDG_RUNTIME_DIR` and `XDG_STATE_HOME` private too; no directory on
    /// `PATH` that holds a `ringlog`; no `LD_LIBRARY_PATH` (cargo test sets one
    /// pointing at target/, which would beat the programs' rpath). So
    /// auto-start has to find the service by itself.
    pub fn command(&self, n: usize, program: impl AsRef<OsStr>) -> Command {
        let mut c = Command::new(program);
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("RINGLOG_") {
                c.env_remove(&key);
            }
        }
        let path = std::env::var_os("PATH").unwrap_or_default();
        let path =
            std::env::join_paths(std::env::split_paths(&path).filter(|d| !d.join("ringlog").exists())).expect("PATH");
        c.env("PATH", path)
            .env("RINGLOG_SOCKET", self.socket(n))
            .env("RINGLOG_DIR", self.root.join("runs"))
            .env("XDG_RUNTIME_DIR", self.root.join("xdg-runtime"))
            .env("XDG_STATE_HOME", self.root.join("state"))
            .env_remove("LD_LIBRARY_PATH")
            .stdin(Stdio::null());
        c
    }

    /// Remembers to stop the service on socket `n` with `ringlog` on drop.
    pub fn stop_on_drop(&mut self, n: usize, ringlog: &Path) {
        self.services.push((ringlog.to_path_buf(), self.socket(n)));
    }

    /// The executable of the service answering on socket `n`, from
    /// `ringlog status --json` (its pid) and `/proc/<pid>/exe`.
    pub fn service_exe(&self, n: usize, ringlog: &Path) -> PathBuf {
        let out = run_ok(self.command(n, ringlog).args(["status", "--json"]).env("RINGLOG_AUTOSTART", "0"), "status");
        let text = String::from_utf8_lossy(&out.stdout);
        let at = text.find("\"pid\"").unwrap_or_else(|| panic!("no pid in `ringlog status --json`: {text}"));
        let digits: String =
            text[at + 5..].chars().skip_while(|c| !c.is_ascii_digit()).take_while(|c| c.is_ascii_digit()).collect();
        std::fs::read_link(format!("/proc/{digits}/exe")).expect("read the service's /proc/<pid>/exe")
    }
}

impl Drop for UserEnv {
    fn drop(&mut self) {
        for (ringlog, socket) in &self.services {
            if socket.exists() {
                let _ = Command::new(ringlog)
                    .arg("shutdown")
                    .env("RINGLOG_SOCKET", socket)
                    .env("RINGLOG_AUTOSTART", "0")
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status();
            }
        }
        if std::env::var_os("RINGLOG_C_TESTS_KEEP").is_some_and(|v| v == "1") {
            eprintln!("kept {}", self.root.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.root);
        }
    }
}

/// Runs `cmd` to completion (bounded: 20 minutes, for a cold release build),
/// and panics with its output unless it succeeds.
pub fn run_ok(cmd: &mut Command, what: &str) -> Output {
    let dir = std::env::temp_dir().join(format!("rl-ffi-out-{}-{:?}", std::process::id(), std::thread::current().id()));
    std::fs::create_dir_all(&dir).expect("output dir");
    // Files, not pipes: a child that fills a pipe nobody drains would stall.
    let (out_path, err_path) = (dir.join("stdout"), dir.join("stderr"));
    let mut child = cmd
        .stdout(std::fs::File::create(&out_path).expect("stdout file"))
        .stderr(std::fs::File::create(&err_path).expect("stderr file"))
        .spawn()
        .unwrap_or_else(|e| panic!("{what}: cannot start {cmd:?}: {e}"));
    let limit = Duration::from_secs(1200);
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what}: still running after {limit:?}; killed: {cmd:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let out = Output {
        status,
        stdout: std::fs::read(&out_path).unwrap_or_default(),
        stderr: std::fs::read(&err_path).unwrap_or_default(),
    };
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        out.status.success(),
        "{what} failed ({}): {cmd:?}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The first fenced block opening with "```LANG" after the line `heading`
/// (a Markdown heading) and before the next heading of the same level.
pub fn fenced_block(markdown: &str, heading: &str, lang: &str) -> String {
    let start = markdown
        .lines()
        .scan(0, |pos, line| {
            let at = *pos;
            *pos += line.len() + 1;
            Some((at, line))
        })
        .find(|(_, line)| line.trim_end() == heading)
        .map(|(at, line)| at + line.len() + 1)
        .unwrap_or_else(|| panic!("no heading {heading:?}"));
    let level = heading.split(' ').next().unwrap_or("#");
    let section_end = markdown[start..]
        .lines()
        .scan(start, |pos, line| {
            let at = *pos;
            *pos += line.len() + 1;
            Some((at, line))
        })
        .find(|(_, line)| line.split(' ').next() == Some(level))
        .map_or(markdown.len(), |(at, _)| at);
    let section = &markdown[start..section_end];
    let open = format!("```{lang}\n");
    let body =
        section.find(&open).map(|i| i + open.len()).unwrap_or_else(|| panic!("no ```{lang} block under {heading:?}"));
    let end = section[body..].find("```").map(|i| body + i).expect("the block is closed");
    section[body..end].to_owned()
}
