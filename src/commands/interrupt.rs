//! A batch command stopped by Ctrl-C, `kill` or a closed terminal (SIGINT,
//! SIGTERM, SIGHUP) removes the output it was writing before it dies, so no
//! hidden half of a 1 GB output stays beside the target, and the target stays as
//! it was. The signals are taken by one thread of their own (`sigwait`), so the
//! clean-up runs as ordinary code; the process then dies of the same signal, as
//! a shell or a supervisor expects.

/// Takes SIGINT, SIGTERM and SIGHUP from now on to remove unfinished outputs and
/// then die of the signal. Call it before any other thread exists: the threads
/// started after inherit the blocked signals, so only the waiting thread gets
/// them.
#[cfg(unix)]
pub fn remove_outputs_on_stop() {
    let set = signal_set(&[libc::SIGINT, libc::SIGTERM, libc::SIGHUP]);
    // SAFETY: pthread_sigmask changes only this thread's mask.
    if unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) } != 0 {
        return;
    }
    let waiter = std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            let mut signal = 0;
            // SAFETY: `set` is an initialised signal set; sigwait writes the
            // signal taken into `signal`.
            if unsafe { libc::sigwait(&set, &mut signal) } != 0 {
                return;
            }
            for target in metrics::io::atomic::remove_unfinished() {
                eprintln!(
                    "stopped: the unfinished {} was removed; it is as it was before",
                    target.display()
                );
            }
            let only = signal_set(&[signal]);
            // SAFETY: the default action ends the process; the signal is
            // unblocked in this thread only, then raised in it.
            unsafe {
                libc::signal(signal, libc::SIG_DFL);
                libc::pthread_sigmask(libc::SIG_UNBLOCK, &only, std::ptr::null_mut());
                libc::raise(signal);
            }
        });
    if waiter.is_err() {
        // No thread to take them: the signals act as they did.
        // SAFETY: as above, on this thread's own mask.
        unsafe {
            libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
        }
    }
}

/// The set of `signals`.
#[cfg(unix)]
fn signal_set(signals: &[libc::c_int]) -> libc::sigset_t {
    // SAFETY: sigset_t is plain data that sigemptyset initialises and
    // sigaddset fills.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for &signal in signals {
            libc::sigaddset(&mut set, signal);
        }
        set
    }
}

/// Elsewhere the signals act as they do.
#[cfg(not(unix))]
pub fn remove_outputs_on_stop() {}
