//! The committed seed corpus of the `wandb_writer` fuzz target
//! (`fuzz/corpus/wandb_writer/`), run through the target's own entry function
//! (`fuzz/entries/wandb_writer.rs`, included below), so the seeds run in the test
//! command and the entry cannot rot.
//!
//! Regenerate the seeds with
//! `cargo test -p ringlog-wandb --test fuzz_seeds -- --ignored write_seed_corpus`.

#[path = "../../../fuzz/entries/wandb_writer.rs"]
mod wandb_writer;

use std::path::PathBuf;

fn corpus() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/wandb_writer")
}

#[test]
fn wandb_writer_seeds() {
    let dir = corpus();
    let mut seeds: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e} (the seed corpus is committed)", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .collect();
    seeds.sort();
    assert!(seeds.len() >= 3, "{}: only {} seeds", dir.display(), seeds.len());
    for seed in seeds {
        let name = seed.file_name().expect("file name").to_string_lossy().into_owned();
        let rows = wandb_writer::run(&std::fs::read(&seed).expect("read seed"));
        // Each seed logs history rows the writer accepts and the file holds.
        assert!(rows >= 2, "seed {name}: {rows} history rows");
    }
}

/// Builds inputs in the entry's encoding (see `Input` in `fuzz/entries/wandb_writer.rs`).
#[derive(Default)]
struct Seed(Vec<u8>);

impl Seed {
    fn u8(mut self, v: u8) -> Self {
        self.0.push(v);
        self
    }
    fn u64(mut self, v: u64) -> Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    fn text(mut self, s: &str) -> Self {
        assert!(s.len() < 24);
        self.0.push(s.len() as u8);
        self.0.extend_from_slice(s.as_bytes());
        self
    }
    fn f64(self, key: &str, v: f64) -> Self {
        self.text(key).u8(0).u64(v.to_bits())
    }
    fn i64(self, key: &str, v: i64) -> Self {
        self.text(key).u8(1).u64(v as u64)
    }
    fn str(self, key: &str, v: &str) -> Self {
        self.text(key).u8(3).text(v)
    }
    fn floats(self, key: &str, v: &[f32]) -> Self {
        let mut s = self.text(key).u8(4).u8(v.len() as u8);
        for x in v {
            s = s.u64(u64::from(x.to_bits()));
        }
        s
    }
    fn json(self, key: &str, v: &str) -> Self {
        self.text(key).u8(5).text(v)
    }
    /// Op header: timestamp offset, op code.
    fn op(self, ts: u64, op: u8) -> Self {
        self.u64(ts << 20).u8(op)
    }
    /// A history row at `step` (no shift) with `n` items that follow.
    fn history(self, ts: u64, step: i64, n: u8) -> Self {
        self.op(ts, 0).u64(step as u64).u8(0).u8(n)
    }
}

#[test]
#[ignore = "writes fuzz/corpus/wandb_writer/: run by hand to regenerate the seeds"]
fn write_seed_corpus() {
    let out = corpus();
    std::fs::create_dir_all(&out).unwrap();
    let start = || Seed::default().text("proj").text("name").u8(1).f64("lr", 3e-4);
    // Scalars over a few steps, then finish.
    let scalars = start()
        .history(1, 0, 2)
        .f64("train/loss", 0.5)
        .i64("tokens", 1 << 60)
        .history(2, 1, 1)
        .f64("train/loss", f64::NAN)
        .history(3, 2, 1)
        .f64("train/loss", f64::INFINITY)
        .op(4, 7)
        .u8(0)
        .u64(1.5f64.to_bits());
    std::fs::write(out.join("scalars-finished"), scalars.0).unwrap();
    // Every value type, config, output, alert, stats and a flush; no finish.
    let mixed = start()
        .history(1, 0, 4)
        .str("phase", "warm ✓")
        .floats("weights", &[1.0, -2.5, 3.0, f32::NAN])
        .json("meta", "{\"a\":[1,2]}")
        .text("ok")
        .u8(2)
        .u8(1)
        .op(2, 2)
        .u8(1)
        .i64("batch", 64)
        .op(3, 3)
        .u8(0)
        .text("epoch 0 done")
        .op(4, 4)
        .u8(1)
        .text("plateau")
        .text("at step 0")
        .op(5, 5)
        .u8(2)
        .text("cpu")
        .u64(12.5f64.to_bits())
        .text("gpu.0.temp")
        .u64(70.0f64.to_bits())
        .op(6, 6)
        .history(7, 5, 1)
        .f64("train/loss", 0.25);
    std::fs::write(out.join("mixed-flushed"), mixed.0).unwrap();
    // Rows whose steps go backwards (refused), a reserved key (refused), a crash.
    let refused = start()
        .history(1, 10, 1)
        .f64("x", 1.0)
        .history(2, 3, 1)
        .f64("x", 2.0)
        .history(3, 11, 1)
        .f64("_step", 2.0)
        .history(4, 12, 1)
        .f64("y", -0.0)
        .op(5, 7)
        .u8(0xff)
        .u64(f64::NAN.to_bits());
    std::fs::write(out.join("refused-crashed"), refused.0).unwrap();
}
