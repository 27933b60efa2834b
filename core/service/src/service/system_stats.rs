//! The service's samples of a run's processes and of the host, logged as
//! system stats records (W&B's system charts).
//!
//! Every `InitOptions::system_stats` (default 10 s; 0: off) the drain thread
//! reads `/proc` (a few small files, no process is stopped or traced) and
//! appends one [`SystemStats`] record to the run log on [`SERVICE_LANE`], a lane
//! number no producer can have (lanes are below `MAX_LANES`). Keys follow W&B's
//! system metrics: `cpu` (the run's processes' CPU %, over all cores),
//! `proc.cpu.threads`, `proc.memory.rssMB`, `proc.memory.percent`,
//! `memory_percent` (the host's), `disk.in` and `disk.out` (MB read and written
//! by the host's disks since the first sample), `network.recv` and
//! `network.sent` (bytes since the first sample); plus `host.cpu_percent`,
//! `proc.cpu.percent` (not divided by the core count), and `lane.N.cpu` and
//! `lane.N.rssMB` for each live producer process. CPU percentages are over the
//! interval since the previous sample, so the first sample (one interval after
//! the run starts) has none of them.
//! GPU metrics come from NVML when the driver's library is present
//! ([`nvml`](crate::service::nvml), loaded with `dlopen`): `gpu.{i}.gpu`,
//! `gpu.{i}.memory`, `gpu.{i}.memoryAllocated`, `gpu.{i}.memoryAllocatedBytes`,
//! `gpu.{i}.temp`, `gpu.{i}.powerWatts`, `gpu.{i}.powerPercent`.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use ringlog_ring::ring::layout::MAX_LANES;
use ringlog_ring::{Batch, Item, KeyDef, SystemStats, Value};

/// The lane number of the service's own records in a run log.
pub const SERVICE_LANE: u16 = MAX_LANES as u16;

/// Bytes per MB, as W&B reports `rssMB` and disk/network MB.
const MB: f64 = 1024.0 * 1024.0;

/// What one `/proc/<pid>/stat` sample says.
#[derive(Clone, Copy)]
struct ProcTimes {
    /// utime + stime, clock ticks.
    ticks: u64,
    at: Instant,
}

/// Samples `/proc` and turns the samples into records.
pub(crate) struct Sampler {
    every: Duration,
    next: Instant,
    ids: HashMap<String, u32>,
    host_cpu: Option<(u64, u64)>,
    procs: HashMap<u32, ProcTimes>,
    /// The first sample's disk and network counters: the baselines.
    disk: Option<(u64, u64)>,
    net: Option<(u64, u64)>,
    cpus: f64,
    ticks_per_s: f64,
    page_mb: f64,
    mem_total_kb: u64,
    /// NVML, if the host has NVIDIA's driver.
    gpu: Option<crate::service::nvml::Nvml>,
}

impl Sampler {
    /// A sampler every `every`, or `None` when `every` is zero.
    pub(crate) fn new(every: Duration) -> Option<Self> {
        if every.is_zero() {
            return None;
        }
        // SAFETY: sysconf has no preconditions.
        let (tck, page) = unsafe { (libc::sysconf(libc::_SC_CLK_TCK), libc::sysconf(libc::_SC_PAGESIZE)) };
        let every = every.max(Duration::from_millis(100));
        Some(Self {
            every,
            // The first sample one interval in: a run shorter than that has none.
            next: Instant::now() + every,
            ids: HashMap::new(),
            host_cpu: None,
            procs: HashMap::new(),
            disk: None,
            net: None,
            cpus: std::thread::available_parallelism().map_or(1.0, |n| n.get() as f64),
            ticks_per_s: if tck > 0 { tck as f64 } else { 100.0 },
            page_mb: if page > 0 { page as f64 / MB } else { 4096.0 / MB },
            mem_total_kb: 0,
            gpu: match crate::service::nvml::Nvml::load() {
                Ok(nvml) => Some(nvml),
                Err(why) => {
                    tracing::debug!(%why, "no GPU metrics: NVML is not available");
                    None
                }
            },
        })
    }

    /// Forgets which key names were defined: the next sample defines them again
    /// (after a sample whose key definitions did not reach the log).
    pub(crate) fn forget_keys(&mut self) {
        self.ids.clear();
    }

    /// Whether a sample is due.
    pub(crate) fn due(&self) -> bool {
        Instant::now() >= self.next
    }

    /// Samples now; appends to `batch` the key definitions of names not used
    /// before by this sampler and one stats record, on [`SERVICE_LANE`] from
    /// sequence number `seq`. Returns the next free sequence number.
    ///
    /// # Errors
    /// A record that does not serialize (cannot happen with these types).
    pub(crate) fn sample_into(
        &mut self,
        lanes: &[(u16, u32)],
        batch: &mut Batch,
        mut seq: u64,
        ts_ns: u64,
    ) -> Result<u64, ringlog_ring::FrameError> {
        self.next = Instant::now() + self.every;
        let values = self.read(lanes);
        let mut items = Vec::with_capacity(values.len());
        for (name, v) in values {
            let next_id = self.ids.len() as u32;
            let id = match self.ids.get(&name) {
                Some(&id) => id,
                None => {
                    batch.push_record(SERVICE_LANE, seq, &KeyDef { id: next_id, name: name.clone() })?;
                    seq += 1;
                    self.ids.insert(name, next_id);
                    next_id
                }
            };
            items.push(Item { key: id, value: Value::F64(v) });
        }
        if !items.is_empty() {
            batch.push_record(SERVICE_LANE, seq, &SystemStats { ts_ns, items })?;
            seq += 1;
        }
        Ok(seq)
    }

    /// One sample: `(key, value)` pairs in a stable order.
    fn read(&mut self, lanes: &[(u16, u32)]) -> Vec<(String, f64)> {
        let now = Instant::now();
        let mut out = Vec::new();
        // Host CPU: busy share of all CPUs' time since the last sample.
        if let Some((busy, total)) = host_cpu() {
            if let Some((b0, t0)) = self.host_cpu
                && total > t0
            {
                out.push(("host.cpu_percent".to_owned(), 100.0 * busy.saturating_sub(b0) as f64 / (total - t0) as f64));
            }
            self.host_cpu = Some((busy, total));
        }
        if let Some((total_kb, available_kb)) = meminfo() {
            self.mem_total_kb = total_kb;
            out.push((
                "memory_percent".to_owned(),
                100.0 * (total_kb - available_kb.min(total_kb)) as f64 / total_kb as f64,
            ));
            out.push(("proc.memory.availableMB".to_owned(), available_kb as f64 / 1024.0));
        }
        // The run's processes: each live lane's pid once.
        let mut seen = HashMap::new();
        let (mut rss_mb, mut threads, mut cpu) = (0.0, 0.0, None::<f64>);
        for &(lane, pid) in lanes {
            if pid == 0 || seen.insert(pid, lane).is_some() {
                continue;
            }
            let Some((ticks, rss_pages, nthreads)) = proc_stat(pid) else { continue };
            let mb = rss_pages as f64 * self.page_mb;
            rss_mb += mb;
            threads += nthreads as f64;
            out.push((format!("lane.{lane}.rssMB"), mb));
            if let Some(prev) = self.procs.get(&pid) {
                let dt = now.duration_since(prev.at).as_secs_f64();
                if dt > 0.0 {
                    let pct = 100.0 * ticks.saturating_sub(prev.ticks) as f64 / self.ticks_per_s / dt;
                    out.push((format!("lane.{lane}.cpu"), pct));
                    cpu = Some(cpu.unwrap_or(0.0) + pct);
                }
            }
            self.procs.insert(pid, ProcTimes { ticks, at: now });
        }
        self.procs.retain(|pid, _| seen.contains_key(pid));
        if !seen.is_empty() {
            out.push(("proc.memory.rssMB".to_owned(), rss_mb));
            if self.mem_total_kb > 0 {
                out.push(("proc.memory.percent".to_owned(), 100.0 * rss_mb * 1024.0 / self.mem_total_kb as f64));
            }
            out.push(("proc.cpu.threads".to_owned(), threads));
            if let Some(c) = cpu {
                out.push(("cpu".to_owned(), c / self.cpus));
                out.push(("proc.cpu.percent".to_owned(), c));
            }
        }
        // Disk (MB) and network (bytes) moved since the first sample, as W&B reports them.
        if let Some((read, written)) = disk_bytes() {
            let (r0, w0) = *self.disk.get_or_insert((read, written));
            out.push(("disk.in".to_owned(), read.saturating_sub(r0) as f64 / MB));
            out.push(("disk.out".to_owned(), written.saturating_sub(w0) as f64 / MB));
        }
        if let Some((rx, tx)) = net_bytes() {
            let (rx0, tx0) = *self.net.get_or_insert((rx, tx));
            out.push(("network.recv".to_owned(), rx.saturating_sub(rx0) as f64));
            out.push(("network.sent".to_owned(), tx.saturating_sub(tx0) as f64));
        }
        if let Some(gpu) = &self.gpu {
            gpu.sample(&mut out);
        }
        out
    }
}

/// (busy, total) jiffies of all CPUs, from `/proc/stat`.
fn host_cpu() -> Option<(u64, u64)> {
    let text = std::fs::read_to_string("/proc/stat").ok()?;
    let line = text.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<u64> = line.split_whitespace().skip(1).filter_map(|x| x.parse().ok()).collect();
    let total: u64 = v.iter().take(8).sum();
    // idle + iowait
    let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
    Some((total.saturating_sub(idle), total))
}

/// (MemTotal, MemAvailable) in kB, from `/proc/meminfo`.
fn meminfo() -> Option<(u64, u64)> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let field = |name: &str| text.lines().find(|l| l.starts_with(name))?.split_whitespace().nth(1)?.parse::<u64>().ok();
    let total = field("MemTotal:").filter(|&t| t > 0)?;
    Some((total, field("MemAvailable:").unwrap_or(0)))
}

/// (utime + stime ticks, RSS pages, threads) of `pid`, from `/proc/<pid>/stat`.
fn proc_stat(pid: u32) -> Option<(u64, u64, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: fields after
    // its closing parenthesis are numbered from 3.
    let rest = &text[text.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let num = |field: usize| f.get(field - 3)?.parse::<u64>().ok();
    Some((num(14)? + num(15)?, num(24)?, num(20)?))
}

/// (bytes read, bytes written) by whole disks, from `/proc/diskstats`.
fn disk_bytes() -> Option<(u64, u64)> {
    let text = std::fs::read_to_string("/proc/diskstats").ok()?;
    let (mut r, mut w) = (0u64, 0u64);
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let Some(name) = f.get(2) else { continue };
        // Whole devices only (partitions would count twice); no loop or ram disks.
        let partition = name.starts_with("nvme") && name.contains('p')
            || !name.starts_with("nvme") && name.ends_with(|c: char| c.is_ascii_digit()) && !name.starts_with("md");
        if partition || name.starts_with("loop") || name.starts_with("ram") {
            continue;
        }
        r += f.get(5).and_then(|x| x.parse::<u64>().ok()).unwrap_or(0) * 512;
        w += f.get(9).and_then(|x| x.parse::<u64>().ok()).unwrap_or(0) * 512;
    }
    Some((r, w))
}

/// (bytes received, bytes sent) by every interface but `lo`, from `/proc/net/dev`.
fn net_bytes() -> Option<(u64, u64)> {
    let text = std::fs::read_to_string("/proc/net/dev").ok()?;
    let (mut rx, mut tx) = (0u64, 0u64);
    for line in text.lines().skip(2) {
        let Some((name, rest)) = line.split_once(':') else { continue };
        if name.trim() == "lo" {
            continue;
        }
        let f: Vec<u64> = rest.split_whitespace().filter_map(|x| x.parse().ok()).collect();
        rx += f.first().copied().unwrap_or(0);
        tx += f.get(8).copied().unwrap_or(0);
    }
    Some((rx, tx))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_this_process_and_the_host() {
        let mut s = Sampler::new(Duration::from_millis(100)).expect("on");
        let me = std::process::id();
        let mut batch = Batch::new(1 << 16);
        let seq = s.sample_into(&[(0, me)], &mut batch, 7, 1).unwrap();
        // Burn some CPU so the second sample has a rate.
        let t = Instant::now();
        while t.elapsed() < Duration::from_millis(50) {
            std::hint::black_box(t.elapsed());
        }
        batch.clear();
        let next = s.sample_into(&[(0, me)], &mut batch, seq, 2).unwrap();
        assert!(next > seq);
        let names: Vec<String> = s.ids.keys().cloned().collect();
        for want in [
            "cpu",
            "host.cpu_percent",
            "memory_percent",
            "proc.memory.rssMB",
            "proc.cpu.threads",
            "lane.0.cpu",
            "lane.0.rssMB",
            "disk.in",
            "network.sent",
        ] {
            assert!(names.iter().any(|n| n == want), "{want} missing from {names:?}");
        }
        assert!(batch.frames().all(|f| f.lane() == SERVICE_LANE));
        assert!(Sampler::new(Duration::ZERO).is_none());
    }
}
