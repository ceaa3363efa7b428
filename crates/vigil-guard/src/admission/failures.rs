//! Failed logins per source address: a token bucket of
//! `login_failures_per_minute` tokens, refilled evenly over a minute. Each
//! failed login takes a token; a source with none left is refused before
//! its credential is read. The ledger hears of a limited source twice: when
//! the limit starts, and (with how many were refused) when the source is
//! next let through, never once per attempt.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Sources tracked at once. Past it, sources whose bucket is full again are
/// forgotten first (they are as good as new), then the stalest.
pub const MAX_SOURCES: usize = 16_384;

const WINDOW: Duration = Duration::from_secs(60);

/// What a source may do now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SourceCheck {
    /// Go on. `refused` logins of this source were refused since it was
    /// last let through (0 normally): record them as one summary.
    Allowed { refused: u64 },
    /// Refuse at once. `first`: the first refusal of this stretch (record it).
    Limited { first: bool },
}

pub struct FailedLogins {
    capacity: f64,
    sources: Mutex<HashMap<IpAddr, Bucket>>,
}

#[derive(Clone, Copy, Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
    refused: u64,
}

impl FailedLogins {
    pub fn new(per_minute: u32) -> Self {
        FailedLogins {
            capacity: f64::from(per_minute.max(1)),
            sources: Mutex::new(HashMap::new()),
        }
    }

    /// Whether `ip` may try to log in now.
    pub fn check(&self, ip: IpAddr) -> SourceCheck {
        self.check_at(ip, Instant::now())
    }

    /// Takes a token from `ip`'s bucket: one login of it failed.
    pub fn failed(&self, ip: IpAddr) {
        self.failed_at(ip, Instant::now());
    }

    fn check_at(&self, ip: IpAddr, now: Instant) -> SourceCheck {
        let mut sources = self.lock();
        let Some(bucket) = sources.get_mut(&source_key(ip)) else {
            return SourceCheck::Allowed { refused: 0 };
        };
        self.refill(bucket, now);
        if bucket.tokens < 1.0 {
            bucket.refused += 1;
            return SourceCheck::Limited {
                first: bucket.refused == 1,
            };
        }
        let refused = std::mem::take(&mut bucket.refused);
        SourceCheck::Allowed { refused }
    }

    fn failed_at(&self, ip: IpAddr, now: Instant) {
        let key = source_key(ip);
        let mut sources = self.lock();
        if !sources.contains_key(&key) && sources.len() >= MAX_SOURCES {
            self.make_room(&mut sources, now);
        }
        let capacity = self.capacity;
        let bucket = sources.entry(key).or_insert(Bucket {
            tokens: capacity,
            at: now,
            refused: 0,
        });
        self.refill(bucket, now);
        bucket.tokens = (bucket.tokens - 1.0).max(0.0);
    }

    fn refill(&self, bucket: &mut Bucket, now: Instant) {
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.tokens =
            (bucket.tokens + elapsed * self.capacity / WINDOW.as_secs_f64()).min(self.capacity);
        bucket.at = now;
    }

    fn make_room(&self, sources: &mut HashMap<IpAddr, Bucket>, now: Instant) {
        let per_sec = self.capacity / WINDOW.as_secs_f64();
        let capacity = self.capacity;
        sources.retain(|_, b| {
            let elapsed = now.saturating_duration_since(b.at).as_secs_f64();
            b.tokens + elapsed * per_sec < capacity || b.refused > 0
        });
        if sources.len() >= MAX_SOURCES
            && let Some(stalest) = sources.iter().min_by_key(|(_, b)| b.at).map(|(k, _)| *k)
        {
            sources.remove(&stalest);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, Bucket>> {
        self.sources
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// IPv4 addresses count one by one; IPv6 ones by /64, the block a single
/// host is usually given (it could otherwise try from 2^64 addresses).
fn source_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let bits = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(bits.into())
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_source_past_its_budget_is_limited_then_refills() {
        let limits = FailedLogins::new(3);
        let ip: IpAddr = "192.0.2.1".parse().unwrap_or(IpAddr::from([0, 0, 0, 0]));
        let other: IpAddr = "192.0.2.2".parse().unwrap_or(IpAddr::from([0, 0, 0, 0]));
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(limits.check_at(ip, t0), SourceCheck::Allowed { refused: 0 });
            limits.failed_at(ip, t0);
        }
        assert_eq!(
            limits.check_at(ip, t0),
            SourceCheck::Limited { first: true }
        );
        assert_eq!(
            limits.check_at(ip, t0),
            SourceCheck::Limited { first: false }
        );
        assert_eq!(
            limits.check_at(other, t0),
            SourceCheck::Allowed { refused: 0 }
        );
        // One token back after a third of a minute; the summary counts both refusals.
        let later = t0 + Duration::from_secs(21);
        assert_eq!(
            limits.check_at(ip, later),
            SourceCheck::Allowed { refused: 2 }
        );
        assert_eq!(
            limits.check_at(ip, later),
            SourceCheck::Allowed { refused: 0 }
        );
    }

    #[test]
    fn ipv6_sources_count_per_64() {
        let a: IpAddr = "2001:db8::1".parse().unwrap_or(IpAddr::from([0u16; 8]));
        let b: IpAddr = "2001:db8::ffff:1"
            .parse()
            .unwrap_or(IpAddr::from([0u16; 8]));
        let c: IpAddr = "2001:db8:0:1::1".parse().unwrap_or(IpAddr::from([0u16; 8]));
        assert_eq!(source_key(a), source_key(b));
        assert_ne!(source_key(a), source_key(c));
    }

    #[test]
    fn the_table_of_sources_stays_bounded() {
        let limits = FailedLogins::new(1);
        let now = Instant::now();
        for i in 0..(MAX_SOURCES as u32 + 100) {
            limits.failed_at(IpAddr::from(i.to_be_bytes()), now);
        }
        assert!(limits.lock().len() <= MAX_SOURCES);
    }
}
