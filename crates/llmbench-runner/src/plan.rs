//! Enumerating a sweep's samples without materialising them.

use std::sync::Arc;

use llmbench_config::Items;
use llmbench_core::{SampleId, SampleKey, Task};

use crate::{Components, Shard};

/// The shape of a sweep: how many tasks, items, providers and repeats; with a shard, only the
/// samples whose id falls in it ([`Plan::sharded`]).
#[derive(Debug, Clone)]
pub struct Plan {
    /// Items per task, in task order.
    items_per_task: Vec<usize>,
    providers: usize,
    repeats: u32,
    shard: Option<ShardFilter>,
}

/// What it takes to compute a planned sample's id without the [`Components`]: the task ids,
/// their items (shared, not copied) and provider names.
#[derive(Debug, Clone)]
struct ShardFilter {
    shard: Shard,
    tasks: Arc<[(String, Items)]>,
    providers: Arc<[String]>,
    /// How many samples of the sweep are the shard's.
    len: u64,
}

impl ShardFilter {
    fn contains(&self, s: &PlannedSample) -> bool {
        let (task, items) = &self.tasks[s.task];
        let key = SampleKey {
            task: task.clone(),
            item: items.id(s.item),
            provider: self.providers[s.provider].clone(),
            repeat: s.repeat,
        };
        self.shard.contains(&key.id())
    }
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
                .map(|t| t.task.items.len())
                .collect(),
            providers: components.providers.len(),
            repeats,
            shard: None,
        }
    }

    /// Only the samples of `shard` (by their stable ids, [`Shard::contains`]). Counting
    /// them hashes every key of the sweep once.
    pub fn sharded(mut self, components: &Components, shard: Shard) -> Self {
        let tasks: Arc<[(String, Items)]> = components
            .tasks
            .iter()
            .map(|t| (t.task.id().to_owned(), t.task.items.clone()))
            .collect();
        let providers = components
            .providers
            .iter()
            .map(|p| p.name.clone())
            .collect();
        let mut filter = ShardFilter {
            shard,
            tasks,
            providers,
            len: 0,
        };
        filter.len = self.sweep_iter().filter(|s| filter.contains(s)).count() as u64;
        self.shard = Some(filter);
        self
    }

    /// The shard this plan runs, if any.
    pub fn shard(&self) -> Option<Shard> {
        self.shard.as_ref().map(|f| f.shard)
    }

    /// The samples this plan runs: the shard's, or the whole sweep's.
    pub fn len(&self) -> u64 {
        match &self.shard {
            Some(filter) => filter.len,
            None => self.sweep_len(),
        }
    }

    /// The samples of the whole sweep, whatever the shard (what a run records as planned).
    pub fn sweep_len(&self) -> u64 {
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
    /// With a shard, the samples of other shards are left out.
    pub fn iter(&self) -> impl Iterator<Item = PlannedSample> + '_ {
        self.sweep_iter()
            .filter(|s| self.shard.as_ref().is_none_or(|f| f.contains(s)))
    }

    fn sweep_iter(&self) -> impl Iterator<Item = PlannedSample> + '_ {
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
            item: task.items.id(self.item),
            provider: components.providers[self.provider].name.clone(),
            repeat: self.repeat,
        }
    }

    pub fn id(&self, components: &Components) -> SampleId {
        self.key(components).id()
    }
}
