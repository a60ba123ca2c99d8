//! The `nmr` binary: hands the command line to [`nmr::cli`], after tuning glibc's allocator.
//! The two allocator calls are glibc's own functions, which no maintained safe wrapper offers
//! (rustix covers system calls, not libc's malloc), so they stay here, outside the library,
//! which forbids `unsafe`.

fn main() {
    tune_malloc();
    nmr::listener::after_writes(release_memory);
    std::process::exit(nmr::cli::main(std::env::args().skip(1).collect()));
}

/// Keeps glibc's allocator from holding on to memory the server no longer uses.
///
/// Publishing moves buffers of megabytes (the body carries the tarball in base64) and rebuilds
/// packuments of hundreds of KB, on any of the worker threads. By default glibc raises its mmap
/// threshold after the first large buffer is freed, so later large buffers come from the
/// per-thread arenas (up to 8 per core), which keep the freed pages: seeding 700 packages left
/// the server at about 115 MB resident, of which `malloc_trim` could give back 69 MB. A fixed
/// threshold keeps buffers of 128 KB and more in their own mappings, returned when freed, and
/// one arena (requests mostly wait on I/O; each thread has its own small-block cache) bounds
/// what the many small allocations leave behind.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn tune_malloc() {
    use std::os::raw::c_int;
    extern "C" {
        fn mallopt(param: c_int, value: c_int) -> c_int;
    }
    // From glibc's malloc.h.
    const M_MMAP_THRESHOLD: c_int = -3;
    const M_ARENA_MAX: c_int = -8;
    // SAFETY: mallopt only sets allocator parameters; it is called before any other thread
    // exists, and glibc accepts these values (mallopt returns 0 for a refused one, which only
    // leaves the default in place).
    unsafe {
        mallopt(M_MMAP_THRESHOLD, 128 * 1024);
        mallopt(M_ARENA_MAX, 1);
    }
}

/// After a write: gives back the free pages inside the heap, not only those at its top, which
/// is all glibc trims by itself. Rebuilding a packument leaves holes between blocks that stay
/// in use; without this they count as resident until reused. Takes well under a millisecond.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn release_memory() {
    extern "C" {
        fn malloc_trim(pad: usize) -> std::os::raw::c_int;
    }
    // SAFETY: malloc_trim is thread-safe (it takes each arena's lock) and only returns free
    // pages to the system.
    unsafe {
        malloc_trim(0);
    }
}

/// Other C libraries (musl, in the static build) keep their own defaults.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn tune_malloc() {}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn release_memory() {}
