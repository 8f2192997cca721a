//! A team of threads working through a list of **phases** (an LSTM call: a projection phase,
//! then one phase per timestep), each phase a number of independent items, with one barrier
//! between phases.
//!
//! The calling thread leads and starts at once; helpers are spawned on rayon's pool and join
//! whenever the pool gets to them, at whatever phase the team has reached. Items are split
//! into one contiguous range per team member (so a member keeps the same items — the same
//! weight panels in its cache — from step to step); a member that finishes its range takes
//! unclaimed items from the others'. Nobody ever waits for a member that has not started: a
//! barrier waits only for items already claimed, which their claimer is computing. So a
//! helper that never gets a core costs nothing but its absence, and two calls sharing the
//! pool cannot deadlock each other.
//!
//! Nothing is allocated: the counters live on the leader's stack.

use std::sync::atomic::{AtomicUsize, Ordering};

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
    /// Items finished so far, over all phases.
    done: Padded,
    /// Member ids handed out (the leader is 0).
    joined: Padded,
}

impl Team {
    /// A team of `members` (1 ..= [`MAX_MEMBERS`]).
    pub(crate) fn new(members: usize) -> Self {
        Team {
            members: members.clamp(1, MAX_MEMBERS),
            claims: Default::default(),
            done: Padded::default(),
            joined: Padded(AtomicUsize::new(1)),
        }
    }

    /// Runs the phases with `members - 1` helpers on rayon's pool and the calling thread:
    /// `items(p)` is the number of items of phase `p < phases`, `work(p, i)` does item `i`.
    /// Returns when every item of every phase is done. `work` must not panic.
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
        rayon::in_place_scope(|s| {
            for _ in 1..self.members {
                s.spawn(|_| {
                    let id = self.joined.0.fetch_add(1, Ordering::Relaxed);
                    if id < self.members {
                        self.member(id, phases, items, work);
                    }
                });
            }
            self.member(0, phases, items, work);
        });
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
        let done_now = self.done.0.load(Ordering::Acquire);
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
                            self.done.0.fetch_add(1, Ordering::Release);
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
            while self.done.0.load(Ordering::Acquire) < target {
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
}
