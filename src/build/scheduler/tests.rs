//! The scheduler with fake stages: each test builds a small graph whose stages sleep, publish,
//! fail, panic or break the protocol, and asserts what ran, when, and how each stage settled.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::*;

#[derive(Debug, Clone, PartialEq)]
enum Status {
    Ok,
    Failed,
    Skipped(usize),
    Internal(String),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Behaviour {
    /// Finished in `prepare`, as a reused stage is.
    Reuse,
    /// Sleeps, publishes, finishes.
    Run(u64),
    /// Publishes, sleeps, then fails (a model whose check fails).
    PublishThenFail(u64),
    /// Publishes, then keeps publishing until told it is no longer wanted.
    RunUntilCancelled,
    /// Fails without publishing.
    Fail,
    PanicInRun,
    PanicInPrepare,
    /// Publishes twice, then finishes.
    PublishTwice,
}

struct Fake {
    inputs: Vec<Vec<StageId>>,
    gates: Vec<Gate>,
    behaviour: Vec<Behaviour>,
    log: Mutex<Vec<String>>,
    running: AtomicUsize,
    most_running: AtomicUsize,
    /// The thread each run happened on.
    threads: Mutex<Vec<std::thread::ThreadId>>,
    /// What [`Stages::cost`] answers for each stage (0 unless a test sets it).
    costs: Vec<u64>,
    /// Pieces of spare work left to do, each a 5 ms sleep.
    spare: AtomicUsize,
}

fn fake(stages: &[(Behaviour, &[usize], Gate)]) -> Fake {
    Fake {
        inputs: stages
            .iter()
            .map(|(_, inputs, _)| inputs.iter().map(|&i| StageId(i)).collect())
            .collect(),
        gates: stages.iter().map(|(_, _, gate)| *gate).collect(),
        behaviour: stages.iter().map(|(b, _, _)| *b).collect(),
        log: Mutex::new(Vec::new()),
        running: AtomicUsize::new(0),
        most_running: AtomicUsize::new(0),
        threads: Mutex::new(Vec::new()),
        costs: vec![0; stages.len()],
        spare: AtomicUsize::new(0),
    }
}

impl Fake {
    fn note(&self, line: String) {
        self.log.lock().unwrap().push(line);
    }

    fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    fn position(&self, line: &str) -> usize {
        self.log()
            .iter()
            .position(|l| l == line)
            .unwrap_or_else(|| panic!("`{line}` not in {:?}", self.log()))
    }

    fn ok(id: StageId) -> (usize, Status) {
        (id.index(), Status::Ok)
    }
}

impl Stages for Fake {
    type Work = ();
    type Outcome = (usize, Status);

    fn count(&self) -> usize {
        self.inputs.len()
    }

    fn inputs(&self, id: StageId) -> &[StageId] {
        &self.inputs[id.index()]
    }

    fn gate(&self, id: StageId) -> Gate {
        self.gates[id.index()]
    }

    fn cost(&self, id: StageId, _: &View<'_, Self::Outcome>) -> u64 {
        self.costs[id.index()]
    }

    fn prepare(
        &self,
        id: StageId,
        inputs: &View<'_, Self::Outcome>,
    ) -> Prepared<(), Self::Outcome> {
        // As the build does: a stage whose input is unusable is skipped here.
        for &input in self.inputs(id) {
            match inputs.get(input) {
                Some((_, Status::Ok)) => {}
                _ => return Prepared::Done((id.index(), Status::Skipped(input.index()))),
            }
        }
        match self.behaviour[id.index()] {
            Behaviour::Reuse => Prepared::Done(Fake::ok(id)),
            Behaviour::PanicInPrepare => panic!("prepare broke"),
            _ => Prepared::Run(()),
        }
    }

    fn run(
        &self,
        id: StageId,
        (): (),
        _: &View<'_, Self::Outcome>,
        publish: &dyn Fn(&Self::Outcome) -> bool,
    ) -> Self::Outcome {
        let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.most_running.fetch_max(now, Ordering::SeqCst);
        self.note(format!("run {}", id.index()));
        self.threads
            .lock()
            .unwrap()
            .push(std::thread::current().id());
        let outcome = match self.behaviour[id.index()] {
            Behaviour::Reuse | Behaviour::PanicInPrepare => Fake::ok(id),
            Behaviour::Run(ms) => {
                std::thread::sleep(Duration::from_millis(ms));
                self.note(format!("publish {}", id.index()));
                publish(&Fake::ok(id));
                Fake::ok(id)
            }
            Behaviour::PublishThenFail(ms) => {
                self.note(format!("publish {}", id.index()));
                publish(&Fake::ok(id));
                std::thread::sleep(Duration::from_millis(ms));
                (id.index(), Status::Failed)
            }
            Behaviour::RunUntilCancelled => {
                let started = Instant::now();
                while publish(&Fake::ok(id)) && started.elapsed() < Duration::from_secs(5) {
                    std::thread::sleep(Duration::from_millis(2));
                }
                self.note(format!("cancelled {}", id.index()));
                Fake::ok(id)
            }
            Behaviour::Fail => (id.index(), Status::Failed),
            Behaviour::PanicInRun => {
                self.running.fetch_sub(1, Ordering::SeqCst);
                panic!("run broke")
            }
            Behaviour::PublishTwice => {
                publish(&Fake::ok(id));
                publish(&(id.index(), Status::Failed));
                Fake::ok(id)
            }
        };
        self.running.fetch_sub(1, Ordering::SeqCst);
        outcome
    }

    fn is_usable(&self, outcome: &Self::Outcome) -> bool {
        outcome.1 == Status::Ok
    }

    fn skipped(&self, id: StageId, input: StageId, _: &Self::Outcome) -> Self::Outcome {
        (id.index(), Status::Skipped(input.index()))
    }

    fn internal_error(&self, id: StageId, message: String) -> Self::Outcome {
        (id.index(), Status::Internal(message))
    }

    fn has_spare_work(&self) -> bool {
        self.spare.load(Ordering::SeqCst) > 0
    }

    fn spare_work(&self) {
        if self
            .spare
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| {
                left.checked_sub(1)
            })
            .is_ok()
        {
            let stages = self.running.load(Ordering::SeqCst);
            self.note(format!("spare beside {stages}"));
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

/// Runs `stages` on `threads` threads; returns each stage's status and how often each settled.
fn run_fake(stages: &Fake, threads: usize) -> (Vec<Status>, Vec<usize>) {
    let mut settled = vec![0; stages.count()];
    let outcomes = run(stages, threads, &mut |event| {
        if let Event::Settled(id, _) = event {
            settled[id.index()] += 1;
        }
    });
    (outcomes.into_iter().map(|(_, s)| s).collect(), settled)
}

const P: Gate = Gate::Published;
const S: Gate = Gate::Settled;

#[test]
fn stages_start_after_their_inputs_and_gated_ones_after_settling() {
    use Behaviour::*;
    // 0 → 1 → 2, and 3 (gated on settling) reads 2; 4 is reused and read by 1.
    let stages = fake(&[
        (Run(20), &[], P),
        (Run(20), &[0, 4], P),
        (PublishThenFail(0), &[1], P),
        (Run(0), &[2], S),
        (Reuse, &[], P),
    ]);
    let (statuses, settled) = run_fake(&stages, 2);
    assert_eq!(
        statuses,
        [
            Status::Ok,
            Status::Ok,
            Status::Failed,
            Status::Skipped(2),
            Status::Ok
        ]
    );
    assert_eq!(settled, [1; 5]);
    assert!(stages.position("publish 0") < stages.position("run 1"));
    assert!(stages.position("publish 1") < stages.position("run 2"));
    // 3 waited for 2 to settle, and 2 failed: 3 never ran.
    assert!(!stages.log().contains(&"run 3".to_string()));
}

#[test]
fn at_most_as_many_stages_run_as_there_are_threads() {
    let none: &[usize] = &[];
    let stages = fake(&[(Behaviour::Run(30), none, P); 6]);
    let (statuses, _) = run_fake(&stages, 2);
    assert_eq!(statuses, vec![Status::Ok; 6]);
    assert_eq!(stages.most_running.load(Ordering::SeqCst), 2);
}

#[test]
fn of_the_stages_ready_at_once_the_one_more_stages_wait_on_starts_first() {
    use Behaviour::*;
    // 0 releases 1 and 2 at once; 2 has two stages downstream (3, then 4), 1 none. With one
    // thread, 2 runs first although 1 comes first by index.
    let stages = fake(&[
        (Run(0), &[], P),
        (Run(0), &[0], P),
        (Run(0), &[0], P),
        (Run(0), &[2], P),
        (Run(0), &[3], P),
    ]);
    let (statuses, _) = run_fake(&stages, 1);
    assert_eq!(statuses, vec![Status::Ok; 5]);
    assert!(stages.position("run 2") < stages.position("run 1"));
    assert_eq!(
        downstream_counts(&[
            vec![StageId(1), StageId(2)],
            vec![],
            vec![StageId(3)],
            vec![StageId(4)],
            vec![]
        ]),
        [4, 0, 2, 1, 0]
    );
}

#[test]
fn a_costlier_stage_readied_later_starts_before_a_cheaper_one_already_waiting() {
    use Behaviour::*;
    // One thread, busy with 0. 1 (cheap) waits for it from the start; 3 (dearer) is readied
    // later, when 2 is reused. 3 runs before 1 all the same.
    let mut stages = fake(&[
        (Run(30), &[], P),
        (Run(0), &[], P),
        (Reuse, &[], P),
        (Run(0), &[2], P),
    ]);
    stages.costs = vec![100, 1, 0, 10];
    let (statuses, _) = run_fake(&stages, 1);
    assert_eq!(statuses, vec![Status::Ok; 4]);
    assert!(stages.position("run 0") < stages.position("run 3"));
    assert!(stages.position("run 3") < stages.position("run 1"));
}

#[test]
fn stages_run_on_a_few_reused_workers_even_after_a_panic() {
    use Behaviour::*;
    // A chain of six, a panic in the middle, and two independent stages: never more workers
    // than threads, and a worker whose stage panicked goes on with the next.
    let stages = fake(&[
        (Run(1), &[], P),
        (Run(1), &[0], P),
        (PanicInRun, &[], P),
        (Run(1), &[1], P),
        (Run(1), &[3], P),
        (Run(1), &[4], P),
        (Run(1), &[], P),
    ]);
    let (statuses, _) = run_fake(&stages, 2);
    assert!(matches!(&statuses[2], Status::Internal(m) if m.contains("run broke")));
    let threads = stages.threads.lock().unwrap().clone();
    assert_eq!(threads.len(), 7);
    let mut distinct = threads.clone();
    distinct.sort_unstable_by_key(|id| format!("{id:?}"));
    distinct.dedup();
    assert!(
        distinct.len() <= 2,
        "{} workers for 2 threads",
        distinct.len()
    );
    assert!(!threads.contains(&std::thread::current().id()));
}

#[test]
fn a_dependent_started_on_an_output_whose_check_then_fails_is_skipped_and_cancelled() {
    use Behaviour::*;
    // 1 starts on 0's published output; 0 then fails its checks. 2 was built on 1 meanwhile.
    // 3 is unrelated.
    let stages = fake(&[
        (PublishThenFail(60), &[], P),
        (RunUntilCancelled, &[0], P),
        (Reuse, &[1], P),
        (Run(0), &[], P),
    ]);
    let (statuses, settled) = run_fake(&stages, 2);
    assert_eq!(
        statuses,
        [
            Status::Failed,
            Status::Skipped(0),
            Status::Skipped(1),
            Status::Ok
        ]
    );
    assert_eq!(settled, [1; 4]);
    assert!(stages.log().contains(&"cancelled 1".to_string()));
}

#[test]
fn a_queued_stage_whose_input_then_fails_never_starts() {
    use Behaviour::*;
    let stages = fake(&[(PublishThenFail(40), &[], P), (Run(0), &[0], P)]);
    let (statuses, _) = run_fake(&stages, 1);
    assert_eq!(statuses, [Status::Failed, Status::Skipped(0)]);
    assert!(!stages.log().contains(&"run 1".to_string()));
}

#[test]
fn a_stage_that_panics_is_an_internal_error_and_others_go_on() {
    use Behaviour::*;
    let stages = fake(&[
        (PanicInRun, &[], P),
        (Run(0), &[0], P),
        (PanicInPrepare, &[], P),
        (Run(0), &[], P),
    ]);
    let (statuses, settled) = run_fake(&stages, 2);
    assert_eq!(
        statuses[0],
        Status::Internal("it panicked: run broke".into())
    );
    assert_eq!(statuses[1], Status::Skipped(0));
    assert_eq!(
        statuses[2],
        Status::Internal("preparing it panicked: prepare broke".into())
    );
    assert_eq!(statuses[3], Status::Ok);
    assert_eq!(settled, [1; 4]);
}

#[test]
fn publishing_twice_or_not_at_all_never_confuses_dependents() {
    use Behaviour::*;
    // 0 publishes twice (the second is ignored); 1 fails without publishing; 2 reads both.
    let stages = fake(&[(PublishTwice, &[], P), (Fail, &[], P), (Run(0), &[0, 1], P)]);
    let (statuses, _) = run_fake(&stages, 2);
    assert_eq!(statuses, [Status::Ok, Status::Failed, Status::Skipped(1)]);
}

#[test]
fn a_graph_that_cannot_progress_ends_in_internal_errors_not_a_hang() {
    use Behaviour::*;
    // 0 and 1 wait for each other (a cycle the graph should have refused); 2 is independent.
    let stages = fake(&[(Run(0), &[1], P), (Run(0), &[0], P), (Run(0), &[], P)]);
    let started = Instant::now();
    let (statuses, settled) = run_fake(&stages, 2);
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(statuses[2], Status::Ok);
    for status in &statuses[..2] {
        assert!(
            matches!(status, Status::Internal(m) if m.contains("could not go on")),
            "{status:?}"
        );
    }
    assert_eq!(settled, [1; 3]);
}

/// A runner that breaks the protocol in its panic handler: its thread dies without a message.
struct Broken(Fake);

impl Stages for Broken {
    type Work = ();
    type Outcome = (usize, Status);

    fn count(&self) -> usize {
        self.0.count()
    }
    fn inputs(&self, id: StageId) -> &[StageId] {
        self.0.inputs(id)
    }
    fn gate(&self, id: StageId) -> Gate {
        self.0.gate(id)
    }
    fn cost(&self, id: StageId, inputs: &View<'_, Self::Outcome>) -> u64 {
        self.0.cost(id, inputs)
    }
    fn prepare(
        &self,
        id: StageId,
        inputs: &View<'_, Self::Outcome>,
    ) -> Prepared<(), Self::Outcome> {
        self.0.prepare(id, inputs)
    }
    fn run(
        &self,
        id: StageId,
        work: (),
        inputs: &View<'_, Self::Outcome>,
        publish: &dyn Fn(&Self::Outcome) -> bool,
    ) -> Self::Outcome {
        self.0.run(id, work, inputs, publish)
    }
    fn is_usable(&self, outcome: &Self::Outcome) -> bool {
        self.0.is_usable(outcome)
    }
    fn skipped(&self, id: StageId, input: StageId, settled: &Self::Outcome) -> Self::Outcome {
        self.0.skipped(id, input, settled)
    }
    fn internal_error(&self, id: StageId, message: String) -> Self::Outcome {
        assert!(!message.starts_with("it panicked"), "the handler broke too");
        self.0.internal_error(id, message)
    }
}

#[test]
fn a_thread_that_dies_without_reporting_is_an_internal_error_not_a_hang() {
    let broken = Broken(fake(&[
        (Behaviour::PanicInRun, &[], P),
        (Behaviour::Run(0), &[], P),
    ]));
    let outcomes = run(&broken, 2, &mut |_| {});
    assert!(
        matches!(&outcomes[0].1, Status::Internal(m) if m.contains("without reporting")),
        "{outcomes:?}"
    );
    assert_eq!(outcomes[1].1, Status::Ok);
}

#[test]
fn spare_work_fills_a_worker_left_idle_and_never_takes_one_from_a_stage() {
    // 0 and 1 start at once; 2 waits for 0 and takes its worker at once; then that worker is
    // idle while 1 runs, and does the spare work there.
    let stages = fake(&[
        (Behaviour::Run(10), &[], P),
        (Behaviour::Run(120), &[], P),
        (Behaviour::Run(10), &[0], P),
    ]);
    stages.spare.store(4, Ordering::SeqCst);
    let (statuses, settled) = run_fake(&stages, 2);
    assert_eq!(statuses, vec![Status::Ok; 3]);
    assert_eq!(settled, vec![1; 3]);
    let log = stages.log();
    let spare: Vec<&String> = log.iter().filter(|l| l.starts_with("spare")).collect();
    assert_eq!(spare.len(), 4, "{log:?}");
    // Each piece ran beside one stage at most (the other worker's): never on a third thread.
    assert!(spare.iter().all(|l| *l == "spare beside 1"), "{log:?}");
    assert!(stages.position("run 2") < stages.position("spare beside 1"));
    assert_eq!(stages.threads.lock().unwrap().len(), 3);
    assert!(stages.most_running.load(Ordering::SeqCst) <= 2);
}

#[test]
fn spare_work_never_starts_a_thread() {
    // One stage on one of two threads: no second worker is started for spare work.
    let stages = fake(&[(Behaviour::Run(20), &[], P)]);
    stages.spare.store(3, Ordering::SeqCst);
    let (statuses, _) = run_fake(&stages, 2);
    assert_eq!(statuses, vec![Status::Ok]);
    let log = stages.log();
    // The stage's worker does it once idle, before the run ends, or it is left undone.
    assert!(
        log.iter()
            .filter(|l| l.starts_with("spare"))
            .all(|l| l == "spare beside 0"),
        "{log:?}"
    );
}
