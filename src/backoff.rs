//! Capped, jittered exponential backoff: 1 s doubling up to 5 min, each delay spread by
//! ±20 % so many failing accounts do not retry in step.

use std::time::Duration;

/// Retry delays for one failing thing.
#[derive(Clone, Debug)]
pub struct Backoff {
    first: Duration,
    cap: Duration,
    failures: u32,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff::new(Duration::from_secs(1), Duration::from_secs(300))
    }
}

impl Backoff {
    /// Delays starting at `first`, doubling up to `cap`.
    pub fn new(first: Duration, cap: Duration) -> Self {
        Backoff {
            first,
            cap,
            failures: 0,
        }
    }

    /// The delay before the next attempt, after one more failure.
    pub fn next_delay(&mut self) -> Duration {
        let base = self.base();
        self.failures = self.failures.saturating_add(1);
        let jitter = 0.8 + fastrand::f64() * 0.4;
        base.mul_f64(jitter).min(self.cap)
    }

    /// The delay without jitter for the current failure count.
    pub fn base(&self) -> Duration {
        let factor = 2u32.saturating_pow(self.failures.min(20));
        self.first.saturating_mul(factor).min(self.cap)
    }

    /// Failures since the last success.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// A success: the next failure starts from the first delay again.
    pub fn reset(&mut self) {
        self.failures = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_cap_with_jitter_and_resets() {
        let mut b = Backoff::default();
        let bases: Vec<u64> = (0..12)
            .map(|_| {
                let base = b.base();
                let d = b.next_delay();
                assert!(
                    d >= base.mul_f64(0.8) && d <= base.mul_f64(1.2).min(Duration::from_secs(300)),
                    "{d:?} vs {base:?}"
                );
                base.as_secs()
            })
            .collect();
        assert_eq!(bases, [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300]);
        b.reset();
        assert_eq!(b.base(), Duration::from_secs(1));
    }
}
