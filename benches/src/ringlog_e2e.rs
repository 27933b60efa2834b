//! The `ringlog-e2e` transport's child roles: the whole product through the
//! Rust client.
//!
//! The owner calls `ringlog::init` (auto-starting the private service of the
//! run's [`crate::service_env::ServiceEnv`]), announces the run id, and on
//! [`FINISH`] calls `run.finish(0)`: the service drains every lane, fsyncs
//! the run log and answers with counts. Each producer calls
//! `ringlog::attach(run_id)`, interns its keys (8 for scalar8, 1 for scalar1),
//! announces `READY`, and on [`GO`] logs its share of the records with
//! `run.log(step, &[(KeyId, f64); N])` (one item is a `Scalar1` record), then
//! detaches with `run.finish(0)`.

use ringlog::{InitOptions, KeyId, Value};
use ringlog_ring::clock::monotonic_ns;
use ringlog_ring::protocol::control_message::FinishReport;
use serde::{Deserialize, Serialize};

use crate::case::{Case, Mode, RecordShape};
use crate::cpu_clock::thread_cpu_ns;
use crate::error::BenchResult;
use crate::outcome::{FINISH, GO, ProducerOutcome, emit_ready, wait_command};

/// The owner's side of one run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnerOutcome {
    /// `CLOCK_MONOTONIC` just before `run.finish(0)`.
    pub finish_start_ns: u64,
    /// `CLOCK_MONOTONIC` once the finish report arrived.
    pub end_ns: u64,
    /// What the service answered.
    pub report: FinishReport,
}

/// Records the run log must hold after a run of `case`: the records, each
/// producer lane's key definitions (8 or 1), and one exit record per process
/// (each producer's detach and the owner's finish log one).
///
/// # Examples
/// ```
/// use ringlog_benches::{Case, Mode, RecordShape, Transport};
/// let case = Case {
///     transport: Transport::RinglogE2e,
///     record: RecordShape::Scalar8,
///     mode: Mode::Throughput,
///     records: 1000,
///     warmup: 0,
///     pace_ns: 0,
///     producers: 4,
/// };
/// assert_eq!(ringlog_benches::ringlog_e2e::expected_run_log_records(&case), 1000 + 4 * (8 + 1) + 1);
/// ```
pub fn expected_run_log_records(case: &Case) -> u64 {
    case.records + u64::from(case.producers) * (case.record.metrics() as u64 + 1) + 1
}

fn check_case(case: &Case) -> BenchResult<()> {
    if !case.transport.end_to_end() || case.mode != Mode::Throughput {
        return Err("ringlog-e2e runs throughput only".into());
    }
    Ok(())
}

/// Owner side: inits the run, calls `ready` with its id, waits for
/// [`FINISH`], finishes the run.
///
/// # Errors
/// Client errors (no service, a failed finish) or a missing command.
pub fn owner(case: &Case, ready: impl FnOnce(&str) -> BenchResult<()>) -> BenchResult<OwnerOutcome> {
    check_case(case)?;
    let run = ringlog::init(InitOptions {
        project: "ringlog-benches".into(),
        name: format!("compare-e2e-{}p", case.producers),
        ..Default::default()
    })?;
    ready(run.run_id())?;
    wait_command(FINISH)?;
    let finish_start_ns = monotonic_ns();
    let report = run.finish(0)?;
    Ok(OwnerOutcome { finish_start_ns, end_ns: monotonic_ns(), report })
}

/// Producer side: attaches to run `run_id`, announces `READY`, waits for
/// [`GO`], logs its share of the records, detaches.
///
/// # Errors
/// Client errors, a record dropped or timed out, or a missing command.
pub fn producer(case: &Case, run_id: &str, rank: u32) -> BenchResult<ProducerOutcome> {
    check_case(case)?;
    let mut run = ringlog::attach(run_id)?;
    if case.record == RecordShape::F32x1024 {
        return log_arrays(case, run, rank);
    }
    let n = case.record.metrics();
    let keys: [KeyId; 8] = {
        let mut keys = [KeyId(0); 8];
        for (i, k) in keys.iter_mut().enumerate().take(n) {
            *k = run.key(&format!("rank{rank}/metric{i}"))?;
        }
        keys
    };
    emit_ready(&format!("rank{rank}"))?;
    wait_command(GO)?;
    let records = case.producer_share(rank);
    let (start_ns, start_cpu) = (monotonic_ns(), thread_cpu_ns());
    for step in 0..records {
        let value = step as f64 * 0.5;
        let items: [(KeyId, f64); 8] = std::array::from_fn(|i| (keys[i], value + i as f64));
        let _ = run.log(step as i64, &items[..n])?;
    }
    detach(run, ProducerOutcome::finished(start_ns, start_cpu, records), rank)
}

/// The f32x1024 producer: one array value per record, through `log_values`
/// (the client's API for values of any type: it interns the key and copies the
/// array into a `History` record).
fn log_arrays(case: &Case, mut run: ringlog::Run, rank: u32) -> BenchResult<ProducerOutcome> {
    let key = format!("rank{rank}/weights");
    let _ = run.key(&key)?;
    let mut items = [(key.as_str(), Value::F32Array(vec![0.0; crate::scalar_frame::ARRAY_VALUES]))];
    emit_ready(&format!("rank{rank}"))?;
    wait_command(GO)?;
    let records = case.producer_share(rank);
    let (start_ns, start_cpu) = (monotonic_ns(), thread_cpu_ns());
    for step in 0..records {
        if let Value::F32Array(v) = &mut items[0].1 {
            v[0] = step as f32;
        }
        let _ = run.log_values(step as i64, &items)?;
    }
    detach(run, ProducerOutcome::finished(start_ns, start_cpu, records), rank)
}

/// Detaches (the producer's `finish`) and checks nothing was dropped.
fn detach(run: ringlog::Run, outcome: ProducerOutcome, rank: u32) -> BenchResult<ProducerOutcome> {
    let detached = run.finish(0)?;
    if detached.drops != 0 || detached.timeouts != 0 {
        return Err(format!(
            "ringlog-e2e producer {rank}: {} records dropped, {} block timeouts",
            detached.drops, detached.timeouts
        )
        .into());
    }
    Ok(outcome)
}
