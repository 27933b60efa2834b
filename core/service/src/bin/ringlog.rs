//! The `ringlog` command (see `ringlog_service::cli`).

fn main() -> std::process::ExitCode {
    std::process::ExitCode::from(ringlog_service::cli::run(std::env::args_os()))
}
