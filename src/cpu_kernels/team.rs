//! A team of threads working through a list of **phases** (an LSTM call: a projection phase,
//! then one phase per timestep), each phase a number of independent items, with one barrier
//! between phases.
//!
//! The calling thread leads and starts at once; helpers come from a small pool of threads of
//! the crate's own ([`Pool`]: started on first use, one per further core) that **spin** for
//! a while after each job before they sleep, so a call that follows another soon (a stream of
//! single steps, the steps of a call) finds them awake: handing them work is a few stores, no
//! system call. A helper joins whenever it gets to the job, at whatever phase the team has
//! reached. Items are split into one contiguous range per team member (so a member keeps the
//! same items — the same weight panels in its core's cache — from step to step and from call
//! to call); a member that finishes its range takes unclaimed items from the others'. Nobody
//! ever waits for a member that has not started: a barrier waits only for items already
//! claimed, which their claimer is computing. So a helper that never gets a core (a busy
//! machine) costs nothing but its absence; a helper busy with another call's team is simply
//! not taken, and concurrent calls cannot deadlock each other.
//!
//! Nothing is allocated per call: the counters live on the leader's stack.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The most members one team has (more cores than this are not used by one call).
pub(crate) const MAX_MEMBERS: usize = 16;

/// A counter on its own cache line.
#[repr(align(128))]
#[derive(Default)]
struct Padded(AtomicUsize);

/// The shared counters of one run.
pub(crate) struct Team {
    members: usize,
    /// Per range: claims made so far, counted over all phases.
    claims: [Padded; MAX_MEMBERS],
    /// Per member: items it finished so far, over all phases, published once per phase
    /// (only the member writes its own; a barrier sums them: one cache line per member
    /// moves per phase, not one per item).
    done: [Padded; MAX_MEMBERS],
    /// Member ids handed out (the leader is 0).
    joined: Padded,
}

impl Team {
    /// A team of `members` (1 ..= [`MAX_MEMBERS`]).
    pub(crate) fn new(members: usize) -> Self {
        Team {
            members: members.clamp(1, MAX_MEMBERS),
            claims: Default::default(),
            done: Default::default(),
            joined: Padded(AtomicUsize::new(1)),
        }
    }

    /// Runs the phases with up to `members - 1` helpers from the [`Pool`] and the calling
    /// thread: `items(p)` is the number of items of phase `p < phases`, `work(p, i)` does
    /// item `i`. Returns when every item of every phase is done. `work` must not panic (the
    /// process aborts if it does on a team of more than one: helpers hold references into
    /// this call).
    pub(crate) fn run(
        &self,
        phases: usize,
        items: &(dyn Fn(usize) -> usize + Sync),
        work: &(dyn Fn(usize, usize) + Sync),
    ) {
        if self.members == 1 {
            for p in 0..phases {
                for i in 0..items(p) {
                    work(p, i);
                }
            }
            return;
        }
        let helper = || {
            let id = self.joined.0.fetch_add(1, Ordering::Relaxed);
            if id < self.members {
                self.member(id, phases, items, work);
            }
        };
        let job = Job { f: &helper };
        let mut posted = [usize::MAX; MAX_MEMBERS];
        let mut n = 0;
        for w in 0..self.members - 1 {
            if Pool::post(w, &job) {
                posted[n] = w;
                n += 1;
            }
        }
        let led = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.member(0, phases, items, work)
        }));
        if led.is_err() {
            // helpers may be reading this stack frame: unwinding past it is not sound
            std::process::abort();
        }
        for &w in &posted[..n] {
            Pool::retract(w);
        }
    }

    /// Items finished so far by the whole team (a lower bound while members work).
    fn done_total(&self) -> usize {
        self.done[..self.members]
            .iter()
            .map(|d| d.0.load(Ordering::Acquire))
            .sum()
    }

    /// One member's walk through the phases.
    fn member(
        &self,
        id: usize,
        phases: usize,
        items: &(dyn Fn(usize) -> usize + Sync),
        work: &(dyn Fn(usize, usize) + Sync),
    ) {
        let m = self.members;
        // Where the team is: skip the phases already done, accumulating each range's claim
        // base and the done target.
        let done_now = self.done_total();
        // this member's count: nobody else writes it (ids are handed out once)
        let mut mine = 0usize;
        let mut base = [0usize; MAX_MEMBERS];
        let mut target = 0usize;
        let mut p = 0;
        while p < phases {
            let n = items(p);
            if target + n > done_now {
                break;
            }
            for (r, b) in base.iter_mut().enumerate().take(m) {
                *b += n * (r + 1) / m - n * r / m;
            }
            target += n;
            p += 1;
        }
        while p < phases {
            let n = items(p);
            for k in 0..m {
                let r = (id + k) % m;
                let (start, end) = (n * r / m, n * (r + 1) / m);
                let (lo, hi) = (base[r], base[r] + (end - start));
                let claims = &self.claims[r].0;
                let mut c = claims.load(Ordering::Acquire);
                while c < hi {
                    match claims.compare_exchange_weak(
                        c,
                        c + 1,
                        Ordering::AcqRel,
                        Ordering::Acquire,
                    ) {
                        Ok(_) => {
                            work(p, start + (c - lo));
                            mine += 1;
                            c += 1;
                        }
                        Err(now) => c = now,
                    }
                }
            }
            for (r, b) in base.iter_mut().enumerate().take(m) {
                *b += n * (r + 1) / m - n * r / m;
            }
            target += n;
            let mut spins = 0u32;
            self.done[id].0.store(mine, Ordering::Release);
            while self.done_total() < target {
                if spins < 4000 {
                    std::hint::spin_loop();
                    spins += 1;
                } else {
                    std::thread::yield_now();
                }
            }
            p += 1;
        }
    }
}

/// One job handed to a pool thread: a closure on the leader's stack.
struct Job<'a> {
    f: &'a (dyn Fn() + Sync),
}

/// Slot states of a pool thread.
const IDLE: usize = 0;
/// A leader is filling the slot.
const CLAIMED: usize = 1;
/// A job waits in the slot.
const POSTED: usize = 2;
/// The thread runs the job.
const RUNNING: usize = 3;

/// How long a pool thread spins for a next job before it sleeps.
const SPIN: Duration = Duration::from_millis(2);

/// One pool thread's mailbox.
struct Slot {
    state: AtomicUsize,
    job: AtomicPtr<()>,
    thread: OnceLock<Option<std::thread::Thread>>,
}

/// The helper threads of every team in the process: up to [`MAX_MEMBERS`] - 1, each started
/// the first time a team of that size wants it (a thread that cannot be started is simply
/// never a member).
pub(crate) struct Pool;

static SLOTS: [Slot; MAX_MEMBERS - 1] = [const {
    Slot {
        state: AtomicUsize::new(IDLE),
        job: AtomicPtr::new(std::ptr::null_mut()),
        thread: OnceLock::new(),
    }
}; MAX_MEMBERS - 1];

impl Pool {
    /// Hands `job` to pool thread `w` if it is idle (starting it on first use); false if it
    /// is busy with another team or could not be started.
    fn post(w: usize, job: &Job<'_>) -> bool {
        let slot = &SLOTS[w];
        let Some(thread) = slot.thread.get_or_init(|| {
            std::thread::Builder::new()
                .name(format!("wgpu-lstm-cpu-{}", w + 1))
                .spawn(move || Pool::serve(&SLOTS[w]))
                .ok()
                .map(|h| h.thread().clone())
        }) else {
            return false;
        };
        if slot
            .state
            .compare_exchange(IDLE, CLAIMED, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            return false;
        }
        slot.job
            .store(job as *const Job<'_> as *mut (), Ordering::Relaxed);
        slot.state.store(POSTED, Ordering::Release);
        thread.unpark();
        true
    }

    /// Takes back a job posted to `w`: withdrawn if the thread has not started it, else
    /// waits until the thread has left it.
    fn retract(w: usize) {
        let slot = &SLOTS[w];
        if slot
            .state
            .compare_exchange(POSTED, IDLE, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            return;
        }
        let mut spins = 0u32;
        while slot.state.load(Ordering::Acquire) != IDLE {
            if spins < 4000 {
                std::hint::spin_loop();
                spins += 1;
            } else {
                std::thread::yield_now();
            }
        }
    }

    /// A pool thread's life: take posted jobs, spinning [`SPIN`] after each before sleeping.
    fn serve(slot: &'static Slot) {
        loop {
            let mut since = Instant::now();
            let mut spins = 0u32;
            loop {
                if slot.state.load(Ordering::Acquire) == POSTED
                    && slot
                        .state
                        .compare_exchange(POSTED, RUNNING, Ordering::AcqRel, Ordering::Relaxed)
                        .is_ok()
                {
                    break;
                }
                spins = spins.wrapping_add(1);
                if !spins.is_multiple_of(64) {
                    std::hint::spin_loop();
                } else if since.elapsed() > SPIN {
                    std::thread::park();
                    since = Instant::now();
                } else {
                    // let a thread that shares this core (the leader, on a busy machine)
                    // run rather than spin against it
                    std::thread::yield_now();
                }
            }
            // SAFETY: a POSTED slot holds a pointer to a live Job: its leader keeps the
            // frame alive until `retract` sees the slot IDLE again, which only we set now.
            let job = unsafe { &*(slot.job.load(Ordering::Relaxed) as *const Job<'static>) };
            if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (job.f)())).is_err() {
                std::process::abort();
            }
            slot.state.store(IDLE, Ordering::Release);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU64;

    /// Every item of every phase runs exactly once, and a phase starts only after the
    /// previous one finished, for any team size and any item counts (including 0).
    #[test]
    fn every_item_once_and_phases_in_order() {
        for members in [1, 2, 3, 5] {
            let phases = 40;
            let items = |p: usize| (p * 7) % 13;
            let counts: Vec<AtomicU64> = (0..phases * 13).map(|_| AtomicU64::new(0)).collect();
            let finished: Vec<AtomicUsize> = (0..phases).map(|_| AtomicUsize::new(0)).collect();
            let team = Team::new(members);
            team.run(phases, &items, &|p, i| {
                if p > 0 {
                    assert_eq!(finished[p - 1].load(Ordering::SeqCst), items(p - 1));
                }
                counts[p * 13 + i].fetch_add(1, Ordering::SeqCst);
                finished[p].fetch_add(1, Ordering::SeqCst);
            });
            for p in 0..phases {
                for i in 0..13 {
                    let want = u64::from(i < items(p));
                    assert_eq!(
                        counts[p * 13 + i].load(Ordering::SeqCst),
                        want,
                        "{members} {p} {i}"
                    );
                }
            }
        }
    }

    /// Teams led from several threads at once share the pool: a helper busy with one team is
    /// not taken by another, and every team still does every item exactly once.
    #[test]
    fn concurrent_teams_share_the_pool() {
        std::thread::scope(|sc| {
            for lead in 0..4u64 {
                sc.spawn(move || {
                    for round in 0..200u64 {
                        let sum = AtomicU64::new(0);
                        let team = Team::new(3);
                        team.run(5, &|p| p + 2, &|p, i| {
                            sum.fetch_add((p * 100 + i) as u64 + lead + round, Ordering::Relaxed);
                        });
                        let want: u64 = (0..5u64)
                            .flat_map(|p| (0..p + 2).map(move |i| p * 100 + i))
                            .map(|v| v + lead + round)
                            .sum();
                        assert_eq!(
                            sum.load(Ordering::Relaxed),
                            want,
                            "lead {lead} round {round}"
                        );
                    }
                });
            }
        });
    }
}
