//! Tasks: long operations followed live. A task has steps, a progress figure, log lines and
//! an outcome; every change goes out on the event stream as `task_changed`, so the backend
//! mirrors it without polling. The last `KEEP` tasks are kept for `GET /v1/tasks`.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use corral_api::bridge::BridgeEvent;
use corral_api::task::{BridgeTask, StepState, TaskState, TaskStep};
use corral_api::{MachineId, TaskId};
use tokio::sync::broadcast;

use crate::error::BridgeError;
use crate::time_fmt::now_rfc3339;

const KEEP: usize = 200;
/// Progress is announced at most this often; steps, logs and the end always at once.
const PROGRESS_EVERY: Duration = Duration::from_millis(200);

#[derive(Clone)]
pub struct Tasks {
    list: Arc<Mutex<VecDeque<BridgeTask>>>,
    events: broadcast::Sender<BridgeEvent>,
}

impl std::fmt::Debug for Tasks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tasks").finish_non_exhaustive()
    }
}

impl Default for Tasks {
    fn default() -> Self {
        Self { list: Arc::default(), events: broadcast::channel(1024).0 }
    }
}

impl Tasks {
    fn lock(&self) -> MutexGuard<'_, VecDeque<BridgeTask>> {
        self.list.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn subscribe(&self) -> broadcast::Receiver<BridgeEvent> {
        self.events.subscribe()
    }

    /// Starts a task with its steps (all pending) and announces it.
    pub fn start(
        &self,
        kind: &str,
        machine_id: Option<MachineId>,
        target: &str,
        steps: &[&str],
    ) -> TaskHandle {
        let task = BridgeTask {
            id: TaskId::new_random(),
            kind: kind.into(),
            machine_id,
            target: target.into(),
            state: TaskState::Running,
            steps: steps.iter().map(|s| TaskStep { name: (*s).into(), state: StepState::Pending }).collect(),
            progress: 0,
            log: Vec::new(),
            result: None,
            error: None,
            started_at: now_rfc3339(),
            finished_at: None,
        };
        let id = task.id;
        {
            let mut list = self.lock();
            list.push_front(task.clone());
            // Drop the oldest finished tasks past the bound; running ones always stay.
            while list.len() > KEEP {
                match list.iter().rposition(|t| t.state != TaskState::Running) {
                    Some(i) => {
                        list.remove(i);
                    }
                    None => break,
                }
            }
        }
        let _ = self.events.send(BridgeEvent::TaskChanged { task });
        TaskHandle { id, tasks: self.clone(), last_progress: Arc::new(Mutex::new(Instant::now())) }
    }

    pub fn list(&self) -> Vec<BridgeTask> {
        self.lock().iter().cloned().collect()
    }

    pub fn get(&self, id: TaskId) -> Option<BridgeTask> {
        self.lock().iter().find(|t| t.id == id).cloned()
    }

    /// Changes a task and, if `announce`, sends it out.
    fn update(&self, id: TaskId, announce: bool, f: impl FnOnce(&mut BridgeTask)) -> Option<BridgeTask> {
        let task = {
            let mut list = self.lock();
            let t = list.iter_mut().find(|t| t.id == id)?;
            f(t);
            t.clone()
        };
        if announce {
            let _ = self.events.send(BridgeEvent::TaskChanged { task: task.clone() });
        }
        Some(task)
    }
}

/// The running side of one task.
#[derive(Clone)]
pub struct TaskHandle {
    id: TaskId,
    tasks: Tasks,
    last_progress: Arc<Mutex<Instant>>,
}

impl TaskHandle {
    pub fn id(&self) -> TaskId {
        self.id
    }

    pub fn snapshot(&self) -> Option<BridgeTask> {
        self.tasks.get(self.id)
    }

    /// Ends the running step and starts `name`.
    pub fn step(&self, name: &str) {
        self.tasks.update(self.id, true, |t| {
            for s in &mut t.steps {
                if s.state == StepState::Running {
                    s.state = StepState::Done;
                }
                if s.name == name {
                    s.state = StepState::Running;
                }
            }
        });
    }

    pub fn progress(&self, percent: u8) {
        let due = {
            let mut last = self.last_progress.lock().unwrap_or_else(|p| p.into_inner());
            let due = last.elapsed() >= PROGRESS_EVERY;
            if due {
                *last = Instant::now();
            }
            due
        };
        self.tasks.update(self.id, due, |t| t.progress = percent.min(100));
    }

    pub fn log(&self, line: impl Into<String>) {
        let line = line.into();
        self.tasks.update(self.id, true, |t| t.log.push(line));
    }

    pub fn succeed(&self, result: impl Into<String>) {
        let result = result.into();
        self.tasks.update(self.id, true, |t| {
            for s in &mut t.steps {
                s.state = StepState::Done;
            }
            t.state = TaskState::Succeeded;
            t.progress = 100;
            t.result = Some(result);
            t.finished_at = Some(now_rfc3339());
        });
    }

    pub fn fail(&self, error: &BridgeError) {
        let (_, body) = error.status_and_body();
        self.tasks.update(self.id, true, |t| {
            for s in &mut t.steps {
                if s.state == StepState::Running {
                    s.state = StepState::Failed;
                }
            }
            t.log.push(format!("failed: {}", body.message));
            t.state = TaskState::Failed;
            t.error = Some(body);
            t.finished_at = Some(now_rfc3339());
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_task_walks_its_steps_and_says_each_change() {
        let tasks = Tasks::default();
        let mut rx = tasks.subscribe();
        let h = tasks.start("image_import", None, "x.qcow2", &["fetch", "verify"]);
        h.step("fetch");
        h.log("from /tmp/x");
        h.step("verify");
        h.succeed("imported");
        let t = tasks.get(h.id()).unwrap();
        assert_eq!((t.state, t.progress, t.result.as_deref()), (TaskState::Succeeded, 100, Some("imported")));
        assert!(t.steps.iter().all(|s| s.state == StepState::Done));
        let mut seen = 0;
        while rx.try_recv().is_ok() {
            seen += 1;
        }
        assert_eq!(seen, 5, "start, two steps, a log line, the end");
    }

    #[test]
    fn a_failure_marks_the_step_and_keeps_the_error_body() {
        let tasks = Tasks::default();
        let h = tasks.start("image_import", None, "x.qcow2", &["fetch"]);
        h.step("fetch");
        h.fail(&BridgeError::Validation { field: "source", message: "404 Not Found".into() });
        let t = tasks.get(h.id()).unwrap();
        assert_eq!(t.state, TaskState::Failed);
        assert_eq!(t.steps[0].state, StepState::Failed);
        assert_eq!(t.error.unwrap().field.as_deref(), Some("source"));
    }
}
