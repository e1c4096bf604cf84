//! Command-line parsing (no dependency: a handful of flags).

use std::path::PathBuf;
use std::time::Duration;

use crate::backend::Scenario;
use crate::error::{BenchError, Result};

/// Usage text.
pub const USAGE: &str = "\
usage: xpf-bench netns [options]

Runs the netns benchmark (root needed; XPF_ALLOW_SKIP_PRIVILEGED=1 turns a
missing root into a reported skip). Installs missing Debian packages
(iproute2, nftables, ethtool, clang, libbpf-dev) with apt-get.

options:
  --smoke              1 round, 1 s per measurement; checks that every
                       configuration forwarded traffic and that cleanup left
                       nothing behind; writes BENCHMARKS.md / chart only if
                       --markdown / --chart are given
  --rounds N           rounds (default 5; each configuration once per round,
                       rotated order)
  --duration SECS      measuring window per measurement (default 5)
  --flows N            established flows (default 10000, at most 30000)
  --scenarios LIST     comma-separated: established,new-flows,full-table,tcp-bulk
                       (default: all)
  --configs LIST       comma-separated configuration names (default: all)
  --out FILE.jsonl     JSON line per measurement (default in a full run:
                       target/xpf-bench/netns.jsonl)
  --markdown FILE      Markdown file to write the table into, between markers
                       (default in a full run: BENCHMARKS.md)
  --chart FILE.png     chart (default in a full run: docs/netns-bench.png)
  --no-write           full run without writing BENCHMARKS.md and the chart
";

/// A parsed command.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Print usage.
    Help,
    /// Run the netns benchmark.
    Netns(NetnsOpts),
}

/// Options of `netns`.
#[derive(Debug, Clone, PartialEq)]
pub struct NetnsOpts {
    /// Smoke mode.
    pub smoke: bool,
    /// Rounds.
    pub rounds: u32,
    /// Window per measurement.
    pub duration: Duration,
    /// Warm-up before the window.
    pub warmup: Duration,
    /// Established flows.
    pub flows: u32,
    /// Scenarios to run.
    pub scenarios: Vec<Scenario>,
    /// Configurations to run (empty: all).
    pub configs: Vec<String>,
    /// JSON lines output.
    pub out: Option<PathBuf>,
    /// Markdown output.
    pub markdown: Option<PathBuf>,
    /// Chart output.
    pub chart: Option<PathBuf>,
}

fn workspace_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map_or(manifest.clone(), PathBuf::from)
}

fn value<'a>(args: &'a [String], i: &mut usize, flag: &str) -> Result<&'a str> {
    *i += 1;
    args.get(*i)
        .map(String::as_str)
        .ok_or_else(|| BenchError::Usage(format!("{flag} needs a value")))
}

fn number<T: std::str::FromStr>(s: &str, flag: &str) -> Result<T> {
    s.parse()
        .map_err(|_| BenchError::Usage(format!("{flag}: not a number: {s:?}")))
}

/// Parses the arguments (without the program name).
pub fn parse(args: &[String]) -> Result<Command> {
    match args.first().map(String::as_str) {
        None | Some("-h" | "--help" | "help") => return Ok(Command::Help),
        Some("netns") => {}
        Some(other) => return Err(BenchError::Usage(format!("unknown command {other:?}"))),
    }
    let mut smoke = false;
    let mut rounds = None;
    let mut duration = None;
    let mut flows = 10_000u32;
    let mut scenarios = Scenario::ALL.to_vec();
    let mut configs = Vec::new();
    let mut out = None;
    let mut markdown = None;
    let mut chart = None;
    let mut no_write = false;
    let mut i = 1;
    while i < args.len() {
        let flag = args[i].as_str();
        match flag {
            "--smoke" => smoke = true,
            "--no-write" => no_write = true,
            "--rounds" => rounds = Some(number::<u32>(value(args, &mut i, flag)?, flag)?),
            "--duration" => {
                let secs: f64 = number(value(args, &mut i, flag)?, flag)?;
                if !(0.1..=600.0).contains(&secs) {
                    return Err(BenchError::Usage("--duration: 0.1 to 600 seconds".into()));
                }
                duration = Some(Duration::from_secs_f64(secs));
            }
            "--flows" => flows = number(value(args, &mut i, flag)?, flag)?,
            "--scenarios" => {
                scenarios = value(args, &mut i, flag)?
                    .split(',')
                    .map(|s| {
                        Scenario::from_name(s)
                            .ok_or_else(|| BenchError::Usage(format!("unknown scenario {s:?}")))
                    })
                    .collect::<Result<_>>()?;
            }
            "--configs" => {
                configs = value(args, &mut i, flag)?
                    .split(',')
                    .map(str::to_owned)
                    .collect();
            }
            "--out" => out = Some(PathBuf::from(value(args, &mut i, flag)?)),
            "--markdown" => markdown = Some(PathBuf::from(value(args, &mut i, flag)?)),
            "--chart" => chart = Some(PathBuf::from(value(args, &mut i, flag)?)),
            other => return Err(BenchError::Usage(format!("unknown option {other:?}"))),
        }
        i += 1;
    }
    if flows == 0 || flows > crate::topology::MAX_FLOWS {
        return Err(BenchError::Usage(format!(
            "--flows: 1 to {}",
            crate::topology::MAX_FLOWS
        )));
    }
    let rounds = rounds.unwrap_or(if smoke { 1 } else { 5 });
    if rounds == 0 {
        return Err(BenchError::Usage("--rounds: at least 1".into()));
    }
    let root = workspace_root();
    let full_write = !smoke && !no_write;
    Ok(Command::Netns(NetnsOpts {
        smoke,
        rounds,
        duration: duration.unwrap_or(Duration::from_secs(if smoke { 1 } else { 5 })),
        warmup: if smoke {
            Duration::from_millis(300)
        } else {
            Duration::from_secs(1)
        },
        flows,
        scenarios,
        configs,
        out: out.or_else(|| (!smoke).then(|| root.join("target/xpf-bench/netns.jsonl"))),
        markdown: markdown.or_else(|| full_write.then(|| root.join("BENCHMARKS.md"))),
        chart: chart.or_else(|| full_write.then(|| root.join("docs/netns-bench.png"))),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn smoke_defaults_to_one_short_round_and_writes_no_report() {
        let Command::Netns(o) = parse(&args("netns --smoke")).unwrap() else {
            panic!("not netns");
        };
        assert!(o.smoke);
        assert_eq!(o.rounds, 1);
        assert_eq!(o.duration, Duration::from_secs(1));
        assert_eq!(o.markdown, None);
        assert_eq!(o.chart, None);
        assert_eq!(o.out, None);
    }

    #[test]
    fn full_run_defaults_to_five_rounds_and_writes_the_report() {
        let Command::Netns(o) = parse(&args("netns --out x.jsonl")).unwrap() else {
            panic!("not netns");
        };
        assert_eq!(o.rounds, 5);
        assert_eq!(o.out, Some(PathBuf::from("x.jsonl")));
        assert!(o.markdown.unwrap().ends_with("BENCHMARKS.md"));
        assert!(o.chart.unwrap().ends_with("docs/netns-bench.png"));
        assert_eq!(o.scenarios, Scenario::ALL.to_vec());
    }

    #[test]
    fn bad_arguments_are_usage_errors() {
        for bad in [
            "bogus",
            "netns --rounds",
            "netns --rounds x",
            "netns --rounds 0",
            "netns --flows 100000",
            "netns --scenarios nope",
            "netns --what",
        ] {
            assert!(
                matches!(parse(&args(bad)), Err(BenchError::Usage(_))),
                "{bad}"
            );
        }
        assert_eq!(parse(&[]).unwrap(), Command::Help);
    }

    #[test]
    fn scenario_and_config_lists_are_parsed() {
        let Command::Netns(o) = parse(&args(
            "netns --scenarios established,tcp-bulk --configs kernel,nftables --rounds 2",
        ))
        .unwrap() else {
            panic!("not netns");
        };
        assert_eq!(o.scenarios, vec![Scenario::Established, Scenario::TcpBulk]);
        assert_eq!(o.configs, vec!["kernel", "nftables"]);
        assert_eq!(o.rounds, 2);
    }
}
