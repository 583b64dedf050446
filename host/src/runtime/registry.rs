//! The set of loaded plugins, by name, and the one that is active.

use std::collections::BTreeMap;
use std::sync::Arc;

use arc_swap::ArcSwap;

use super::LoadedPlugin;
use crate::domain::readiness::{ContextScope, ItemInfo};
use crate::domain::PluginKind;

/// Where one checklist item comes from: a plugin of its own, or an item of
/// a bundle.
#[derive(Debug, Clone, Copy)]
pub enum ChecklistEntry<'a> {
    Item(&'a LoadedPlugin),
    Bundled {
        bundle: &'a LoadedPlugin,
        /// The item's position in the bundle's `items`.
        index: usize,
    },
}

impl<'a> ChecklistEntry<'a> {
    pub fn plugin(&self) -> &'a LoadedPlugin {
        match *self {
            ChecklistEntry::Item(plugin) => plugin,
            ChecklistEntry::Bundled { bundle, .. } => bundle,
        }
    }

    /// The params the item is evaluated with, as JSON text.
    pub fn params_json(&self) -> &'a str {
        match *self {
            ChecklistEntry::Item(plugin) => plugin.params_json(),
            ChecklistEntry::Bundled { bundle, index } => bundle
                .summary()
                .items
                .get(index)
                .map_or("{}", |b| b.params_json.as_str()),
        }
    }

    /// What the item reads of the readiness context.
    pub fn reads(&self) -> ContextScope {
        match *self {
            ChecklistEntry::Item(plugin) => plugin
                .summary()
                .reads
                .clone()
                .unwrap_or_else(ContextScope::everything),
            ChecklistEntry::Bundled { bundle, index } => bundle
                .summary()
                .items
                .get(index)
                .map_or_else(ContextScope::everything, |b| b.reads.clone()),
        }
    }

    pub fn info(&self) -> Option<&'a ItemInfo> {
        match *self {
            ChecklistEntry::Item(plugin) => plugin.summary().item.as_ref(),
            ChecklistEntry::Bundled { bundle, index } => {
                bundle.summary().items.get(index).map(|b| &b.item)
            }
        }
    }
}

/// One immutable set of plugin versions. A change makes a new set with
/// the next generation; nothing ever edits a set in place, so whoever holds
/// one sees the same versions from start to end.
#[derive(Default)]
pub struct PluginSet {
    by_name: BTreeMap<String, Arc<LoadedPlugin>>,
    generation: u64,
}

impl PluginSet {
    pub fn new(plugins: impl IntoIterator<Item = LoadedPlugin>) -> Self {
        Self::from_shared(plugins.into_iter().map(Arc::new))
    }

    pub fn from_shared(plugins: impl IntoIterator<Item = Arc<LoadedPlugin>>) -> Self {
        Self {
            by_name: plugins
                .into_iter()
                .map(|p| (p.name().to_string(), p))
                .collect(),
            generation: 1,
        }
    }

    /// This set with `plugin` in place of any version of the same name, as
    /// the next generation. Other plugins are shared, not reloaded.
    pub fn with(&self, plugin: Arc<LoadedPlugin>) -> Self {
        let mut by_name = self.by_name.clone();
        by_name.insert(plugin.name().to_string(), plugin);
        Self {
            by_name,
            generation: self.generation + 1,
        }
    }

    /// `plugins`, as a whole, as the generation after this one: how a set
    /// another replica activated replaces this one at once.
    pub fn succeeded_by(&self, plugins: impl IntoIterator<Item = Arc<LoadedPlugin>>) -> Self {
        Self {
            generation: self.generation + 1,
            ..Self::from_shared(plugins)
        }
    }

    /// Counts the changes since start: replies carry it, so two replies
    /// with the same generation were decided by the same versions.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    pub fn get(&self, name: &str) -> Option<&Arc<LoadedPlugin>> {
        self.by_name.get(name)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<LoadedPlugin>> {
        self.by_name.values()
    }

    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }

    /// The checklist, in checklist order: by category (technical, process,
    /// organizational), then by points (heaviest first), then id.
    ///
    /// An item id appears once. A `checklist-item` plugin takes its item
    /// over from any bundle, so one item of a bundle can be replaced on its
    /// own; between bundles, the first by name keeps it.
    pub fn checklist(&self) -> Vec<ChecklistEntry<'_>> {
        let mut entries: Vec<ChecklistEntry<'_>> = self
            .iter()
            .map(|p| p.as_ref())
            .filter(|p| p.kind() == PluginKind::ChecklistItem && p.summary().item.is_some())
            .map(ChecklistEntry::Item)
            .collect();
        for bundle in self
            .iter()
            .filter(|p| p.kind() == PluginKind::ChecklistBundle)
        {
            for index in 0..bundle.summary().items.len() {
                let entry = ChecklistEntry::Bundled { bundle, index };
                let id = entry.info().map(|i| &i.id);
                if !entries.iter().any(|e| e.info().map(|i| &i.id) == id) {
                    entries.push(entry);
                }
            }
        }
        entries.sort_by_key(|e| {
            let item = e.info();
            (
                item.map(|i| i.category),
                item.map(|i| std::cmp::Reverse(i.points)),
                item.map(|i| i.id.clone()),
            )
        });
        entries
    }
}

/// The active set, swapped whole. Readers take the current set once per
/// evaluation (a lock-free load) and keep it to the end, so an evaluation
/// that started before a swap finishes on the versions it started with;
/// an old version is freed when its last reader lets go.
pub struct ActivePlugins {
    current: ArcSwap<PluginSet>,
}

impl ActivePlugins {
    pub fn new(set: PluginSet) -> Self {
        Self {
            current: ArcSwap::from_pointee(set),
        }
    }

    pub fn current(&self) -> Arc<PluginSet> {
        self.current.load_full()
    }

    /// Publishes `set`. Callers serialize their swaps (the registry holds a
    /// lock across commit and publish), so generations only go up.
    pub fn publish(&self, set: PluginSet) {
        self.current.store(Arc::new(set));
    }
}
