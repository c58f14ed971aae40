//! The one back-off schedule, for every loop that retries: reconnecting to
//! a broker, a handler's transient failure, a saga's call to user-service.
//! Exponential from a first delay, doubling, capped — with jitter: each
//! delay is the step plus up to as much again at random (backon's
//! `ExponentialBuilder::with_jitter`), so that the replicas that lost the
//! same server at the same moment do not all come back in the same
//! millisecond. From `backon`, the maintained crate lapin and redis use too.

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBackoff, ExponentialBuilder};

/// Endless delays: `first`, doubling up to `max` (`None`: uncapped), each
/// plus up to as much again at random. Callers bound their attempts.
pub fn delays(first: Duration, max: Option<Duration>) -> impl Iterator<Item = Duration> + Send {
    let fallback = max.unwrap_or(first);
    let mut schedule = builder(first, max).build();
    // Without a limit on attempts the schedule never ends; the fallback is
    // only there so that no caller needs an `expect`.
    std::iter::from_fn(move || Some(schedule.next().unwrap_or(fallback)))
}

fn builder(first: Duration, max: Option<Duration>) -> ExponentialBuilder {
    let builder = ExponentialBuilder::default()
        .with_min_delay(first)
        .with_factor(2.0)
        .with_jitter()
        .without_max_times();
    match max {
        Some(max) => builder.with_max_delay(max),
        None => builder.without_max_delay(),
    }
}

/// A reconnecting loop's back-off: [`delays`] between `first` and `max`,
/// from the start again once a connection succeeded ([`Backoff::reset`]).
#[derive(Debug)]
pub struct Backoff {
    first: Duration,
    max: Duration,
    schedule: ExponentialBackoff,
}

impl Backoff {
    pub fn new(first: Duration, max: Duration) -> Self {
        Self {
            first,
            max,
            schedule: builder(first, Some(max)).build(),
        }
    }

    /// How long to wait before the next attempt.
    pub fn next_delay(&mut self) -> Duration {
        self.schedule.next().unwrap_or(self.max)
    }

    /// After a success: the next failure waits `first` again.
    pub fn reset(&mut self) {
        self.schedule = builder(self.first, Some(self.max)).build();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn delays_double_up_to_the_cap_with_at_most_as_much_again_of_jitter() {
        for _ in 0..50 {
            let steps: Vec<Duration> = delays(100 * MS, Some(800 * MS)).take(6).collect();
            let bases = [100, 200, 400, 800, 800, 800].map(|ms| ms * MS);
            for (delay, base) in steps.iter().zip(bases) {
                assert!(
                    *delay >= base && *delay < base * 2,
                    "{steps:?}: {delay:?} outside [{base:?}, {:?})",
                    base * 2
                );
            }
        }
        // Jittered: fifty schedules are not all one schedule.
        let first: Vec<Vec<Duration>> = (0..50)
            .map(|_| delays(100 * MS, None).take(3).collect())
            .collect();
        assert!(first.iter().any(|s| *s != first[0]), "no jitter: {first:?}");
    }

    #[test]
    fn a_reset_starts_again_from_the_first_delay() {
        let mut backoff = Backoff::new(100 * MS, 5_000 * MS);
        for _ in 0..6 {
            backoff.next_delay();
        }
        assert!(backoff.next_delay() >= 3_200 * MS);
        backoff.reset();
        let first = backoff.next_delay();
        assert!(first >= 100 * MS && first < 200 * MS, "{first:?}");
    }
}
