//! `xpf-replay`: runs pcap traces through the userspace backend.
//!
//! ```text
//! xpf-replay --config CFG.toml --in IFACE=trace.pcap[,IFACE=trace.pcap...] --out-dir DIR
//! xpf-replay --config CFG.toml --generate-trace DIR
//! ```
//!
//! Every input frame is injected on its interface at its capture time (the
//! backend runs inline, so the result is deterministic); frames the
//! firewall sends are written per egress interface to `DIR/<iface>.pcap`.
//! The summary lists forwarded / local / dropped frames with every drop
//! reason, the session table as `show security flow session` prints it,
//! the log lines the firewall emitted, and the counters.

mod pcap;
mod report;
mod trace;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use xpf_dataplane::cancel::Cancel;
use xpf_dataplane::{Config, ConfigSink, RuntimeDataPlane};
use xpf_userspace::UserspaceDataplane;

const USAGE: &str = "usage:
  xpf-replay --config CFG.toml --in IFACE=trace.pcap[,IFACE=trace.pcap...] --out-dir DIR
  xpf-replay --config CFG.toml --generate-trace DIR

Replays pcap/pcapng traces as ingress on the named interfaces through the
xpf userspace backend, writes forwarded frames per egress interface to
DIR/<iface>.pcap and prints a summary (drops by reason, sessions, counters).";

struct Args {
    config: PathBuf,
    inputs: Vec<(String, PathBuf)>,
    out_dir: Option<PathBuf>,
    generate: Option<PathBuf>,
}

fn parse_args() -> Result<Args, String> {
    let mut config = None;
    let mut inputs = Vec::new();
    let mut out_dir = None;
    let mut generate = None;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().ok_or_else(|| format!("{name} needs a value"));
        match a.as_str() {
            "--config" => config = Some(PathBuf::from(value("--config")?)),
            "--in" => {
                for spec in value("--in")?.split(',') {
                    let (iface, path) = spec
                        .split_once('=')
                        .ok_or_else(|| format!("--in {spec}: expected IFACE=FILE"))?;
                    inputs.push((iface.to_string(), PathBuf::from(path)));
                }
            }
            "--out-dir" => out_dir = Some(PathBuf::from(value("--out-dir")?)),
            "--generate-trace" => generate = Some(PathBuf::from(value("--generate-trace")?)),
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    let config = config.ok_or("--config is required")?;
    if generate.is_none() && (inputs.is_empty() || out_dir.is_none()) {
        return Err("--in and --out-dir are required (or --generate-trace)".into());
    }
    Ok(Args {
        config,
        inputs,
        out_dir,
        generate,
    })
}

fn run(args: Args) -> Result<(), String> {
    let config = Config::from_path(&args.config).map_err(|e| e.to_string())?;
    if let Some(dir) = &args.generate {
        for (name, n) in trace::generate(&config, dir)? {
            println!("wrote {}/{name} ({n} frames)", dir.display());
        }
        return Ok(());
    }
    let out_dir = args.out_dir.as_deref().expect("checked by parse_args");
    print!("{}", replay(&config, &args.inputs, out_dir)?);
    Ok(())
}

/// Replays `inputs` through a backend running `config`, writes the frames
/// it sends to `out_dir` and returns the summary.
fn replay(config: &Config, inputs: &[(String, PathBuf)], out_dir: &Path) -> Result<String, String> {
    let dp = UserspaceDataplane::inline();
    let applied =
        futures::executor::block_on(dp.apply(config, &Cancel::new())).map_err(|e| e.to_string())?;
    futures::executor::block_on(dp.start()).map_err(|e| e.to_string())?;
    let mut events = dp.telemetry().events().map_err(|e| e.to_string())?;

    // Every input frame, in capture-time order (stable across files).
    let mut frames = Vec::new();
    for (i, (iface, path)) in inputs.iter().enumerate() {
        if dp.interface_id(iface).is_none() {
            return Err(format!("--in {iface}: the config has no interface {iface}"));
        }
        for (j, p) in pcap::read(path)
            .map_err(|e| e.to_string())?
            .into_iter()
            .enumerate()
        {
            frames.push((p.ts_ns, i, j, iface.clone(), p.data));
        }
    }
    frames.sort_by_key(|f| (f.0, f.1, f.2));

    std::fs::create_dir_all(out_dir).map_err(|e| format!("{}: {e}", out_dir.display()))?;
    let file_of = |name: &str| out_dir.join(format!("{}.pcap", name.replace('/', "_")));
    let mut writers: BTreeMap<String, pcap::Writer> = BTreeMap::new();
    let mut tally = report::Tally::default();
    let mut log = Vec::new();
    for (ts, _, _, iface, data) in frames {
        let out = dp.inject(ts, &iface, data).map_err(|e| e.to_string())?;
        tally.count(&out);
        for f in out.frames {
            if !writers.contains_key(&f.name) {
                let w = pcap::Writer::create(&file_of(&f.name)).map_err(|e| e.to_string())?;
                writers.insert(f.name.clone(), w);
            }
            if let Some(w) = writers.get_mut(&f.name) {
                w.write(ts, &f.frame).map_err(|e| e.to_string())?;
            }
        }
        while let Some(e) = events.try_next() {
            log.push(e);
        }
    }
    let mut outputs = Vec::new();
    for (name, w) in writers {
        let path = file_of(&name);
        outputs.push((name, path, w.finish().map_err(|e| e.to_string())?));
    }
    let summary = report::Summary {
        dp: &dp,
        applied: &applied,
        tally: &tally,
        outputs: &outputs,
        events: &log,
        inputs,
    };
    Ok(summary.render())
}

fn main() -> ExitCode {
    match parse_args().and_then(run) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.is_empty() => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("xpf-replay: {e}\n\n{USAGE}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../replay")
    }

    fn config() -> Config {
        Config::from_path(root().join("branch-office.toml")).expect("demo config")
    }

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("xpf-replay-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn the_shipped_trace_is_what_the_generator_produces() {
        let dir = scratch("gen");
        let written = trace::generate(&config(), &dir).unwrap();
        assert_eq!(written.len(), 3);
        for (name, _) in written {
            let fresh = std::fs::read(dir.join(&name)).unwrap();
            let shipped = std::fs::read(root().join(&name)).unwrap_or_default();
            assert!(
                fresh == shipped,
                "examples/replay/{name} differs from a fresh generation; run \
                 `cargo run -p xpf-replay -- --config examples/replay/branch-office.toml \
                 --generate-trace examples/replay` and commit the result"
            );
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_demo_shows_forwarded_dropped_and_translated_traffic() {
        let out = scratch("run");
        let inputs: Vec<(String, PathBuf)> = ["ge-0/0/0.0", "ge-0/0/1.0", "ge-0/0/2.0"]
            .iter()
            .map(|i| (i.to_string(), root().join(trace::file_name(i))))
            .collect();
        let summary = replay(&config(), &inputs, &out).unwrap();
        for needle in [
            "default-deny",
            "policy-deny",
            "screen-syn-fin",
            "screen-land",
            "bad-ipv4-checksum",
            "NAT: source 198.18.10.21/49152 -> 198.19.10.2/",
            "NAT: destination 198.19.10.4/80 -> 198.18.30.10/8080",
            "2001:db8:1::21/49200 --> 2001:db8:200::10/80;tcp",
            ";udp",
            ";icmp,",
            ";icmp6,",
            "RT_FLOW_SESSION_DENY",
        ] {
            assert!(
                summary.contains(needle),
                "summary lacks {needle:?}:\n{summary}"
            );
        }
        // Every forwarded frame was written to its egress interface's file.
        let mut written = 0;
        for i in ["ge-0_0_0.0", "ge-0_0_1.0", "ge-0_0_2.0"] {
            written += pcap::read(&out.join(format!("{i}.pcap"))).unwrap().len();
        }
        let forwarded: usize = summary
            .lines()
            .find_map(|l| l.trim().strip_prefix("forwarded"))
            .and_then(|n| n.trim().parse().ok())
            .unwrap();
        assert_eq!(written, forwarded);
        assert!(forwarded > 0);
        std::fs::remove_dir_all(&out).unwrap();
    }
}
