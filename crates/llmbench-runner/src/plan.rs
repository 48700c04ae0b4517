//! Enumerating a sweep's samples without materialising them.

use llmbench_core::{SampleId, SampleKey, Task};

use crate::Components;

/// The shape of a sweep: how many tasks, items, providers and repeats.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Items per task, in task order.
    items_per_task: Vec<usize>,
    providers: usize,
    repeats: u32,
}

/// One sample of a plan, by indices into the [`Components`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlannedSample {
    pub task: usize,
    pub item: usize,
    pub provider: usize,
    pub repeat: u32,
}

impl Plan {
    pub fn new(components: &Components, repeats: u32) -> Self {
        Self {
            items_per_task: components
                .tasks
                .iter()
                .map(|t| t.task.items().len())
                .collect(),
            providers: components.providers.len(),
            repeats,
        }
    }

    pub fn len(&self) -> u64 {
        self.items_per_task.iter().map(|&n| n as u64).sum::<u64>()
            * self.providers as u64
            * u64::from(self.repeats)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Samples in run order: repeat-major, so the first repeat of everything finishes before
    /// the second begins (an interrupted run has evenly spread data), and providers
    /// interleave within an item (no provider waits behind another's queue).
    pub fn iter(&self) -> impl Iterator<Item = PlannedSample> + '_ {
        (0..self.repeats).flat_map(move |repeat| {
            self.items_per_task
                .iter()
                .enumerate()
                .flat_map(move |(task, &items)| {
                    (0..items).flat_map(move |item| {
                        (0..self.providers).map(move |provider| PlannedSample {
                            task,
                            item,
                            provider,
                            repeat,
                        })
                    })
                })
        })
    }
}

impl PlannedSample {
    pub fn key(&self, components: &Components) -> SampleKey {
        let task = &components.tasks[self.task].task;
        SampleKey {
            task: task.id().to_owned(),
            item: task.items()[self.item].id.clone(),
            provider: components.providers[self.provider].name.clone(),
            repeat: self.repeat,
        }
    }

    pub fn id(&self, components: &Components) -> SampleId {
        self.key(components).id()
    }
}
