// Replay and the proxy allocate many small, short-lived objects per
// exchange (header fields, JSON trees); glibc's allocator spent about a
// fifth of replay's instructions on them (docs/performance.md, "Profile").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    // Before anything reads an exchange: a panic's message can quote it.
    datovcr::panic_report::install();
    std::process::exit(datovcr::cli::run());
}
