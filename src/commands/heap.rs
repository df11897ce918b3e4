//! One malloc arena for a whole process, asked for before any other thread
//! exists.

/// Asks glibc for one malloc arena, before any other thread exists. With an
/// arena per thread (glibc's default, up to eight per core), each arena keeps
/// the memory freed into it:
/// - `analyze` judges a window's parts on worker threads and writes and frees
///   them on the main one, so the heap grew with the file (30M rows written to
///   `/dev/null` peaked at 258 MB, against 210 MB with one arena, for a wall time
///   2-7 % longer; technical.md, "One heap");
/// - `watch` analyses an upload on several threads, so a session left running
///   kept its largest upload's peak for good (17 MB before a 250,000-row upload,
///   175 MB after three; 38 MB with one arena and the freed pages given back,
///   technical.md, "Memory a session keeps").
pub fn one_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt(3) takes two integers and only changes glibc's allocator
    // settings; no other thread is running yet to allocate meanwhile.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}
