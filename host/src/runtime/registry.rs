//! The set of loaded plugins, by name.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::LoadedPlugin;
use crate::domain::readiness::ItemInfo;
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

    pub fn info(&self) -> Option<&'a ItemInfo> {
        match *self {
            ChecklistEntry::Item(plugin) => plugin.summary().item.as_ref(),
            ChecklistEntry::Bundled { bundle, index } => {
                bundle.summary().items.get(index).map(|b| &b.item)
            }
        }
    }
}

#[derive(Default)]
pub struct PluginSet {
    by_name: BTreeMap<String, Arc<LoadedPlugin>>,
}

impl PluginSet {
    pub fn new(plugins: impl IntoIterator<Item = LoadedPlugin>) -> Self {
        Self {
            by_name: plugins
                .into_iter()
                .map(|p| (p.name().to_string(), Arc::new(p)))
                .collect(),
        }
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
