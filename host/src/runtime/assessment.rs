//! An assessment: the checklist on one context, whether its items come
//! from `checklist-item` plugins or from bundles.

use super::bindings::types as wit;
use super::{convert, ChecklistEntry, EvalError, LoadedPlugin, PluginRuntime};
use crate::domain::readiness;

impl PluginRuntime {
    /// Runs the checklist on one context. A standalone item gets a store of
    /// its own; a bundle gets one store for all of its items, so each
    /// bundle is instantiated once per assessment. An item that errors
    /// counts as not passed, with the error as its detail (fail closed).
    ///
    /// Work runs on the calling thread: spreading items across cores was
    /// measured at only 7% faster here (the instances contend in the
    /// pooling allocator and the kernel), not worth a second core per request.
    pub fn assess(
        &self,
        checklist: &[ChecklistEntry<'_>],
        ctx: &readiness::ReadinessContext,
    ) -> readiness::Assessment {
        let wit_ctx = convert::readiness_context(ctx);
        let mut results: Vec<Option<readiness::ItemResult>> = vec![None; checklist.len()];
        // Each bundle with the (checklist position, item index) pairs it serves.
        let mut bundles: Vec<(&LoadedPlugin, Vec<(usize, usize)>)> = Vec::new();
        for (position, entry) in checklist.iter().enumerate() {
            match *entry {
                ChecklistEntry::Item(plugin) => {
                    results[position] = self.item_result(plugin, &wit_ctx);
                }
                ChecklistEntry::Bundled { bundle, index } => {
                    match bundles.iter_mut().find(|(b, _)| std::ptr::eq(*b, bundle)) {
                        Some((_, members)) => members.push((position, index)),
                        None => bundles.push((bundle, vec![(position, index)])),
                    }
                }
            }
        }
        for (bundle, members) in bundles {
            let indexes: Vec<usize> = members.iter().map(|&(_, index)| index).collect();
            let verdicts = self.evaluate_bundled(bundle, &wit_ctx, &indexes);
            for ((position, index), verdict) in members.into_iter().zip(verdicts) {
                let Some(bundled) = bundle.info.items.get(index) else {
                    continue;
                };
                results[position] = Some(Self::result_of(bundle, bundled.item.clone(), verdict));
            }
        }
        readiness::Assessment::from_items(results.into_iter().flatten().collect())
    }

    fn item_result(
        &self,
        plugin: &LoadedPlugin,
        ctx: &wit::ReadinessContext,
    ) -> Option<readiness::ItemResult> {
        let info = plugin.info.item.clone()?;
        Some(Self::result_of(
            plugin,
            info,
            self.evaluate_item(plugin, ctx),
        ))
    }

    fn result_of(
        plugin: &LoadedPlugin,
        info: readiness::ItemInfo,
        verdict: Result<readiness::ItemVerdict, EvalError>,
    ) -> readiness::ItemResult {
        let (passed, detail, observed, error, truncated) = match verdict {
            Ok(v) => (v.passed, v.detail, v.observed, None, v.truncated),
            Err(e) => (
                false,
                e.to_string(),
                None,
                Some(e.failure.code().to_string()),
                false,
            ),
        };
        readiness::ItemResult {
            info,
            passed,
            detail,
            observed,
            error,
            plugin: plugin.name().to_string(),
            plugin_version: plugin.version().to_string(),
            truncated,
        }
    }
}
