//! The WASI calls that wait, replaced by ones that never block.
//!
//! The epoch deadline interrupts wasm code, not host calls, and
//! wasmtime-wasi's synchronous `wasi:io/poll` blocks the calling thread for
//! as long as the plugin asks: a Python condition calling `time.sleep(30)`
//! held its evaluation, and the breaker checker behind it, for 30 s despite
//! a 2 s limit. Here no WASI call waits. A plugin's clock is stopped, so in
//! its time a wait that is not over at once is never over: such a wait ends
//! the evaluation, as a timeout, at once.
//!
//! What else could wait cannot here: stdin is closed, stdout and stderr
//! are sinks, and there are no files or sockets (see `host_state`), so the
//! `blocking-*` stream methods always return at once.

use std::future::Future;

use wasmtime::component::{HasData, Linker, Resource};
use wasmtime_wasi::clocks::{WasiClocksCtxView, WasiClocksView};
use wasmtime_wasi::p2::bindings::clocks::monotonic_clock;
use wasmtime_wasi::p2::bindings::io::poll as async_poll;
use wasmtime_wasi::p2::bindings::sync::io::poll as sync_poll;
use wasmtime_wasi::p2::{DynPollable, Pollable};
use wasmtime_wasi::runtime::{poll_noop, with_ambient_tokio_runtime};
use wasmtime_wasi::{ResourceTable, WasiView};

use super::host_state::HostState;

/// Polls a wait gets before it counts as blocking. Two, because a pollable
/// that is ready may yield once first (wasmtime-wasi's own zero-length
/// sleeps do, to let tokio run).
const POLLS_BEFORE_BLOCKING: usize = 2;

pub const POLL: &str = "wasi:io/poll.poll";
pub const BLOCK: &str = "wasi:io/poll.[method]pollable.block";
pub const READY: &str = "wasi:io/poll.[method]pollable.ready";

/// The trap a wait raises; the runtime reports it as a `timeout`.
#[derive(Debug, thiserror::Error)]
#[error("`{call}` would block: nothing the plugin waits on is ready, and its clock is stopped")]
pub struct WouldBlock {
    pub call: &'static str,
}

/// Replaces, in a linker that already has wasmtime-wasi's synchronous
/// WASI, `wasi:io/poll` and the monotonic clock's subscriptions with
/// versions that never block. They are registered through the same
/// bindings, so under the same names and versions.
pub fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    sync_poll::add_to_linker::<HostState, PollsData>(linker, |s| Polls(s.ctx().table))?;
    monotonic_clock::add_to_linker::<HostState, StoppedClockData>(linker, |s| {
        StoppedClock(s.clocks())
    })?;
    linker.allow_shadowing(false);
    Ok(())
}

/// `wasi:io/poll` over a store's resource table, answering only with what
/// is ready at once.
pub struct Polls<'a>(&'a mut ResourceTable);

struct PollsData;

impl HasData for PollsData {
    type Data<'a> = Polls<'a>;
}

/// Runs `future` until it is ready or has been polled
/// [`POLLS_BEFORE_BLOCKING`] times, never waiting. Inside the ambient tokio
/// runtime, as wasmtime-wasi's pollables may expect one.
fn at_once<F: Future>(future: F) -> Option<F::Output> {
    with_ambient_tokio_runtime(|| {
        let mut future = std::pin::pin!(future);
        (0..POLLS_BEFORE_BLOCKING).find_map(|_| poll_noop(future.as_mut()))
    })
}

fn would_block(call: &'static str) -> wasmtime::Error {
    wasmtime::Error::new(WouldBlock { call })
}

impl sync_poll::Host for Polls<'_> {
    fn poll(&mut self, pollables: Vec<Resource<DynPollable>>) -> wasmtime::Result<Vec<u32>> {
        at_once(async_poll::Host::poll(&mut *self.0, pollables))
            .unwrap_or_else(|| Err(would_block(POLL)))
    }
}

impl sync_poll::HostPollable for Polls<'_> {
    fn ready(&mut self, pollable: Resource<DynPollable>) -> wasmtime::Result<bool> {
        // Already non-blocking upstream (one poll); polled here without
        // entering tokio's `block_on`.
        at_once(async_poll::HostPollable::ready(&mut *self.0, pollable))
            .unwrap_or_else(|| Err(would_block(READY)))
    }

    fn block(&mut self, pollable: Resource<DynPollable>) -> wasmtime::Result<()> {
        at_once(async_poll::HostPollable::block(&mut *self.0, pollable))
            .unwrap_or_else(|| Err(would_block(BLOCK)))
    }

    fn drop(&mut self, pollable: Resource<DynPollable>) -> wasmtime::Result<()> {
        async_poll::HostPollable::drop(&mut *self.0, pollable)
    }
}

/// The monotonic clock as the plugin sees it (stopped, see `host_state`),
/// with subscriptions that are ready at once if their time has come and
/// never otherwise, rather than real timers.
pub struct StoppedClock<'a>(WasiClocksCtxView<'a>);

struct StoppedClockData;

impl HasData for StoppedClockData {
    type Data<'a> = StoppedClock<'a>;
}

/// A clock subscription: over, or never over.
struct ClockWait {
    over: bool,
}

#[wasmtime_wasi::async_trait]
impl Pollable for ClockWait {
    async fn ready(&mut self) {
        if !self.over {
            std::future::pending::<()>().await;
        }
    }
}

impl StoppedClock<'_> {
    fn subscribe(&mut self, over: bool) -> wasmtime::Result<Resource<DynPollable>> {
        let wait = self.0.table.push(ClockWait { over })?;
        wasmtime_wasi::p2::subscribe(self.0.table, wait)
    }
}

impl monotonic_clock::Host for StoppedClock<'_> {
    fn now(&mut self) -> wasmtime::Result<monotonic_clock::Instant> {
        monotonic_clock::Host::now(&mut self.0)
    }

    fn resolution(&mut self) -> wasmtime::Result<monotonic_clock::Duration> {
        monotonic_clock::Host::resolution(&mut self.0)
    }

    fn subscribe_instant(
        &mut self,
        when: monotonic_clock::Instant,
    ) -> wasmtime::Result<Resource<DynPollable>> {
        let now = monotonic_clock::Host::now(&mut self.0)?;
        self.subscribe(when <= now)
    }

    fn subscribe_duration(
        &mut self,
        duration: monotonic_clock::Duration,
    ) -> wasmtime::Result<Resource<DynPollable>> {
        self.subscribe(duration == 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use monotonic_clock::Host as _;
    use sync_poll::{Host as _, HostPollable as _};

    fn borrow(pollable: &Resource<DynPollable>) -> Resource<DynPollable> {
        Resource::new_borrow(pollable.rep())
    }

    fn blocked_in(result: wasmtime::Result<impl std::fmt::Debug>) -> &'static str {
        let error = result.expect_err("the wait must not be answered");
        error
            .downcast_ref::<WouldBlock>()
            .unwrap_or_else(|| panic!("not a WouldBlock: {error:#}"))
            .call
    }

    #[test]
    fn a_wait_not_over_at_once_ends_every_waiting_call_and_one_that_is_over_returns() {
        let mut state = HostState::new("t".into(), "0".into(), Default::default());
        let mut clock = StoppedClock(state.clocks());
        let thirty_seconds = clock.subscribe_duration(30_000_000_000).unwrap();
        let later = clock.subscribe_instant(1).unwrap();
        let now = clock.subscribe_instant(0).unwrap();
        let zero = clock.subscribe_duration(0).unwrap();
        let mut polls = Polls(state.ctx().table);

        assert_eq!(blocked_in(polls.poll(vec![borrow(&thirty_seconds)])), POLL);
        assert_eq!(blocked_in(polls.poll(vec![borrow(&later)])), POLL);
        assert_eq!(blocked_in(polls.block(borrow(&thirty_seconds))), BLOCK);
        assert!(!polls.ready(borrow(&later)).unwrap());

        let mut ready = polls
            .poll(vec![borrow(&thirty_seconds), borrow(&zero), borrow(&now)])
            .unwrap();
        ready.sort();
        assert_eq!(ready, [1, 2], "the positions of the ready ones");
        polls.block(borrow(&zero)).unwrap();
        assert!(polls.ready(borrow(&now)).unwrap());
        for pollable in [thirty_seconds, later, now, zero] {
            polls.drop(pollable).unwrap();
        }
    }
}
