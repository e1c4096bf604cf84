//! Compiles the XDP program (`bpf/xpf.bpf.c`) with clang into `OUT_DIR`,
//! where `src/program.rs` embeds it. `XPF_EBPF_OBJECT=/path/to/xpf.bpf.o`
//! uses a prebuilt object instead (no clang needed); `CLANG` names another
//! clang binary.

use std::env;
use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=bpf/xpf.bpf.c");
    println!("cargo:rerun-if-changed=bpf/xpf_shared.h");
    println!("cargo:rerun-if-env-changed=XPF_EBPF_OBJECT");
    println!("cargo:rerun-if-env-changed=CLANG");
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let out = out_dir.join("xpf.bpf.o");
    if let Some(prebuilt) = env::var_os("XPF_EBPF_OBJECT") {
        let prebuilt = PathBuf::from(prebuilt);
        println!("cargo:rerun-if-changed={}", prebuilt.display());
        if let Err(e) = std::fs::copy(&prebuilt, &out) {
            panic!(
                "xpf-ebpf: XPF_EBPF_OBJECT={} cannot be copied: {e}",
                prebuilt.display()
            );
        }
        return;
    }
    let clang = env::var("CLANG").unwrap_or_else(|_| "clang".to_string());
    let arch = env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let multiarch = match arch.as_str() {
        "x86_64" => "x86_64-linux-gnu",
        "aarch64" => "aarch64-linux-gnu",
        other => panic!("xpf-ebpf: no multiarch include directory known for target arch {other:?}"),
    };
    let manifest = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let source = manifest.join("bpf/xpf.bpf.c");
    let result = Command::new(&clang)
        .args([
            "-target", "bpf", "-O2", "-g", "-mcpu=v3", "-Wall", "-Werror",
        ])
        .arg(format!("-I/usr/include/{multiarch}"))
        .arg("-c")
        .arg(&source)
        .arg("-o")
        .arg(&out)
        .status();
    match result {
        Ok(status) if status.success() => {}
        Ok(status) => panic!(
            "xpf-ebpf: `{clang}` failed to compile {} ({status}); see the compiler output above",
            source.display()
        ),
        Err(e) => panic!(
            "xpf-ebpf: cannot run `{clang}` ({e}). The eBPF backend compiles its XDP program \
             with clang: install it (Debian: `apt-get install clang llvm libbpf-dev`), point \
             CLANG at a clang binary, or set XPF_EBPF_OBJECT to a prebuilt xpf.bpf.o"
        ),
    }
}
