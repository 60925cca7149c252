//! The `windlass` command-line tool. All logic lives in the library; this
//! file only hands the process over to the CLI layer.

mod cli;

/// jemalloc instead of glibc's malloc. A render parses documents on every
/// core, and glibc grows each thread's heap one page per `mprotect` call
/// under the process-wide memory lock (2,243 calls for the big HDFS
/// render); jemalloc maps larger extents. The big render is 10-20% faster
/// at the same peak memory (docs/benchmarks.md).
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> std::process::ExitCode {
    cli::run()
}
