//! How many cores a render uses, and getting a new worker thread onto a
//! core of its own at once.

use std::sync::OnceLock;

/// The number of cores to use. Asked once per process: the standard library
/// reads the cgroup files on every call, and a render asks for every template.
pub(crate) fn cores() -> usize {
    static CORES: OnceLock<usize> = OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// Moves the calling thread to another core it may run on, then lets it run
/// anywhere again; call it right after spawning a thread that should work
/// next to this one.
///
/// Linux queues a new thread on its parent's core. On the 2-core VMs windlass
/// is measured on, it then waited there (0.7-4 ms) until the parent's time
/// slice ended or the load balancer moved it, the two threads sharing one
/// core while the other idled (`perf sched timehist`). A thread whose
/// affinity leaves its core is migrated at once; moving the parent, rather
/// than the new thread, needs no handle on the new thread, and the new
/// thread starts on the core the parent left. Where this cannot be done
/// (other systems, one allowed core) it does nothing.
pub(crate) fn make_room() {
    #[cfg(target_os = "linux")]
    linux::make_room();
}

#[cfg(target_os = "linux")]
mod linux {
    use nix::sched::{sched_getaffinity, sched_getcpu, sched_setaffinity, CpuSet};
    use nix::unistd::Pid;

    pub(super) fn make_room() {
        let me = Pid::from_raw(0);
        let (Ok(allowed), Ok(here)) = (sched_getaffinity(me), sched_getcpu()) else {
            return;
        };
        let mut elsewhere = allowed;
        if elsewhere.unset(here).is_err() || !any(&elsewhere) {
            return;
        }
        if sched_setaffinity(me, &elsewhere).is_ok() {
            // Back to every allowed core; the thread stays where it is now.
            let _ = sched_setaffinity(me, &allowed);
        }
    }

    fn any(set: &CpuSet) -> bool {
        (0..CpuSet::count()).any(|c| set.is_set(c).unwrap_or(false))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn making_room_keeps_the_threads_allowed_cores() {
        #[cfg(target_os = "linux")]
        {
            use nix::sched::sched_getaffinity;
            use nix::unistd::Pid;
            let before = sched_getaffinity(Pid::from_raw(0)).unwrap();
            super::make_room();
            let after = sched_getaffinity(Pid::from_raw(0)).unwrap();
            assert_eq!(before, after);
            if super::cores() > 1 {
                let here = nix::sched::sched_getcpu().unwrap();
                let mut one = nix::sched::CpuSet::new();
                one.set(here).unwrap();
                nix::sched::sched_setaffinity(Pid::from_raw(0), &one).unwrap();
                super::make_room();
                let pinned = sched_getaffinity(Pid::from_raw(0)).unwrap();
                nix::sched::sched_setaffinity(Pid::from_raw(0), &before).unwrap();
                // Only one core allowed: nowhere to go, nothing changed.
                assert_eq!(pinned, one);
            }
        }
    }
}
