//! `ringlog status`: the service's live runs and lanes, in human units; with
//! no service running, a normal answer (exit 0), in text or JSON.

use ringlog_ring::protocol::control_message::{Request, Response, StatusReport};

use super::{Result, human};

/// The service's status report, or `None` when no service is running (no
/// socket, or nothing listening on it).
pub(super) fn fetch() -> Result<Option<StatusReport>> {
    match super::call_if_running(&Request::Status)? {
        None => Ok(None),
        Some(Response::Status(report)) => Ok(Some(report)),
        Some(_) => Err("the service gave an unexpected answer to status".into()),
    }
}

pub(super) fn status(json: bool) -> Result<()> {
    let Some(report) = fetch()? else {
        let dirs = ringlog::RuntimeDir::from_env();
        let socket = dirs.socket_path();
        if json {
            let v = serde_json::json!({"running": false, "socket": socket, "runs": []});
            println!("{}", serde_json::to_string_pretty(&v)?);
        } else {
            println!(
                "no service running (socket {}); a trainer's init starts one, or run `ringlog serve`",
                socket.display()
            );
        }
        return Ok(());
    };
    if json {
        // The report's fields as always, plus `running`.
        let mut v = serde_json::to_value(&report)?;
        if let Some(o) = v.as_object_mut() {
            o.insert("running".into(), true.into());
        }
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    println!("service pid {} version {}, {} live run(s)", report.pid, report.version, report.runs.len());
    if report.refused_connections > 0 {
        println!(
            "refusing connections: {} refused so far ({}); raise the service's open-file limit (ulimit -n)",
            report.refused_connections,
            report.accept_error.as_deref().unwrap_or("accept failed")
        );
    }
    for run in &report.runs {
        println!(
            "run {}  project {}  state {}  records {}  run log {}  {}",
            run.run_id,
            run.project,
            run.state,
            human::count(run.records),
            human::bytes(run.bytes),
            human::rate(run.records_per_s)
        );
        if let Some(e) = &run.disk_error {
            println!("  run log not writable, records wait in the lanes: {e}");
        }
        println!("  lane  pid      state      records    fill                drops  timeouts  invalid");
        for l in &run.lanes {
            println!(
                "  {:<5} {:<8} {:<10} {:<10} {:>5.1}% of {:<10} {:<6} {:<9} {}",
                l.lane,
                l.pid,
                l.state,
                human::count(l.records),
                100.0 * l.fill as f64 / l.capacity.max(1) as f64,
                human::bytes(l.capacity),
                l.drops,
                l.timeouts,
                l.invalid_frames
            );
        }
    }
    Ok(())
}
