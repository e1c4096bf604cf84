//! The `netns` command: checks (root, packages), cleanup of stale runs,
//! compiling the BPF programs, the rounds of measurements in rotated order
//! with progress lines, the smoke checks, and the outputs (JSON lines,
//! Markdown table, chart).

use std::path::{Path, PathBuf};

use crate::backend::{self, Availability, Backend};
use crate::bpf;
use crate::chart;
use crate::cleanup;
use crate::cli::NetnsOpts;
use crate::error::{BenchError, Result};
use crate::measure::{self, MeasureOpts, Measurement};
use crate::report::{self, Meta};
use crate::sys::{self, Privilege};

/// Removes the run's scratch directory on every exit path.
struct WorkDir(PathBuf);

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn machine() -> String {
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    format!("{model}, {} vCPUs", sys::online_cpus())
}

fn kernel() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "unknown".into())
}

fn today() -> String {
    sys::run("date", &["-u", "+%Y-%m-%d"])
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "unknown date".into())
}

/// The configurations of one round, rotated by the round number.
pub fn rotated<T: Clone>(items: &[T], round: u32) -> Vec<T> {
    if items.is_empty() {
        return Vec::new();
    }
    let k = round as usize % items.len();
    items[k..].iter().chain(&items[..k]).cloned().collect()
}

fn progress(done: usize, total: usize, round: u32, rounds: u32, m: &Measurement) {
    let sessions = m
        .sessions_after
        .map_or_else(String::new, |s| format!(", {s} sessions"));
    let extra = if m.unit == "packet" {
        format!("{:.2} Mpps offered", m.offered_mpps)
    } else {
        format!("{:.2} Gbit/s", m.gbps)
    };
    println!(
        "[round {}/{rounds} · {done}/{total}] {:<14} {:<12} {:>8.1} ns/{} · {:.2} Mpps out · {extra}{sessions}",
        round + 1,
        m.config,
        m.scenario,
        m.ns_per_unit,
        m.unit,
        m.mpps
    );
}

/// Runs the netns benchmark with `opts`.
pub fn run_netns(opts: &NetnsOpts) -> Result<()> {
    match sys::require_root()? {
        Privilege::Root => {}
        Privilege::Skip => {
            println!(
                "SKIP: xpf-bench netns needs root (network namespaces, BPF); skipped because {}=1",
                sys::ALLOW_SKIP_ENV
            );
            return Ok(());
        }
    }
    if sys::online_cpus() < 2 {
        eprintln!("xpf-bench: warning: one CPU only, firewall and generator share it");
    }
    sys::ensure_packages()?;
    cleanup::install_signal_handler()?;
    let stale = cleanup::sweep_stale()?;
    if !stale.is_empty() {
        println!(
            "removed stale benchmark namespaces/links: {}",
            stale.join(" ")
        );
    }

    let pid = std::process::id();
    let work = WorkDir(std::env::temp_dir().join(format!("xpf-bench-{pid}")));
    let obj = bpf::compile(&work.0)?;

    let mut backends = backend::all_backends();
    if !opts.configs.is_empty() {
        for name in &opts.configs {
            if !backends.iter().any(|b| b.name() == name) {
                return Err(BenchError::Usage(format!("unknown configuration {name:?}")));
            }
        }
        backends.retain(|b| opts.configs.iter().any(|c| c == b.name()));
    }
    let mut not_available = Vec::new();
    let mut measured: Vec<Box<dyn Backend>> = Vec::new();
    for b in backends {
        match b.availability() {
            Availability::Available => measured.push(b),
            Availability::NotYet(reason) => {
                println!("{}: not yet available ({reason})", b.name());
                not_available.push((b.name().to_owned(), reason));
            }
        }
    }
    if let Some(out) = &opts.out {
        // One file per run.
        let _ = std::fs::remove_file(out);
    }

    let plan: usize = opts
        .scenarios
        .iter()
        .map(|s| measured.iter().filter(|b| b.supports(*s)).count())
        .sum::<usize>()
        * opts.rounds as usize;
    println!(
        "xpf-bench netns: {} measurement(s): {} round(s) × {} scenario(s), {:.1} s each, {} flows; firewall on CPU {}, generator on CPU {}",
        plan,
        opts.rounds,
        opts.scenarios.len(),
        opts.duration.as_secs_f64(),
        opts.flows,
        crate::topology::FIREWALL_CPU,
        crate::topology::GENERATOR_CPU
    );
    let mopts = MeasureOpts {
        duration: opts.duration,
        warmup: opts.warmup,
        flows: opts.flows,
        pid,
        fill: if opts.smoke {
            measure::SMOKE_TABLE_FILL
        } else {
            measure::FULL_TABLE_FILL
        },
    };
    let order: Vec<usize> = (0..measured.len()).collect();
    let mut results = Vec::new();
    // Busy-polling backends measured without saturating them (their CPU
    // time would count idle polling).
    let mut unsaturated: Vec<String> = Vec::new();
    for round in 0..opts.rounds {
        for &scenario in &opts.scenarios {
            let mut pos = 0u32;
            for idx in rotated(&order, round) {
                let b = &mut measured[idx];
                if !b.supports(scenario) {
                    continue;
                }
                cleanup::check_stop()?;
                let mut m =
                    measure::measure(b.as_mut(), scenario, &mopts, &obj, &work.0).map_err(|e| {
                        match e {
                            BenchError::Interrupted => e,
                            other => {
                                BenchError::Check(format!("{} / {scenario}: {other}", b.name()))
                            }
                        }
                    })?;
                if b.busy_polls() && scenario.is_udp() && m.offered_pkts <= m.pkts_out {
                    unsaturated.push(format!(
                        "{} / {scenario} (offered {}, forwarded {})",
                        b.name(),
                        m.offered_pkts,
                        m.pkts_out
                    ));
                }
                m.round = round;
                m.order = pos;
                pos += 1;
                progress(results.len() + 1, plan, round, opts.rounds, &m);
                if let Some(out) = &opts.out {
                    report::append_jsonl(out, &m)?;
                }
                results.push(m);
            }
        }
    }

    let rows = report::summarize(&results);
    let meta = Meta {
        machine: machine(),
        kernel: kernel(),
        date: today(),
        rounds: opts.rounds,
        window_s: opts.duration.as_secs_f64(),
        flows: opts.flows,
        fill: mopts.fill,
        command: command_line(opts),
        not_available,
        chart: opts.chart.as_ref().map(|c| relative_to_markdown(c, opts)),
        comparisons: report::EQUIVALENTS
            .iter()
            .flat_map(|(this, base)| report::compare(&results, this, base))
            .collect(),
    };
    let md = report::markdown(&rows, &meta);
    println!("\n{md}");

    if let Some(chart_path) = &opts.chart {
        chart::write(
            chart_path,
            &rows,
            "xpf netns benchmark: firewall CPU per forwarded packet",
            &format!(
                "median with min-max whiskers, {} round(s); {}; Linux {}; {}",
                meta.rounds, meta.machine, meta.kernel, meta.date
            ),
        )?;
        println!("chart: {}", chart_path.display());
    }
    if let Some(md_path) = &opts.markdown {
        report::write_markdown(md_path, "## netns benchmark", &md)?;
        println!("table: {}", md_path.display());
    }
    if let Some(out) = &opts.out {
        println!("measurements: {}", out.display());
    }

    // Smoke checks (also true of a full run): traffic went through every
    // configuration, and nothing of this run is left behind.
    // A configuration is broken when it forwarded nothing in any
    // scenario. One scenario forwarding nothing can be the configuration
    // working as specified: source NAT over one address fails closed once
    // its 64,512 ports are taken (one-way new flows exhaust them within
    // the window), so those are reported, not failed.
    let mut configs: Vec<&str> = results.iter().map(|m| m.config.as_str()).collect();
    configs.dedup();
    configs.sort_unstable();
    configs.dedup();
    let silent: Vec<String> = configs
        .into_iter()
        .filter(|c| {
            results
                .iter()
                .filter(|m| m.config == *c)
                .all(|m| m.pkts_out == 0)
        })
        .map(str::to_string)
        .collect();
    let mut quiet: Vec<String> = results
        .iter()
        .filter(|m| m.pkts_out == 0)
        .map(|m| format!("{} / {}", m.config, m.scenario))
        .collect();
    quiet.sort();
    quiet.dedup();
    if !quiet.is_empty() {
        eprintln!(
            "note: no packet left the firewall in (a scenario, not the whole configuration): {}",
            quiet.join(", ")
        );
    }
    let left = cleanup::leftovers_of(pid)?;
    if !left.is_empty() {
        return Err(BenchError::Check(format!(
            "cleanup left behind: {}",
            left.join(" ")
        )));
    }
    if !silent.is_empty() {
        return Err(BenchError::Check(format!(
            "no packet left the firewall in any scenario of: {}",
            silent.join(", ")
        )));
    }
    if !unsaturated.is_empty() {
        return Err(BenchError::Check(format!(
            "a busy-polling backend was not saturated (offered load must exceed forwarded): {}",
            unsaturated.join(", ")
        )));
    }
    if results.is_empty() {
        return Err(BenchError::Check("nothing was measured".into()));
    }
    println!(
        "xpf-bench netns: ok: {} measurement(s), every configuration forwarded traffic, no namespace or link left behind",
        results.len()
    );
    Ok(())
}

fn command_line(opts: &NetnsOpts) -> String {
    let mut s = String::from("cargo run --release -p xpf-bench -- netns");
    if opts.smoke {
        s.push_str(" --smoke");
    }
    if opts.rounds != 5 && !opts.smoke {
        s.push_str(&format!(" --rounds {}", opts.rounds));
    }
    s
}

fn relative_to_markdown(chart: &Path, opts: &NetnsOpts) -> String {
    let base = opts
        .markdown
        .as_ref()
        .and_then(|m| m.parent())
        .map(Path::to_path_buf);
    base.and_then(|b| chart.strip_prefix(&b).ok().map(Path::to_path_buf))
        .unwrap_or_else(|| chart.to_path_buf())
        .to_string_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_rotate_the_configuration_order() {
        let items = ["a", "b", "c"];
        assert_eq!(rotated(&items, 0), vec!["a", "b", "c"]);
        assert_eq!(rotated(&items, 1), vec!["b", "c", "a"]);
        assert_eq!(rotated(&items, 5), vec!["c", "a", "b"]);
        assert!(rotated::<u8>(&[], 3).is_empty());
    }
}
