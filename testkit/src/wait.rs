//! The one poll-until-done helper. A probe answers `Ok(value)` when the wait is over, or
//! `Err(what it saw)`; a wait that runs out panics naming what it awaited and that last
//! sight, so a failure on a slow CI machine says "machine was `starting`", not "timed out".

use std::fmt::Debug;
use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

/// How often a probe runs: often enough that a wait ends soon after its condition holds,
/// rarely enough not to load a 2-core machine.
const EVERY: Duration = Duration::from_millis(25);

/// Runs `probe` until it answers `Ok`, and returns that value; panics after `within` with
/// the last `Err` it answered.
pub async fn wait_for<T, S, F, Fut>(what: &str, within: Duration, mut probe: F) -> T
where
    S: Debug,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, S>>,
{
    let deadline = Instant::now() + within;
    let mut tries = 0u32;
    loop {
        tries += 1;
        match probe().await {
            Ok(done) => return done,
            Err(seen) if Instant::now() >= deadline => {
                panic!("waited {within:?} ({tries} looks) for {what}; last saw: {seen:?}")
            }
            Err(_) => tokio::time::sleep(EVERY).await,
        }
    }
}

/// [`wait_for`] a condition that has nothing more to show than whether it holds.
pub async fn wait_until<F, Fut>(what: &str, within: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    wait_for(what, within, || {
        let fut = check();
        async move { if fut.await { Ok(()) } else { Err("the condition still false") } }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_wait_returns_what_the_probe_found() {
        let mut n = 0;
        let got = wait_for("the third look", Duration::from_secs(5), || {
            n += 1;
            let n = n;
            async move { if n == 3 { Ok(n * 10) } else { Err(n) } }
        })
        .await;
        assert_eq!(got, 30);
    }

    #[tokio::test]
    async fn a_wait_that_runs_out_says_what_it_saw_last() {
        let failed = tokio::spawn(async {
            wait_for("a machine to be running", Duration::from_millis(60), || async {
                Err::<(), _>("starting")
            })
            .await
        })
        .await
        .unwrap_err();
        let message = failed.into_panic().downcast::<String>().unwrap();
        assert!(message.contains("for a machine to be running; last saw: \"starting\""), "{message}");
    }
}
