//! The set of loaded plugins, by name.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::LoadedPlugin;
use crate::domain::PluginKind;

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

    /// The checklist items, in checklist order: by category (technical,
    /// process, organizational), then by points (heaviest first), then id.
    pub fn checklist(&self) -> Vec<&LoadedPlugin> {
        let mut items: Vec<&LoadedPlugin> = self
            .iter()
            .map(|p| p.as_ref())
            .filter(|p| p.kind() == PluginKind::ChecklistItem && p.summary().item.is_some())
            .collect();
        items.sort_by_key(|p| {
            let item = p.summary().item.as_ref();
            (
                item.map(|i| i.category),
                item.map(|i| std::cmp::Reverse(i.points)),
                item.map(|i| i.id.clone()),
            )
        });
        items
    }
}
