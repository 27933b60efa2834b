//! `ringlog watch [RUN]`: a live terminal dashboard of one run (ratatui).
//!
//! Two sources, both read-only and cheap: the end of the run log, read every
//! 250 ms through its index the way `tail -n` reads it (the last `--history`
//! rows: the work per read is bounded whatever the run's rate, unlike following
//! every record, which cost a fast run about a fifth of its throughput on two
//! cores), and the service's status (every second) for each lane's rate, lag
//! (bytes waiting in the lane), drops and state. The screen is redrawn about 4
//! times a second. `q`, Esc or Ctrl-C quits and restores the terminal; so does
//! a panic (ratatui's hook).

use std::collections::{BTreeMap, VecDeque};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use ratatui::Frame;
use ratatui::crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
use ratatui::layout::{Constraint, Layout};
use ratatui::style::{Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Cell, Paragraph, Row as TableRow, Table};
use ringlog_ring::protocol::control_message::RunStatus;

use super::{Result, human, run_lookup, status_cmd};
use crate::{Row, Sampling};

/// Screen refresh period (about 4 per second).
const FRAME: Duration = Duration::from_millis(250);
/// How often the service's status is asked for.
const STATUS_EVERY: Duration = Duration::from_secs(1);
/// How often the reader reads the end of the run log.
const LOG_POLL: Duration = Duration::from_millis(250);
/// Columns of a key's sparkline.
const SPARK_WIDTH: usize = 40;

/// What the reader thread has read of the log.
#[derive(Default)]
struct LogView {
    keys: BTreeMap<String, KeySeries>,
    /// History rows in the last read of the log's end.
    rows: u64,
    last_step: Option<i64>,
    last_output: Option<String>,
    /// Set when the follower stopped: `Ok` when the run ended, else why it failed.
    ended: Option<std::result::Result<(), String>>,
}

/// One key: its last value and its recent numeric values.
#[derive(Default)]
struct KeySeries {
    last: String,
    recent: VecDeque<f64>,
}

impl LogView {
    /// Replaces each key's recent values with those in `rows` (the log's last
    /// rows); a key not among them keeps its last value and curve.
    fn refresh(&mut self, rows: &[Row], history: usize) {
        let mut fresh = LogView::default();
        for row in rows {
            fresh.add(row, history);
        }
        for (k, s) in fresh.keys {
            self.keys.insert(k, s);
        }
        self.rows = fresh.rows;
        self.last_step = fresh.last_step.max(self.last_step);
        if fresh.last_output.is_some() {
            self.last_output = fresh.last_output;
        }
    }

    fn add(&mut self, row: &Row, history: usize) {
        if !row.is_history() {
            if let Some(text) = row.values.get("line").and_then(|t| t.as_str()) {
                self.last_output = Some(text.trim_end().to_owned());
            }
            return;
        }
        self.rows += 1;
        if row.step.is_some() {
            self.last_step = row.step.max(self.last_step);
        }
        for (k, v) in &row.values {
            let s = self.keys.entry(k.clone()).or_default();
            s.last = match v {
                serde_json::Value::Number(n) => n.as_f64().map_or_else(|| n.to_string(), format_value),
                serde_json::Value::String(t) => t.clone(),
                other => other.to_string(),
            };
            if let Some(x) = v.as_f64() {
                if s.recent.len() == history.max(1) {
                    s.recent.pop_front();
                }
                s.recent.push_back(x);
            }
        }
    }
}

fn format_value(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else if v != 0.0 && (v.abs() >= 1e6 || v.abs() < 1e-3) {
        format!("{v:.4e}")
    } else {
        format!("{v:.6}")
    }
}

/// `values` as a row of block characters, `width` wide (each column the mean
/// of its share of the values), scaled between their min and max.
fn sparkline(values: &VecDeque<f64>, width: usize) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if finite.is_empty() || width == 0 {
        return String::new();
    }
    let cols = width.min(finite.len());
    let means: Vec<f64> = (0..cols)
        .map(|c| {
            let (a, b) = (c * finite.len() / cols, ((c + 1) * finite.len() / cols).max(c * finite.len() / cols + 1));
            finite[a..b].iter().sum::<f64>() / (b - a) as f64
        })
        .collect();
    let (lo, hi) = means.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &x| (l.min(x), h.max(x)));
    means
        .iter()
        .map(|&x| if hi > lo { BARS[(((x - lo) / (hi - lo)) * 7.0).round() as usize] } else { BARS[3] })
        .collect()
}

/// Lane counters from the previous status, for rates.
struct LaneRates {
    at: Instant,
    records: BTreeMap<u16, u64>,
    per_s: BTreeMap<u16, f64>,
}

pub(super) fn watch(run: Option<&str>, dir: Option<PathBuf>, history: usize, keys: Option<Vec<String>>) -> Result<()> {
    let run_dir = match run {
        Some(r) => run_lookup::resolve(r, dir)?,
        None => run_lookup::latest(dir)?,
    };
    if !std::io::stdout().is_terminal() {
        return Err("watch draws on a terminal and stdout is not one: use `ringlog tail -f RUN` to follow a run in \
                    a pipe"
            .into());
    }
    let listing = crate::export::exporters::listing_of(&run_dir)
        .ok_or_else(|| format!("{} holds no ringlog run", run_dir.display()))?;
    let view = Arc::new(Mutex::new(LogView::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let follower = spawn_follower(&run_dir, history, keys, Arc::clone(&view), Arc::clone(&stop))?;
    let mut terminal = ratatui::init();
    let result = (|| -> Result<()> {
        let mut status: Option<RunStatus> = None;
        let mut service_note = String::new();
        let mut rates = LaneRates { at: Instant::now(), records: BTreeMap::new(), per_s: BTreeMap::new() };
        let mut next_status = Instant::now();
        loop {
            if Instant::now() >= next_status {
                next_status = Instant::now() + STATUS_EVERY;
                match status_cmd::fetch() {
                    Ok(Some(report)) => {
                        status = report.runs.into_iter().find(|r| r.run_id == listing.run_id);
                        service_note.clear();
                    }
                    Ok(None) => (status, service_note) = (None, "no service running".into()),
                    Err(e) => (status, service_note) = (None, format!("service: {e}")),
                }
                update_rates(&mut rates, status.as_ref());
            }
            {
                let v = view.lock().unwrap_or_else(PoisonError::into_inner);
                let meta_state = crate::export::exporters::listing_of(&run_dir).map(|l| l.state);
                terminal.draw(|f| draw(f, &listing, &v, status.as_ref(), &rates, meta_state, &service_note))?;
            }
            if event::poll(FRAME)?
                && let Event::Key(k) = event::read()?
                && k.kind == KeyEventKind::Press
                && (matches!(k.code, KeyCode::Char('q') | KeyCode::Esc)
                    || (k.code == KeyCode::Char('c') && k.modifiers.contains(KeyModifiers::CONTROL)))
            {
                return Ok(());
            }
        }
    })();
    ratatui::restore();
    // Ordering: Relaxed: a flag the follower polls between file reads; it
    // publishes no data (the view is behind its mutex).
    stop.store(true, Ordering::Relaxed);
    let _ = follower.join();
    result
}

fn spawn_follower(
    run_dir: &Path,
    history: usize,
    keys: Option<Vec<String>>,
    view: Arc<Mutex<LogView>>,
    stop: Arc<AtomicBool>,
) -> Result<std::thread::JoinHandle<()>> {
    let run_dir = run_dir.to_owned();
    let sampling = Sampling { keys, ..Sampling::default() };
    Ok(std::thread::Builder::new().name("watch-read".into()).spawn(move || {
        // Ordering: Relaxed: see the store in `watch`.
        while !stop.load(Ordering::Relaxed) {
            let running = crate::export::exporters::listing_of(&run_dir).is_none_or(|l| l.state == "running");
            match crate::tail_with(&run_dir, history, &sampling) {
                Ok(t) => view.lock().unwrap_or_else(PoisonError::into_inner).refresh(&t.rows, history),
                Err(e) => {
                    view.lock().unwrap_or_else(PoisonError::into_inner).ended = Some(Err(e.to_string()));
                    return;
                }
            }
            if !running {
                // The run has ended and the read after its end is on screen.
                view.lock().unwrap_or_else(PoisonError::into_inner).ended = Some(Ok(()));
                return;
            }
            let until = Instant::now() + LOG_POLL;
            // Ordering: Relaxed: see the store in `watch`.
            while Instant::now() < until && !stop.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(25));
            }
        }
    })?)
}

fn update_rates(rates: &mut LaneRates, status: Option<&RunStatus>) {
    let now = Instant::now();
    let dt = now.duration_since(rates.at).as_secs_f64();
    let mut records = BTreeMap::new();
    for l in status.map(|s| s.lanes.as_slice()).unwrap_or_default() {
        if let Some(&before) = rates.records.get(&l.lane)
            && dt > 0.0
        {
            rates.per_s.insert(l.lane, l.records.saturating_sub(before) as f64 / dt);
        }
        records.insert(l.lane, l.records);
    }
    rates.records = records;
    rates.at = now;
}

fn draw(
    f: &mut Frame,
    listing: &crate::RunListing,
    v: &LogView,
    status: Option<&RunStatus>,
    rates: &LaneRates,
    meta_state: Option<String>,
    service_note: &str,
) {
    let lanes = status.map_or(0, |s| s.lanes.len());
    let [head, keys_area, lanes_area, foot] = Layout::vertical([
        Constraint::Length(3),
        Constraint::Min(3),
        Constraint::Length(lanes.clamp(1, 8) as u16 + 3),
        Constraint::Length(1),
    ])
    .areas(f.area());
    let state = status.map(|s| s.state.clone()).or(meta_state).unwrap_or_else(|| "unknown".into());
    let ended = match &v.ended {
        Some(Ok(())) => "  (run ended)".to_owned(),
        Some(Err(e)) => format!("  (reading stopped: {e})"),
        None => String::new(),
    };
    let mut line = format!(
        "run {}  {}/{}  state {state}  step {}  rows read {}",
        listing.run_id,
        listing.project.as_deref().unwrap_or("-"),
        listing.name.as_deref().unwrap_or("-"),
        v.last_step.map_or_else(|| "-".into(), |s| s.to_string()),
        human::count(v.rows),
    );
    if let Some(s) = status {
        line.push_str(&format!(
            "  records {}  run log {}  {}",
            human::count(s.records),
            human::bytes(s.bytes),
            human::rate(s.records_per_s)
        ));
    }
    line.push_str(&ended);
    f.render_widget(Paragraph::new(line).block(Block::bordered().title(" ringlog watch ")), head);

    let bold = Style::default().add_modifier(Modifier::BOLD);
    let key_rows = v.keys.iter().map(|(k, s)| {
        let (lo, hi) = s.recent.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &x| (l.min(x), h.max(x)));
        let range = if lo <= hi { format!("{}..{}", format_value(lo), format_value(hi)) } else { String::new() };
        TableRow::new([
            Cell::from(k.clone()),
            Cell::from(s.last.clone()),
            Cell::from(range),
            Cell::from(sparkline(&s.recent, SPARK_WIDTH)),
        ])
    });
    let keys_table = Table::new(
        key_rows,
        [Constraint::Percentage(25), Constraint::Length(16), Constraint::Length(26), Constraint::Min(10)],
    )
    .header(TableRow::new(["key", "last", "range (recent)", "recent steps"]).style(bold))
    .block(Block::bordered().title(format!(" keys ({}) ", v.keys.len())));
    f.render_widget(keys_table, keys_area);

    let lane_rows = status.map(|s| s.lanes.as_slice()).unwrap_or_default().iter().map(|l| {
        TableRow::new([
            l.lane.to_string(),
            l.pid.to_string(),
            l.state.clone(),
            human::count(l.records),
            rates.per_s.get(&l.lane).map_or_else(|| "-".into(), |r| human::rate(*r)),
            format!("{} ({:.0}%)", human::bytes(l.fill), 100.0 * l.fill as f64 / l.capacity.max(1) as f64),
            l.drops.to_string(),
            l.timeouts.to_string(),
        ])
    });
    let lanes_title = if status.is_some() {
        " lanes ".to_owned()
    } else if service_note.is_empty() {
        " lanes (the service has no such live run) ".to_owned()
    } else {
        format!(" lanes ({service_note}) ")
    };
    let lanes_table = Table::new(
        lane_rows,
        [
            Constraint::Length(5),
            Constraint::Length(8),
            Constraint::Length(10),
            Constraint::Length(10),
            Constraint::Length(12),
            Constraint::Length(16),
            Constraint::Length(7),
            Constraint::Length(9),
        ],
    )
    .header(TableRow::new(["lane", "pid", "state", "records", "rate", "lag", "drops", "timeouts"]).style(bold))
    .block(Block::bordered().title(lanes_title));
    f.render_widget(lanes_table, lanes_area);

    let foot_text = match &v.last_output {
        Some(o) => format!("q: quit   last output: {o}"),
        None => "q: quit".to_owned(),
    };
    f.render_widget(Paragraph::new(Line::from(foot_text)), foot);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparklines_scale_between_min_and_max() {
        let v: VecDeque<f64> = (0..8).map(f64::from).collect();
        assert_eq!(sparkline(&v, 8), "▁▂▃▄▅▆▇█");
        assert_eq!(sparkline(&v, 4).chars().count(), 4);
        assert_eq!(sparkline(&VecDeque::from([1.0, 1.0]), 8), "▄▄");
        assert_eq!(sparkline(&VecDeque::new(), 8), "");
        assert_eq!(sparkline(&VecDeque::from([f64::NAN, 2.0]), 8), "▄");
    }
}
