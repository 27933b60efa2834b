//! The CLI a new user meets (issue 11): run directories named like W&B's with a
//! `latest-run` link, `runs`/`tail`/`export`/`plot` from any directory through
//! the user's run list, `status` with no service, completions and the man
//! page, `plot` images, and `watch` on a real terminal (tmux).

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ringlog_tests::{TestEnv, ringlog_bin, wait_bounded};

fn client_bin() -> &'static str {
    env!("CARGO_BIN_EXE_ringlog-test-client")
}

/// Runs the test client to completion; returns its first JSON line.
fn run_client(env: &TestEnv, args: &[&str]) -> serde_json::Value {
    let out = env.command(client_bin()).args(args).stderr(Stdio::inherit()).output().expect("spawn client");
    assert!(out.status.success(), "client {args:?} failed: {}", out.status);
    let text = String::from_utf8(out.stdout).unwrap();
    serde_json::from_str(text.lines().find(|l| l.starts_with('{')).expect("a JSON line")).unwrap()
}

/// `ringlog ARGS` from `cwd` without RINGLOG_DIR (so the user's run list is
/// what finds runs); returns (success, stdout, stderr).
fn ringlog_elsewhere(env: &TestEnv, cwd: &Path, args: &[&str]) -> (bool, String, String) {
    let out = env.command(ringlog_bin()).env_remove("RINGLOG_DIR").current_dir(cwd).args(args).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn runs_are_named_like_wandb_and_found_from_any_directory() {
    let env = TestEnv::new("cli-find");
    let first = run_client(&env, &["init", "300"]);
    // Run directory names have a one-second stamp: keep the two runs apart.
    std::thread::sleep(Duration::from_millis(1100));
    let second = run_client(&env, &["init", "200"]);
    let (id1, id2) = (first["run_id"].as_str().unwrap(), second["run_id"].as_str().unwrap());

    // run-YYYYMMDD_HHMMSS-<id>, and latest-run points at the newest.
    let dir2 = env.run_dir(id2);
    let name2 = dir2.file_name().unwrap().to_str().unwrap().to_owned();
    assert!(
        name2.starts_with("run-20") && name2.ends_with(&format!("-{id2}")) && name2.len() == 20 + id2.len(),
        "{name2}"
    );
    assert_eq!(std::fs::read_link(env.runs().join("latest-run")).unwrap(), Path::new(&name2));

    // From another directory, with no RINGLOG_DIR: the run list finds both, newest first.
    let elsewhere = env.root.join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    let (ok, out, err) = ringlog_elsewhere(&env, &elsewhere, &["runs", "--json"]);
    assert!(ok, "{err}");
    let listed: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    let ids: Vec<&str> = listed.iter().map(|r| r["run_id"].as_str().unwrap()).collect();
    assert_eq!(ids, [id2, id1], "newest first");
    // Today's fields are all still there, plus the new ones.
    for field in
        ["run_id", "project", "name", "state", "records", "created_unix_ms", "run_dir", "last_step", "keys", "bytes"]
    {
        assert!(listed[0].get(field).is_some(), "{field} missing: {}", listed[0]);
    }
    assert_eq!(listed[0]["last_step"], 199);
    assert_eq!(listed[0]["keys"], 2, "loss and the summary's best");
    assert_eq!(listed[0]["state"], "finished");

    // The table: creation time, state, steps, keys and size in human units.
    let (ok, table, err) = ringlog_elsewhere(&env, &elsewhere, &["runs"]);
    assert!(ok, "{err}");
    let header = table.lines().next().unwrap();
    for col in ["RUN", "CREATED", "STATE", "STEPS", "KEYS", "SIZE"] {
        assert!(header.contains(col), "{header}");
    }
    let row2 = table.lines().nth(1).unwrap();
    assert!(row2.starts_with(id2) && row2.contains("finished") && row2.contains(" KiB"), "{table}");

    // tail, export and plot by run id, by `latest`, from anywhere.
    let (ok, tail, err) = ringlog_elsewhere(&env, &elsewhere, &["tail", id1, "-n", "1"]);
    assert!(ok, "{err}");
    assert!(tail.contains("\"_step\":299"), "{tail}");
    let (ok, tail, err) = ringlog_elsewhere(&env, &elsewhere, &["tail", "latest", "-n", "1"]);
    assert!(ok, "{err}");
    assert!(tail.contains("\"_step\":199"), "{tail}");
    let (ok, csv, err) = ringlog_elsewhere(&env, &elsewhere, &["export", id2, "--format", "csv"]);
    assert!(ok, "{err}");
    assert_eq!(csv.lines().count(), 201, "{csv}");

    // A run whose directory vanished is skipped with a note, not an error.
    std::fs::remove_dir_all(env.run_dir(id1)).unwrap();
    let (ok, out, err) = ringlog_elsewhere(&env, &elsewhere, &["runs", "--json"]);
    assert!(ok, "{err}");
    let listed: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    assert_eq!(listed.len(), 1);
    assert!(err.contains("skipped 1 run(s) whose directory is gone") && err.contains(id1), "{err}");
    let (ok, _, err) = ringlog_elsewhere(&env, &elsewhere, &["tail", id1]);
    assert!(!ok && err.contains("deleted or moved"), "{err}");
    let (ok, _, err) = ringlog_elsewhere(&env, &elsewhere, &["tail", "nosuchrun"]);
    assert!(!ok && err.contains("`ringlog runs` lists the runs"), "{err}");

    // --dir still lists one directory, RINGLOG_DIR too (old behaviour).
    let listed = env.ringlog(&["runs", "--json"]);
    assert!(listed.contains(id2));
}

#[test]
fn status_without_a_service_is_a_normal_answer() {
    let env = TestEnv::new("cli-status-none");
    let out = env.command(ringlog_bin()).arg("status").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("no service running"));
    let out = env.command(ringlog_bin()).args(["status", "--json"]).output().unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("valid JSON");
    assert_eq!(v["running"], false);
    assert_eq!(v["runs"], serde_json::json!([]));
    // With a service: human units in the table, `running: true` beside the old fields.
    let mut hold = env
        .command(client_bin())
        .args(["init-hold", "100"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = [0u8; 1];
    hold.stdout.as_mut().unwrap().read_exact(&mut line).unwrap();
    let v: serde_json::Value = serde_json::from_str(&env.ringlog(&["status", "--json"])).unwrap();
    assert_eq!(v["running"], true);
    assert!(v["pid"].is_u64() && v["runs"].is_array());
    let text = env.ringlog(&["status"]);
    assert!(text.contains("/s") && text.contains("run log "), "{text}");
    drop(hold.stdin.take());
    wait_bounded(&mut hold, Duration::from_secs(60), "init-hold client");
}

#[test]
fn completions_load_in_bash_and_the_man_page_renders() {
    let env = TestEnv::new("cli-docs");
    let script = format!("source <({} completions bash) && complete -p ringlog", ringlog_bin().display());
    let out = Command::new("bash").args(["-c", &script]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("ringlog"));
    for shell in ["zsh", "fish", "elvish", "powershell"] {
        let script = env.ringlog(&["completions", shell]);
        assert!(script.contains("watch") && script.contains("plot"), "{shell}");
    }
    let page = env.ringlog(&["man"]);
    assert!(page.contains(".TH ringlog 1"), "{page}");
    // Rendered as `man` would: every new command is listed.
    let mut groff = Command::new("groff")
        .args(["-man", "-Tutf8"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("groff (apt-get install groff-base)");
    std::io::Write::write_all(groff.stdin.as_mut().unwrap(), page.as_bytes()).unwrap();
    drop(groff.stdin.take());
    let rendered = groff.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&rendered.stdout);
    for cmd in ["watch", "plot", "completions", "man", "runs", "export"] {
        assert!(text.contains(cmd), "{cmd} not in the rendered page");
    }
    let dir = env.root.join("man1");
    env.ringlog(&["man", "--dir", dir.to_str().unwrap()]);
    for page in ["ringlog.1", "ringlog-watch.1", "ringlog-plot.1", "ringlog-export.1"] {
        assert!(std::fs::read_to_string(dir.join(page)).unwrap().contains(".TH"), "{page}");
    }
}

/// Width and height from a PNG's IHDR chunk.
fn png_size(bytes: &[u8]) -> (u32, u32) {
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
    assert_eq!(&bytes[12..16], b"IHDR");
    let be = |i: usize| u32::from_be_bytes(bytes[i..i + 4].try_into().unwrap());
    (be(16), be(20))
}

#[test]
fn plot_draws_png_and_svg() {
    let env = TestEnv::new("cli-plot");
    let run = run_client(&env, &["init", "500"]);
    let id = run["run_id"].as_str().unwrap();
    let png = env.root.join("loss.png");
    let out = env.ringlog(&["plot", id, "loss", "-o", png.to_str().unwrap(), "--size", "800x500"]);
    assert!(out.contains("1 curve"), "{out}");
    let bytes = std::fs::read(&png).unwrap();
    assert_eq!(png_size(&bytes), (800, 500));
    assert!(bytes.len() > 5000, "an empty image compresses to less: {}", bytes.len());

    let svg_path = env.root.join("loss.svg");
    env.ringlog(&["plot", "latest", "loss", "-o", svg_path.to_str().unwrap()]);
    let svg = std::fs::read_to_string(&svg_path).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains(">\nloss\n</text>"), "the legend names the key");
    // The curve (loss = step, 0..499) is one polyline of 500 points.
    let line = svg.lines().find(|l| l.contains("<polyline") && l.matches(',').count() >= 500).expect("the curve");
    assert_eq!(line.matches(',').count(), 500, "{line}");

    // Errors that say what to do.
    let bad = env.command(ringlog_bin()).args(["plot", id, "loss", "-o", "x.jpg"]).output().unwrap();
    assert!(!bad.status.success() && String::from_utf8_lossy(&bad.stderr).contains(".png or .svg"));
    let bad =
        env.command(ringlog_bin()).args(["plot", id, "nokey", "-o", "x.png"]).current_dir(&env.root).output().unwrap();
    assert!(!bad.status.success() && String::from_utf8_lossy(&bad.stderr).contains("no numeric values of nokey"));
}

#[test]
fn watch_shows_keys_and_lanes_on_a_real_terminal_and_quits_on_q() {
    let env = TestEnv::new("cli-watch");
    // A live run: 500 steps of `loss` = step, then the trainer waits.
    let mut trainer = env
        .command(client_bin())
        .args(["init-log-hold", "500"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    let mut byte = [0u8; 1];
    while trainer.stdout.as_mut().unwrap().read_exact(&mut byte).is_ok() && byte[0] != b'\n' {
        first.push(byte[0] as char);
    }
    let v: serde_json::Value = serde_json::from_str(&first).expect("run id line");
    let id = v["run_id"].as_str().unwrap().to_owned();

    // tmux's server needs a socket dir of its own (-L) so the test never meets the user's.
    let session = format!("rlwatch{}", std::process::id());
    let tmux = |args: &[&str]| {
        let mut all = vec!["-L", session.as_str()];
        all.extend_from_slice(args);
        Command::new("tmux").args(&all).output().expect("tmux (apt-get install tmux)")
    };
    let envs = format!(
        "RINGLOG_SOCKET={} RINGLOG_DIR={} XDG_STATE_HOME={}",
        env.socket().display(),
        env.runs().display(),
        env.state().display()
    );
    let cmd = format!("env {envs} {} watch {id}; echo WATCH-EXITED $?; sleep 30", ringlog_bin().display());
    let started = tmux(&["new-session", "-d", "-s", &session, "-x", "132", "-y", "32", &cmd]);
    assert!(started.status.success(), "{}", String::from_utf8_lossy(&started.stderr));
    let capture = || {
        let out = tmux(&["capture-pane", "-p", "-t", &session]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut shown = String::new();
    while Instant::now() < deadline {
        shown = capture();
        if shown.contains("loss") && shown.contains("499") && shown.contains("active") {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(shown.contains(&format!("run {id}")), "{shown}");
    let loss_line = shown.lines().find(|l| l.contains("loss")).unwrap_or_else(|| panic!("no loss row:\n{shown}"));
    assert!(loss_line.contains("499") && loss_line.contains('█'), "last value and sparkline: {loss_line}");
    let lane_line = shown.lines().find(|l| l.contains("active")).unwrap_or_else(|| panic!("no lane row:\n{shown}"));
    assert!(lane_line.contains(&trainer.id().to_string()), "the lane's pid: {lane_line}");

    tmux(&["send-keys", "-t", &session, "q"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline && !capture().contains("WATCH-EXITED") {
        std::thread::sleep(Duration::from_millis(100));
    }
    let after = capture();
    tmux(&["kill-server"]);
    assert!(after.contains("WATCH-EXITED 0"), "q must quit cleanly:\n{after}");
    // The alternate screen is gone: the dashboard's frame is not left behind.
    assert!(!after.contains("ringlog watch"), "terminal not restored:\n{after}");

    drop(trainer.stdin.take());
    let status = wait_bounded(&mut trainer, Duration::from_secs(60), "trainer");
    assert!(status.success());
}
