//! Token buckets: flood-screen rate limits and policers.
//!
//! All arithmetic is integer and driven by the caller's `now_ns`, so every
//! backend (and the reference model) gets identical results for identical
//! inputs. Tokens are kept in "units × 10⁹" (nanounits) so refill at any
//! rate is exact for any elapsed time, without floating point.

use xpf_dataplane::compile::CompiledPolicer;

const NS_PER_SEC: u128 = 1_000_000_000;

/// A single token bucket: `rate` units per second, at most `burst` units.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TokenBucket {
    rate: u64,
    burst: u64,
    /// Tokens × 10⁹.
    tokens: u128,
    last_ns: u64,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(rate_per_sec: u64, burst: u64, now_ns: u64) -> Self {
        Self {
            rate: rate_per_sec,
            burst,
            tokens: u128::from(burst) * NS_PER_SEC,
            last_ns: now_ns,
        }
    }

    fn refill(&mut self, now_ns: u64) {
        if now_ns > self.last_ns {
            let elapsed = u128::from(now_ns - self.last_ns);
            let cap = u128::from(self.burst) * NS_PER_SEC;
            self.tokens = (self.tokens + elapsed * u128::from(self.rate)).min(cap);
            self.last_ns = now_ns;
        }
    }

    /// True (and consumes) when `units` are available at `now_ns`.
    pub fn try_take(&mut self, units: u64, now_ns: u64) -> bool {
        self.refill(now_ns);
        let need = u128::from(units) * NS_PER_SEC;
        if self.tokens >= need {
            self.tokens -= need;
            true
        } else {
            false
        }
    }

    /// True when `units` are available, without consuming.
    pub fn has(&mut self, units: u64, now_ns: u64) -> bool {
        self.refill(now_ns);
        self.tokens >= u128::from(units) * NS_PER_SEC
    }

    /// Consumes `units` unconditionally (saturating at zero).
    pub fn take(&mut self, units: u64) {
        self.tokens = self.tokens.saturating_sub(u128::from(units) * NS_PER_SEC);
    }
}

/// The colour a policer gives a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Colour {
    /// In profile.
    Green,
    /// Above the committed rate but within the peak rate (two-rate only);
    /// passed.
    Yellow,
    /// Out of profile: discarded.
    Red,
}

/// A policer's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policer {
    /// Single-rate two-colour: one bucket at CIR with CBS.
    SingleRate(TokenBucket),
    /// Two-rate three-colour, colour-blind (RFC 2698): C bucket at CIR/CBS,
    /// P bucket at PIR/PBS.
    TwoRate {
        /// Committed bucket.
        committed: TokenBucket,
        /// Peak bucket.
        peak: TokenBucket,
    },
}

impl Policer {
    /// A policer with full buckets.
    pub fn new(p: &CompiledPolicer, now_ns: u64) -> Self {
        match (p.pir_bytes, p.pbs_bytes) {
            (Some(pir), Some(pbs)) => Self::TwoRate {
                committed: TokenBucket::new(p.cir_bytes, p.cbs_bytes, now_ns),
                peak: TokenBucket::new(pir, pbs, now_ns),
            },
            _ => Self::SingleRate(TokenBucket::new(p.cir_bytes, p.cbs_bytes, now_ns)),
        }
    }

    /// Colours a packet of `bytes` at `now_ns` and updates the buckets.
    pub fn colour(&mut self, bytes: u64, now_ns: u64) -> Colour {
        match self {
            Self::SingleRate(b) => {
                if b.try_take(bytes, now_ns) {
                    Colour::Green
                } else {
                    Colour::Red
                }
            }
            Self::TwoRate { committed, peak } => {
                if !peak.has(bytes, now_ns) {
                    return Colour::Red;
                }
                peak.take(bytes);
                if committed.try_take(bytes, now_ns) {
                    Colour::Green
                } else {
                    Colour::Yellow
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use xpf_runtime::PolicerId;

    const SEC: u64 = 1_000_000_000;

    #[test]
    fn bucket_allows_burst_then_rate() {
        let mut b = TokenBucket::new(10, 5, 0);
        let passed = (0..20).filter(|_| b.try_take(1, 0)).count();
        assert_eq!(passed, 5, "a full bucket passes exactly the burst");
        // Half a second refills 5 tokens at 10/s.
        let passed = (0..20).filter(|_| b.try_take(1, SEC / 2)).count();
        assert_eq!(passed, 5);
        // Refill never exceeds the burst.
        let passed = (0..20).filter(|_| b.try_take(1, 100 * SEC)).count();
        assert_eq!(passed, 5);
    }

    #[test]
    fn two_rate_policer_colours_green_yellow_red() {
        let p = CompiledPolicer {
            id: PolicerId(1),
            name: "p".into(),
            cir_bytes: 1000,
            cbs_bytes: 1000,
            pir_bytes: Some(2000),
            pbs_bytes: Some(2000),
        };
        let mut pol = Policer::new(&p, 0);
        assert_eq!(pol.colour(1000, 0), Colour::Green);
        assert_eq!(pol.colour(1000, 0), Colour::Yellow, "above CIR, within PIR");
        assert_eq!(pol.colour(1000, 0), Colour::Red, "above PIR");
        // One second later both buckets refilled.
        assert_eq!(pol.colour(1000, SEC), Colour::Green);
    }

    #[test]
    fn single_rate_policer_drops_out_of_profile() {
        let p = CompiledPolicer {
            id: PolicerId(1),
            name: "p".into(),
            cir_bytes: 1500,
            cbs_bytes: 1500,
            pir_bytes: None,
            pbs_bytes: None,
        };
        let mut pol = Policer::new(&p, 0);
        assert_eq!(pol.colour(1500, 0), Colour::Green);
        assert_eq!(pol.colour(64, 0), Colour::Red);
        assert_eq!(pol.colour(1500, SEC), Colour::Green);
    }
}
