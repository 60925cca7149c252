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

/// jemalloc's options, read before `main`: its heap in transparent huge
/// pages where the kernel allows them (`madvise` mode, the common default).
/// A large render touches 20 MiB of fresh memory; in 4 KiB pages that was
/// 4,100 page faults, an eighth of the process' time. `MALLOC_CONF`
/// (`_RJEM_MALLOC_CONF`) still overrides it.
#[cfg(not(target_env = "msvc"))]
#[export_name = "_rjem_malloc_conf"]
static MALLOC_CONF: &[u8; 11] = b"thp:always\0";

fn main() -> std::process::ExitCode {
    cli::run()
}
