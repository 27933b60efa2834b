//! The README's Rust quick start (a test checks the two are the same text and runs this).
fn main() -> Result<(), ringlog::ClientError> {
    let opts = ringlog::InitOptions { project: "mnist".into(), ..Default::default() }.config("lr", 1e-3);
    let mut run = ringlog::init(opts)?; // starts the service if none is running
    let loss = run.key("train/loss")?; // interned once, in-band
    for step in 0..1000 {
        // One frame in shared memory, no syscall. With the default policy (Block) a record is
        // written or the call fails; `Logged::Dropped` only comes with `FullPolicy::DropNewest`.
        let _ = run.log(step, &[(loss, 1.0 / (step + 1) as f64)])?;
    }
    let _ = run.output(ringlog::Stream::Stdout, "done")?;
    let report = run.finish(0)?; // drained, fsynced, counted
    println!("{} records in {}", report.records, report.run_dir);
    Ok(())
}
