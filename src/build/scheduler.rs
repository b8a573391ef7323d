//! A generic DAG runner: starts each stage as soon as what it needs is there, at most one busy
//! thread per core, and settles every stage exactly once. What a stage does is not its concern:
//! it sees stages through the small [`Stages`] trait, and is unit-tested with fake ones.
//!
//! The protocol, per stage:
//! 1. **ready** when every input has *published* its output ([`Gate::Published`]), or, for a stage
//!    that must not start on unchecked data, when every input is *settled* ([`Gate::Settled`]);
//! 2. **prepared** on the scheduler's thread ([`Stages::prepare`]): cheap work that either finishes
//!    the stage ([`Prepared::Done`]: reused, skipped, failed) or hands back work to run;
//! 3. **run** on one of the run's worker threads ([`Stages::run`]), which may *publish* its output
//!    early (so dependents start) before it finishes (a model's checks run after it publishes);
//! 4. **settled** once it has finished and all its inputs are settled. If an input it started on
//!    turned out unusable meanwhile (it published an output, then failed its checks), the stage
//!    is settled as skipped ([`Stages::skipped`]) whatever it did, and its work is *cancelled*:
//!    its `publish` answers `false` from then on, so it can stop early.
//!
//! Workers are started as stages need them, at most one per core, and each runs stage after
//! stage: a stage finds its thread's allocator warm, with the memory earlier stages freed, instead
//! of faulting in fresh pages on a new thread (on the sample month, with a thread per stage, the
//! kernel zeroing fresh pages was a quarter of a cold build's CPU).
//!
//! Rules it keeps, whatever the stages do:
//! - never a hang: a stage that panics (in `prepare` or `run`) settles as an internal error
//!   ([`Stages::internal_error`]), as does one whose thread ends without finishing, and a run where
//!   nothing can make progress (a cycle, a bookkeeping bug) settles what is left the same way;
//! - a stage publishes at most once (later publications are ignored) and a stage that finishes
//!   without publishing publishes its final outcome, so dependents never wait for it forever;
//! - [`Event::Settled`] reaches the caller once per stage; the caller decides presentation order.

use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::thread::{Scope, ScopedJoinHandle};
use std::time::Duration;

use crate::error::panic_message;
use crate::graph::StageId;

/// How long the scheduler waits for a message before it looks for threads that died.
const WATCH_INTERVAL: Duration = Duration::from_millis(100);

/// What a stage waits for before it starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Gate {
    /// Its inputs' outputs, as soon as they are published (their checks may still run).
    Published,
    /// Its inputs settled, checks included (exports: no file is written from unchecked data).
    Settled,
}

/// What [`Stages::prepare`] decided.
pub(crate) enum Prepared<W, O> {
    /// The stage is finished: nothing to run.
    Done(O),
    /// The stage must run this work on a thread.
    Run(W),
}

/// The outcomes a stage may read of its inputs: published ones or settled ones, by its [`Gate`].
pub(crate) struct View<'a, O> {
    slots: &'a [OnceLock<O>],
}

impl<O> View<'_, O> {
    pub(crate) fn get(&self, id: StageId) -> Option<&O> {
        self.slots.get(id.index())?.get()
    }
}

/// What the scheduler tells its caller as the run goes.
pub(crate) enum Event<'a, O> {
    /// These stages start running now, each on a worker thread.
    Started(&'a [StageId]),
    /// This stage is settled, with its final outcome.
    Settled(StageId, &'a O),
}

/// The stages of one run, as the scheduler sees them.
pub(crate) trait Stages: Sync {
    /// What a stage hands from `prepare` to `run`.
    type Work: Send;
    type Outcome: Clone + Send + Sync;

    fn count(&self) -> usize;
    fn inputs(&self, id: StageId) -> &[StageId];
    fn gate(&self, id: StageId) -> Gate;
    /// A guess of how long the stage takes, to start the slowest first.
    fn cost(&self, id: StageId, inputs: &View<'_, Self::Outcome>) -> u64;
    fn prepare(
        &self,
        id: StageId,
        inputs: &View<'_, Self::Outcome>,
    ) -> Prepared<Self::Work, Self::Outcome>;
    /// Runs the stage; `publish` hands its output to dependents before it finishes, and answers
    /// `false` once the stage is no longer wanted.
    fn run(
        &self,
        id: StageId,
        work: Self::Work,
        inputs: &View<'_, Self::Outcome>,
        publish: &dyn Fn(&Self::Outcome) -> bool,
    ) -> Self::Outcome;
    /// Whether dependents can be built on this outcome.
    fn is_usable(&self, outcome: &Self::Outcome) -> bool;
    /// The outcome of `id`, skipped because `input` settled as `settled` after `id` started on it.
    fn skipped(&self, id: StageId, input: StageId, settled: &Self::Outcome) -> Self::Outcome;
    /// The outcome of a stage the scheduler could not finish properly (a bug, not a user error).
    fn internal_error(&self, id: StageId, message: String) -> Self::Outcome;
    /// Whether there is work that can wait ([`Stages::spare_work`]) for a thread with no stage
    /// to run. Asked on the scheduler's thread: it must be quick.
    fn has_spare_work(&self) -> bool {
        false
    }
    /// Does one piece of work that can wait, on a worker with no stage to run. A stage sent to
    /// that worker meanwhile waits for the piece to end: keep pieces short.
    fn spare_work(&self) {}
}

/// Runs every stage; returns their settled outcomes, by stage index.
pub(crate) fn run<S: Stages>(
    stages: &S,
    threads: usize,
    on_event: &mut dyn FnMut(Event<'_, S::Outcome>),
) -> Vec<S::Outcome> {
    let shared = Shared::new(stages.count());
    std::thread::scope(|scope| {
        let mut run = Run::new(stages, &shared, threads.max(1));
        run.go(scope, on_event);
    });
    shared
        .settled
        .into_iter()
        .map(std::sync::OnceLock::into_inner)
        .collect::<Option<Vec<_>>>()
        .unwrap_or_default()
}

/// What stage threads read while the scheduler writes: set-once slots and cancellation flags.
struct Shared<O> {
    published: Vec<OnceLock<O>>,
    settled: Vec<OnceLock<O>>,
    cancelled: Vec<AtomicBool>,
}

impl<O> Shared<O> {
    fn new(count: usize) -> Shared<O> {
        Shared {
            published: (0..count).map(|_| OnceLock::new()).collect(),
            settled: (0..count).map(|_| OnceLock::new()).collect(),
            cancelled: (0..count).map(|_| AtomicBool::new(false)).collect(),
        }
    }

    fn view(&self, gate: Gate) -> View<'_, O> {
        View {
            slots: match gate {
                Gate::Published => &self.published,
                Gate::Settled => &self.settled,
            },
        }
    }
}

enum Message<O> {
    Published(StageId, O),
    Finished(StageId, O),
    /// This worker is done with its piece of spare work.
    Spared(usize),
}

/// What a worker is sent: a stage to run, or a piece of work that can wait.
enum Job<W> {
    Stage(StageId, W),
    Spare,
}

/// A worker thread: the queue the scheduler sends it stages on, and the stage it runs.
struct Worker<'scope, W> {
    jobs: Sender<Job<W>>,
    handle: ScopedJoinHandle<'scope, ()>,
    current: Option<StageId>,
    /// It is doing a piece of spare work.
    sparing: bool,
}

/// The scheduler's own bookkeeping, on its thread.
struct Run<'s, 'scope, S: Stages> {
    stages: &'s S,
    shared: &'s Shared<S::Outcome>,
    threads: usize,
    dependents: Vec<Vec<StageId>>,
    /// How many stages depend on each stage, directly or not.
    downstream: Vec<usize>,
    /// Inputs each stage still waits for (published or settled, by its gate).
    waiting: Vec<usize>,
    /// Final outcomes not settled yet (an input is not settled).
    finished: Vec<Option<S::Outcome>>,
    ready: Vec<StageId>,
    /// Prepared stages waiting for a worker, first to start first (see [`Run::enqueue`]).
    queue: VecDeque<Queued<S::Work>>,
    /// Messages decided on this thread, handled before waiting for threads.
    local: Vec<Message<S::Outcome>>,
    /// The worker running each stage, while it runs.
    worker_of: Vec<Option<usize>>,
    running: usize,
    workers: Vec<Worker<'scope, S::Work>>,
    idle: Vec<usize>,
    sender: Sender<Message<S::Outcome>>,
    receiver: Receiver<Message<S::Outcome>>,
}

impl<'s, 'scope, S: Stages> Run<'s, 'scope, S>
where
    's: 'scope,
{
    fn new(stages: &'s S, shared: &'s Shared<S::Outcome>, threads: usize) -> Self {
        let count = stages.count();
        let mut dependents = vec![Vec::new(); count];
        for id in (0..count).map(StageId) {
            for &input in stages.inputs(id) {
                dependents[input.index()].push(id);
            }
        }
        let waiting: Vec<usize> = (0..count)
            .map(|i| stages.inputs(StageId(i)).len())
            .collect();
        let ready = (0..count)
            .filter(|&i| waiting[i] == 0)
            .map(StageId)
            .collect();
        let (sender, receiver) = channel();
        let downstream = downstream_counts(&dependents);
        Run {
            stages,
            shared,
            threads,
            dependents,
            downstream,
            waiting,
            finished: (0..count).map(|_| None).collect(),
            ready,
            queue: VecDeque::new(),
            local: Vec::new(),
            worker_of: vec![None; count],
            running: 0,
            workers: Vec::new(),
            idle: Vec::new(),
            sender,
            receiver,
        }
    }

    fn is_settled(&self, id: StageId) -> bool {
        self.shared.settled[id.index()].get().is_some()
    }

    fn go(
        &mut self,
        scope: &'scope Scope<'scope, '_>,
        on_event: &mut dyn FnMut(Event<'_, S::Outcome>),
    ) {
        while !(0..self.stages.count()).all(|i| self.is_settled(StageId(i))) {
            self.prepare_ready();
            let started = self.start_threads(scope);
            if !started.is_empty() {
                on_event(Event::Started(&started));
            }
            self.hand_out_spare_work();
            if let Some(message) = self.next_message() {
                self.handle(message, on_event);
            } else {
                self.settle_stalled(on_event);
                break;
            }
        }
        for worker in self.workers.drain(..) {
            // Closing its queue ends the worker's loop. A worker that panicked outside its stage
            // already had that stage settled as an internal error.
            drop(worker.jobs);
            let _ = worker.handle.join();
        }
    }

    /// Prepares the ready stages, in the order they should start; what must run joins the queue
    /// in its place by priority ([`Run::enqueue`]).
    fn prepare_ready(&mut self) {
        let mut ready: Vec<(Priority, StageId)> = std::mem::take(&mut self.ready)
            .into_iter()
            .filter(|&id| !self.is_settled(id))
            .map(|id| (self.priority(id), id))
            .collect();
        ready.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        for (priority, id) in ready {
            if let Some(input) = self.failed_input(id) {
                let settled = self.shared.settled[input.index()].get();
                let outcome = match settled {
                    Some(settled) => self.stages.skipped(id, input, settled),
                    None => continue,
                };
                self.local.push(Message::Finished(id, outcome));
                continue;
            }
            let view = self.shared.view(self.stages.gate(id));
            let prepared = catch_unwind(AssertUnwindSafe(|| self.stages.prepare(id, &view)));
            match prepared {
                Ok(Prepared::Done(outcome)) => self.local.push(Message::Finished(id, outcome)),
                Ok(Prepared::Run(work)) => self.enqueue(Queued { id, priority, work }),
                Err(panic) => {
                    let message = format!("preparing it panicked: {}", panic_message(&*panic));
                    let outcome = self.stages.internal_error(id, message);
                    self.local.push(Message::Finished(id, outcome));
                }
            }
        }
        // A stage settled as skipped while queued never starts.
        let shared = self.shared;
        self.queue
            .retain(|queued| shared.settled[queued.id.index()].get().is_none());
    }

    /// How soon a ready stage should start: first the one more stages wait on downstream (on the
    /// sample month, `premium`, which the xlsx report waits for, before `ordinaires`), then the
    /// costliest.
    fn priority(&self, id: StageId) -> Priority {
        let view = self.shared.view(self.stages.gate(id));
        Priority {
            downstream: self.downstream[id.index()],
            cost: self.stages.cost(id, &view),
        }
    }

    /// Queues a prepared stage behind those of at least its priority and ahead of the rest, so
    /// a stage readied later still starts before a cheaper one that has waited longer (the xlsx
    /// report before a csv export readied a moment earlier).
    fn enqueue(&mut self, queued: Queued<S::Work>) {
        let at = self
            .queue
            .partition_point(|waiting| waiting.priority >= queued.priority);
        self.queue.insert(at, queued);
    }

    /// Hands queued stages to idle workers (starting one while there are fewer than `threads`);
    /// returns the stages started.
    fn start_threads(&mut self, scope: &'scope Scope<'scope, '_>) -> Vec<StageId> {
        let mut started = Vec::new();
        while self.running < self.threads {
            let Some(Queued { id, work, .. }) = self.queue.pop_front() else {
                break;
            };
            let worker = match self.idle.pop() {
                Some(worker) => worker,
                None => self.start_worker(scope),
            };
            self.running += 1;
            self.worker_of[id.index()] = Some(worker);
            started.push(id);
            self.workers[worker].current = Some(id);
            // A send fails only when the worker's thread is gone: the watch for dead workers
            // then settles the stage.
            let _ = self.workers[worker].jobs.send(Job::Stage(id, work));
        }
        started
    }

    /// Sends a piece of spare work to each idle worker not already doing one, while the stages
    /// have some. No thread is started for it: spare work only fills threads stages left idle.
    fn hand_out_spare_work(&mut self) {
        for &worker in &self.idle {
            let worker = &mut self.workers[worker];
            if worker.sparing || !self.stages.has_spare_work() {
                continue;
            }
            worker.sparing = worker.jobs.send(Job::Spare).is_ok();
        }
    }

    /// Starts a worker thread that runs the stages it is sent, one after the other, until its
    /// queue closes; returns its index.
    fn start_worker(&mut self, scope: &'scope Scope<'scope, '_>) -> usize {
        let (stages, shared, sender) = (self.stages, self.shared, self.sender.clone());
        let (jobs, queue) = channel::<Job<S::Work>>();
        let index = self.workers.len();
        let handle = scope.spawn(move || {
            for job in queue {
                let (id, work) = match job {
                    Job::Stage(id, work) => (id, work),
                    Job::Spare => {
                        // Spare work never decides a stage's outcome: a panic in it is dropped.
                        let _ = catch_unwind(AssertUnwindSafe(|| stages.spare_work()));
                        let _ = sender.send(Message::Spared(index));
                        continue;
                    }
                };
                let view = shared.view(stages.gate(id));
                let publish = |outcome: &S::Outcome| {
                    let _ = sender.send(Message::Published(id, outcome.clone()));
                    // The scheduler's thread readies the dependents; with every core busy it
                    // waited for the kernel to preempt a worker (0.4-1.2 ms per publication on
                    // the sample month, on the critical path). Yielding hands it this core now.
                    std::thread::yield_now();
                    !shared.cancelled[id.index()].load(Ordering::Relaxed)
                };
                let ran = catch_unwind(AssertUnwindSafe(|| stages.run(id, work, &view, &publish)));
                let outcome = ran.unwrap_or_else(|panic| {
                    let message = format!("it panicked: {}", panic_message(&*panic));
                    stages.internal_error(id, message)
                });
                let _ = sender.send(Message::Finished(id, outcome));
            }
        });
        self.workers.push(Worker {
            jobs,
            handle,
            current: None,
            sparing: false,
        });
        self.workers.len() - 1
    }

    /// The next message: one decided here, else one from a thread. `None` when nothing can
    /// come: no thread runs and nothing is queued, yet stages are unsettled.
    fn next_message(&mut self) -> Option<Message<S::Outcome>> {
        if let Some(message) = self.local.pop() {
            return Some(message);
        }
        loop {
            if self.running == 0 {
                return None;
            }
            match self.receiver.recv_timeout(WATCH_INTERVAL) {
                Ok(message) => return Some(message),
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {
                    if let Some(message) = self.message_for_dead_thread() {
                        return Some(message);
                    }
                }
            }
        }
    }

    /// A stage whose worker ended without saying it finished (its message would be in the
    /// channel before the thread ended): it settles as an internal error.
    fn message_for_dead_thread(&mut self) -> Option<Message<S::Outcome>> {
        let dead = self
            .workers
            .iter()
            .enumerate()
            .find_map(|(index, worker)| {
                let id = worker.current?;
                let runs_it = self.worker_of[id.index()] == Some(index);
                (worker.handle.is_finished() && runs_it).then_some(id)
            })?;
        if let Ok(message) = self.receiver.try_recv() {
            return Some(message);
        }
        let message = "its thread ended without reporting an outcome".to_string();
        Some(Message::Finished(
            dead,
            self.stages.internal_error(dead, message),
        ))
    }

    fn handle(
        &mut self,
        message: Message<S::Outcome>,
        on_event: &mut dyn FnMut(Event<'_, S::Outcome>),
    ) {
        match message {
            Message::Published(id, outcome) => self.publish(id, outcome),
            Message::Spared(worker) => self.workers[worker].sparing = false,
            Message::Finished(id, outcome) => {
                if let Some(worker) = self.worker_of[id.index()].take() {
                    // A stage holds its worker until it finishes, checks included.
                    self.running -= 1;
                    let worker_state = &mut self.workers[worker];
                    worker_state.current = None;
                    if !worker_state.handle.is_finished() {
                        self.idle.push(worker);
                    }
                }
                if self.is_settled(id) {
                    return;
                }
                self.publish(id, outcome.clone());
                self.finished[id.index()] = Some(outcome);
                self.settle_from(id, on_event);
            }
        }
    }

    /// Records a stage's output (once) and readies the dependents that waited only for it.
    fn publish(&mut self, id: StageId, outcome: S::Outcome) {
        if self.shared.published[id.index()].set(outcome).is_err() {
            return;
        }
        self.release_dependents(id, Gate::Published);
    }

    /// Tells `id`'s dependents with this gate that one more input is available.
    fn release_dependents(&mut self, id: StageId, gate: Gate) {
        let Run {
            stages,
            dependents,
            waiting,
            ready,
            ..
        } = self;
        for &dependent in &dependents[id.index()] {
            if stages.gate(dependent) != gate {
                continue;
            }
            let waiting = &mut waiting[dependent.index()];
            *waiting = waiting.saturating_sub(1);
            if *waiting == 0 {
                ready.push(dependent);
            }
        }
    }

    /// An input `id` started on (or would start on) that then settled as unusable.
    fn failed_input(&self, id: StageId) -> Option<StageId> {
        self.stages.inputs(id).iter().copied().find(|&input| {
            let Some(settled) = self.shared.settled[input.index()].get() else {
                return false;
            };
            let published_usable = self.shared.published[input.index()]
                .get()
                .is_none_or(|p| self.stages.is_usable(p));
            published_usable && !self.stages.is_usable(settled)
        })
    }

    /// Settles `id` if it can be, then whatever that lets settle in turn.
    fn settle_from(&mut self, id: StageId, on_event: &mut dyn FnMut(Event<'_, S::Outcome>)) {
        let mut pending = vec![id];
        while let Some(id) = pending.pop() {
            let inputs_settled = self.stages.inputs(id).iter().all(|&i| self.is_settled(i));
            if self.is_settled(id) || !inputs_settled {
                continue;
            }
            let outcome = match self.failed_input(id) {
                Some(input) => {
                    // Whatever it is still doing is wasted: tell it, so it skips what it can.
                    self.shared.cancelled[id.index()].store(true, Ordering::Relaxed);
                    self.finished[id.index()] = None;
                    let settled = self.shared.settled[input.index()].get();
                    match settled {
                        Some(settled) => self.stages.skipped(id, input, settled),
                        None => continue,
                    }
                }
                None => match self.finished[id.index()].take() {
                    Some(outcome) => outcome,
                    None => continue,
                },
            };
            self.settle(id, outcome, on_event);
            self.release_dependents(id, Gate::Settled);
            pending.extend_from_slice(&self.dependents[id.index()]);
        }
    }

    fn settle(
        &mut self,
        id: StageId,
        outcome: S::Outcome,
        on_event: &mut dyn FnMut(Event<'_, S::Outcome>),
    ) {
        if self.shared.settled[id.index()].set(outcome).is_ok()
            && let Some(settled) = self.shared.settled[id.index()].get()
        {
            on_event(Event::Settled(id, settled));
        }
    }

    /// Nothing can make progress: every stage left settles as an internal error, in index order.
    fn settle_stalled(&mut self, on_event: &mut dyn FnMut(Event<'_, S::Outcome>)) {
        for id in (0..self.stages.count()).map(StageId) {
            if !self.is_settled(id) {
                let message = "the build could not go on: no stage it waits for can finish".into();
                let outcome = self.stages.internal_error(id, message);
                self.shared.cancelled[id.index()].store(true, Ordering::Relaxed);
                self.settle(id, outcome, on_event);
            }
        }
    }
}

/// How soon a ready stage should start, highest first: by how many stages wait on it
/// downstream, then by [`Stages::cost`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Priority {
    downstream: usize,
    cost: u64,
}

/// A prepared stage waiting for a worker.
struct Queued<W> {
    id: StageId,
    priority: Priority,
    work: W,
}

/// How many stages depend on each stage, directly or through others, from each stage's direct
/// dependents.
fn downstream_counts(dependents: &[Vec<StageId>]) -> Vec<usize> {
    (0..dependents.len())
        .map(|start| {
            let mut seen = vec![false; dependents.len()];
            let mut stack = dependents[start].clone();
            let mut count = 0;
            while let Some(id) = stack.pop() {
                if !std::mem::replace(&mut seen[id.index()], true) {
                    count += 1;
                    stack.extend_from_slice(&dependents[id.index()]);
                }
            }
            count
        })
        .collect()
}

#[cfg(test)]
mod tests;
