//! Entry point of a re-executed child process: one side of one run.

use crate::case::Transport;
use crate::cli::{ChildArgs, Role};
use crate::error::BenchResult;
use crate::outcome::{emit_ready, emit_result};
use crate::{pin, raw_spsc, ringlog_e2e, ringlog_transport, uds_protobuf};

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
                Transport::RinglogE2e => return Err("ringlog-e2e has no consumer role: the service drains".into()),
            };
            emit_result(&outcome)
        }
        Role::Owner => match case.transport {
            Transport::RinglogE2e => emit_result(&ringlog_e2e::owner(&case, emit_ready)?),
            other => Err(format!("{} has no owner role", other.as_str()).into()),
        },
        Role::Producer => {
            let endpoint = args.endpoint.as_deref().ok_or("producer: --endpoint is required")?;
            let outcome = match case.transport {
                Transport::Ringlog => ringlog_transport::producer(&case, endpoint)?,
                Transport::UdsProtobuf => uds_protobuf::producer(&case, endpoint)?,
                Transport::RawSpsc => raw_spsc::producer(&case, endpoint)?,
                Transport::RinglogE2e => ringlog_e2e::producer(&case, endpoint, args.rank)?,
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
        // The private service and its directory are removed by `ServiceEnv`.
        Transport::RinglogE2e => {}
    }
}
