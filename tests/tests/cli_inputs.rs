//! The `ringlog` readers against inputs that are not run logs.

use std::process::Stdio;
use std::time::Duration;

use ringlog_tests::{TestEnv, ringlog_bin, wait_bounded};

#[test]
fn export_and_tail_refuse_a_fifo_instead_of_hanging() {
    let env = TestEnv::new("fifo");
    let run = env.runs().join("fiforun");
    std::fs::create_dir_all(&run).unwrap();
    let fifo = run.join("run.rlog");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
    assert!(made.success());
    for args in [vec!["export", "fiforun", "--format", "jsonl"], vec!["tail", "fiforun"]] {
        let mut child = env
            .command(ringlog_bin())
            .args(&args)
            .arg("--dir")
            .arg(env.runs())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let status = wait_bounded(&mut child, Duration::from_secs(30), "ringlog reader on a FIFO");
        let mut err = String::new();
        std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
        assert!(!status.success(), "{args:?} must fail");
        assert!(err.contains("not a regular file"), "{args:?}: {err}");
    }
}
