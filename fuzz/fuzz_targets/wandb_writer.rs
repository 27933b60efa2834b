//! cargo-fuzz target `wandb_writer`: see `fuzz/entries/wandb_writer.rs` (shared with the seed test).
#![no_main]

#[path = "../entries/wandb_writer.rs"]
mod entry;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = entry::run(data);
});
