use which::which;

/// Rebuild the eBPF object when bpf-linker changes (aya-template does the same).
fn main() {
    let bpf_linker = which("bpf-linker").unwrap();
    println!("cargo:rerun-if-changed={}", bpf_linker.to_str().unwrap());
}
