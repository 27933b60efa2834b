//! cargo-fuzz target `ring_frame`: see `fuzz/entries/ring_frame.rs` (shared with the seed test).
#![no_main]

#[path = "../entries/ring_frame.rs"]
mod entry;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = entry::run(data);
});
