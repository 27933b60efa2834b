//! cargo-fuzz target `control_message`: see `fuzz/entries/control_message.rs` (shared with the seed test).
#![no_main]

#[path = "../entries/control_message.rs"]
mod entry;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = entry::run(data);
});
