//! Randomness for Magic-Numbers, CHAP challenges and identifiers.
//!
//! Two sources behind one type:
//!
//! - [`Rng::from_os`], what the daemon uses: every draw comes from `rand`'s
//!   `ThreadRng`, a ChaCha12 CSPRNG keyed from the OS (getrandom) and rekeyed
//!   from the OS every 64 KiB of output. It holds no state of its own, so
//!   nothing is chained from one session to the next: a CHAP challenge a
//!   subscriber sees tells it nothing about any other session's challenges,
//!   Magic-Numbers or identifiers (that is what a CSPRNG guarantees), and a
//!   session costs no extra memory or system call.
//! - [`Rng::seeded`], SplitMix64 from a caller's seed: reproducible, for
//!   tests and for the subscriber emulator. The BRAS side never uses it
//!   outside tests ([`crate::session::Manager::new`] takes no seed).
//!
//! The crate's only generator: the emulator's fleet draws its clients'
//! seeds from it, and the fuzz-style tests their bytes.

use rand::RngCore;

/// A source of random numbers; see the module documentation.
pub struct Rng(Source);

enum Source {
    /// The OS-keyed CSPRNG (`rand::thread_rng()`), drawn from at each call.
    Os,
    /// SplitMix64 state (Steele, Lea, Flood 2014). Not cryptographic.
    Seeded(u64),
}

impl std::fmt::Debug for Rng {
    /// Never prints state (a seeded state would predict every output).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Source::Os => f.write_str("Rng(os)"),
            Source::Seeded(_) => f.write_str("Rng(seeded)"),
        }
    }
}

impl Rng {
    /// The OS-keyed CSPRNG: production.
    pub fn from_os() -> Self {
        Rng(Source::Os)
    }

    /// Deterministic SplitMix64 from `seed`: tests and the emulator only.
    pub fn seeded(seed: u64) -> Self {
        Rng(Source::Seeded(seed))
    }

    /// True for [`Rng::from_os`] and everything forked from it.
    pub fn is_os(&self) -> bool {
        matches!(self.0, Source::Os)
    }

    /// An independent source for a sub-machine (a session, its LCP, its
    /// CHAP server). From the OS source it is the OS source again (nothing
    /// is derived or shared); from a seeded one, a seeded one whose seed is
    /// this source's next output (reproducible).
    pub fn fork(&mut self) -> Rng {
        match self.0 {
            Source::Os => Rng(Source::Os),
            Source::Seeded(_) => Rng::seeded(self.next_u64()),
        }
    }

    pub fn next_u64(&mut self) -> u64 {
        match &mut self.0 {
            Source::Os => rand::thread_rng().next_u64(),
            Source::Seeded(state) => {
                *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
                let mut z = *state;
                z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
                z ^ (z >> 31)
            }
        }
    }

    pub fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }

    /// A non-zero u32 (Magic-Number zero means "no magic", RFC 1661 §6.4).
    pub fn nonzero_u32(&mut self) -> u32 {
        loop {
            let v = self.next_u32();
            if v != 0 {
                return v;
            }
        }
    }

    pub fn next_u8(&mut self) -> u8 {
        (self.next_u64() >> 56) as u8
    }

    pub fn fill(&mut self, buf: &mut [u8]) {
        match self.0 {
            Source::Os => rand::thread_rng().fill_bytes(buf),
            Source::Seeded(_) => {
                for chunk in buf.chunks_mut(8) {
                    let v = self.next_u64().to_le_bytes();
                    chunk.copy_from_slice(&v[..chunk.len()]);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_is_reproducible_and_forks_stay_seeded() {
        let (mut a, mut b) = (Rng::seeded(9), Rng::seeded(9));
        assert_eq!(a.next_u64(), b.next_u64());
        let (mut fa, mut fb) = (a.fork(), b.fork());
        assert!(!fa.is_os());
        assert_eq!(fa.next_u64(), fb.next_u64());
        assert_eq!(format!("{a:?}"), "Rng(seeded)", "state never printed");
    }

    #[test]
    fn os_source_is_not_reproducible_and_forks_stay_os() {
        let mut a = Rng::from_os();
        let mut f = a.fork();
        assert!(a.is_os() && f.is_os());
        let mut seen = std::collections::HashSet::new();
        for _ in 0..1000 {
            assert!(seen.insert(a.next_u64()));
            assert!(seen.insert(f.next_u64()));
        }
        let (mut x, mut y) = ([0u8; 16], [0u8; 16]);
        a.fill(&mut x);
        f.fill(&mut y);
        assert_ne!(x, y);
        assert_ne!(x, [0; 16]);
        assert_ne!(a.nonzero_u32(), 0);
    }
}
