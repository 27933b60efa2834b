//! cargo-fuzz target `run_log_reader`: see `fuzz/entries/run_log_reader.rs` (shared with the seed test).
#![no_main]

#[path = "../entries/run_log_reader.rs"]
mod entry;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = entry::run(data);
});
