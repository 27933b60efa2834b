//! Entry point of a re-executed child process: one side of one run.

use crate::case::Transport;
use crate::cli::{ChildArgs, Role};
use crate::error::BenchResult;
use crate::outcome::{emit_ready, emit_result};
use crate::{crossbeam_transport, pin, raw_batched, raw_spsc, ringlog_e2e, ringlog_transport, uds_protobuf};

/// The `peers` transports, or an error that says how to build them.
#[cfg(feature = "peers")]
use crate::iceoryx2_transport;
#[cfg(not(feature = "peers"))]
mod iceoryx2_transport {
    use crate::case::Case;
    use crate::error::BenchResult;
    use crate::outcome::{ConsumerOutcome, ProducerOutcome};

    const NOT_BUILT: &str = "iceoryx2 is a heavy peer: build with `--features peers` to run it";

    pub fn consumer(_: &Case, _: impl FnOnce(&str) -> BenchResult<()>) -> BenchResult<ConsumerOutcome> {
        Err(NOT_BUILT.into())
    }

    pub fn producer(_: &Case, _: &str, _: u32) -> BenchResult<ProducerOutcome> {
        Err(NOT_BUILT.into())
    }

    pub fn cleanup(_: &str) {}
}

/// Pins this process if asked, plays `args.role` for the case, and writes the
/// outcome line on stdout.
///
/// # Errors
/// Whatever the transport's role reports; the caller prints it and exits non-zero.
pub fn run(args: &ChildArgs) -> BenchResult<()> {
    if let Some(cpu) = args.cpu {
        pin::pin_to_cpu(cpu);
    }
    let case = args.case();
    match args.role {
        Role::Consumer => {
            let outcome = match case.transport {
                Transport::Ringlog => ringlog_transport::consumer(&case, emit_ready)?,
                Transport::UdsProtobuf => uds_protobuf::consumer(&case, emit_ready)?,
                Transport::RawSpsc => raw_spsc::consumer(&case, emit_ready)?,
                Transport::RawBatched | Transport::RawPerRecord => raw_batched::consumer(&case, emit_ready)?,
                Transport::Crossbeam => crossbeam_transport::run(&case, args.cpu.is_some())?,
                Transport::Iceoryx2 => iceoryx2_transport::consumer(&case, emit_ready)?,
                Transport::RinglogE2e | Transport::RinglogE2eRuns => {
                    return Err("ringlog-e2e has no consumer role: the service drains".into());
                }
            };
            emit_result(&outcome)
        }
        Role::Owner => match case.transport {
            Transport::RinglogE2e | Transport::RinglogE2eRuns => emit_result(&ringlog_e2e::owner(&case, emit_ready)?),
            other => Err(format!("{} has no owner role", other.as_str()).into()),
        },
        Role::Producer => {
            if args.start_barrier {
                crate::outcome::enable_start_barrier();
            }
            let endpoint = args.endpoint.as_deref().ok_or("producer: --endpoint is required")?;
            let outcome = match case.transport {
                Transport::Ringlog => ringlog_transport::producer(&case, endpoint, args.rank)?,
                Transport::UdsProtobuf => uds_protobuf::producer(&case, endpoint, args.rank)?,
                Transport::RawSpsc => raw_spsc::producer(&case, endpoint)?,
                Transport::RawBatched | Transport::RawPerRecord => raw_batched::producer(&case, endpoint, args.rank)?,
                Transport::Crossbeam => return Err("crossbeam's producer is a thread of the consumer process".into()),
                Transport::Iceoryx2 => iceoryx2_transport::producer(&case, endpoint, args.rank)?,
                Transport::RinglogE2e | Transport::RinglogE2eRuns => ringlog_e2e::producer(&case, endpoint, args.rank)?,
            };
            emit_result(&outcome)
        }
    }
}

/// Removes whatever endpoint a failed run of `transport` may have left behind.
pub fn cleanup(transport: Transport, endpoint: &str) {
    match transport {
        Transport::Ringlog => ringlog_transport::cleanup(endpoint),
        Transport::UdsProtobuf => uds_protobuf::cleanup(endpoint),
        Transport::RawSpsc => raw_spsc::cleanup(endpoint),
        Transport::RawBatched | Transport::RawPerRecord => raw_batched::cleanup(endpoint),
        Transport::Iceoryx2 => iceoryx2_transport::cleanup(endpoint),
        Transport::Crossbeam => {}
        // The private service and its directory are removed by `ServiceEnv`.
        Transport::RinglogE2e | Transport::RinglogE2eRuns => {}
    }
}
