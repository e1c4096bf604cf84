//! `xpf-bench`: command-line entry point (see `xpf_bench::cli` for usage).

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let cmd = match xpf_bench::cli::parse(&args) {
        Ok(cmd) => cmd,
        Err(e) => {
            eprintln!("xpf-bench: {e}\n\n{}", xpf_bench::cli::USAGE);
            return ExitCode::from(2);
        }
    };
    match cmd {
        xpf_bench::cli::Command::Help => {
            println!("{}", xpf_bench::cli::USAGE);
            ExitCode::SUCCESS
        }
        xpf_bench::cli::Command::Netns(opts) => match xpf_bench::run_netns(&opts) {
            Ok(()) => ExitCode::SUCCESS,
            Err(xpf_bench::BenchError::Interrupted) => {
                eprintln!("xpf-bench: interrupted; namespaces removed");
                ExitCode::from(130)
            }
            Err(e) => {
                eprintln!("xpf-bench: {e}");
                ExitCode::FAILURE
            }
        },
    }
}
