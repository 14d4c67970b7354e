//! Route templates resolved once to small ids, with a cap on how many are tracked.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use opentelemetry::StringValue;

use super::method::HttpMethod;

/// Default cap on distinct route templates tracked before new ones share an overflow series.
pub const DEFAULT_MAX_ROUTES: usize = 256;

/// The value of `http.route` on metrics for routes beyond the cap.
pub const OVERFLOW_ROUTE: &str = "_OTHER";

/// A dense id for a route template, stable for the life of the process.
///
/// Ids start at 0 and stay below the route cap, so the aggregator can index arrays by them.
/// [`RouteTable::OVERFLOW`] is shared by every route past the cap.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RouteId(pub u32);

/// What the layer keeps per route template: its id, its metric attribute and its span names,
/// built once so that requests neither hash attributes nor format strings.
#[derive(Debug)]
pub(crate) struct RouteEntry {
    pub(crate) id: RouteId,
    pub(crate) template: Arc<str>,
    /// `http.route` on the span: the real template, even past the cap.
    pub(crate) span_route: StringValue,
    /// `http.route` on metrics: the template, or `_OTHER` past the cap.
    pub(crate) metric_route: StringValue,
    span_names: [&'static str; HttpMethod::COUNT],
}

impl RouteEntry {
    fn new(id: RouteId, template: Arc<str>, metric_route: &str) -> Self {
        // Span names must be `'static` for the SDK to take them without a copy per request.
        // Entries are created once per template and capped (see `RouteTable::entry`), so this
        // leaks a bounded amount once.
        let span_names = HttpMethod::ALL
            .map(|m| &*Box::leak(format!("{} {template}", m.span_prefix()).into_boxed_str()));
        Self {
            id,
            span_route: StringValue::from(Arc::clone(&template)),
            metric_route: StringValue::from(metric_route.to_owned()),
            template,
            span_names,
        }
    }

    fn saturated() -> Self {
        let template: Arc<str> = Arc::from(OVERFLOW_ROUTE);
        Self {
            id: RouteTable::OVERFLOW,
            span_route: StringValue::from(Arc::clone(&template)),
            metric_route: StringValue::from(OVERFLOW_ROUTE),
            template,
            span_names: HttpMethod::ALL.map(HttpMethod::span_prefix),
        }
    }

    pub(crate) fn span_name(&self, method: HttpMethod) -> &'static str {
        self.span_names[method.index()]
    }
}

/// The route templates seen so far, shared by the layer and whoever reads per-route data.
///
/// ```
/// use pulsecheck::layer::RouteTable;
/// let routes = RouteTable::new(2);
/// let a = routes.resolve("/a");
/// assert_eq!(routes.resolve("/a"), a);
/// routes.resolve("/b");
/// assert_eq!(routes.resolve("/c"), RouteTable::OVERFLOW);
/// assert_eq!(routes.template(a).as_deref(), Some("/a"));
/// ```
#[derive(Debug)]
pub struct RouteTable {
    max: usize,
    /// Shared by overflow templates once even the overflow cache is full: spans named by
    /// method only, so a flood of generated templates costs nothing per template.
    saturated: Arc<RouteEntry>,
    /// Keyed by the service's own route templates (never by client input, and at most three
    /// times the cap), so a fast unkeyed-quality hash is safe: SipHash was 190 of the ~300
    /// instructions of a lookup.
    by_template: RwLock<HashMap<Arc<str>, Arc<RouteEntry>, foldhash::fast::RandomState>>,
    by_id: RwLock<Vec<Arc<RouteEntry>>>,
}

impl RouteTable {
    /// The id shared by all routes past the cap.
    pub const OVERFLOW: RouteId = RouteId(u32::MAX);

    /// A table tracking at most `max` distinct templates.
    pub fn new(max: usize) -> Self {
        Self {
            max: max.min(u32::MAX as usize - 1),
            saturated: Arc::new(RouteEntry::saturated()),
            by_template: RwLock::default(),
            by_id: RwLock::default(),
        }
    }

    /// The id of `template`, registering it if there is room.
    pub fn resolve(&self, template: &str) -> RouteId {
        self.entry(template).id
    }

    /// The template of `id`, if it is a tracked route.
    pub fn template(&self, id: RouteId) -> Option<Arc<str>> {
        let by_id = self.by_id.read().unwrap_or_else(|p| p.into_inner());
        by_id.get(id.0 as usize).map(|e| Arc::clone(&e.template))
    }

    /// Every tracked route, in id order.
    pub fn routes(&self) -> Vec<(RouteId, Arc<str>)> {
        let by_id = self.by_id.read().unwrap_or_else(|p| p.into_inner());
        by_id
            .iter()
            .map(|e| (e.id, Arc::clone(&e.template)))
            .collect()
    }

    /// The most routes tracked before overflow.
    pub fn capacity(&self) -> usize {
        self.max
    }

    pub(crate) fn entry(&self, template: &str) -> Arc<RouteEntry> {
        {
            let map = self.by_template.read().unwrap_or_else(|p| p.into_inner());
            if let Some(e) = map.get(template) {
                return Arc::clone(e);
            }
        }
        let mut map = self.by_template.write().unwrap_or_else(|p| p.into_inner());
        if let Some(e) = map.get(template) {
            return Arc::clone(e);
        }
        let mut by_id = self.by_id.write().unwrap_or_else(|p| p.into_inner());
        if by_id.len() >= self.max && map.len() >= self.max.saturating_mul(3) {
            return Arc::clone(&self.saturated);
        }
        let key: Arc<str> = Arc::from(template);
        let entry = if by_id.len() < self.max {
            let e = Arc::new(RouteEntry::new(
                RouteId(by_id.len() as u32),
                Arc::clone(&key),
                template,
            ));
            by_id.push(Arc::clone(&e));
            e
        } else {
            // Past the cap: metrics share one series, but the span keeps its real name.
            Arc::new(RouteEntry::new(
                Self::OVERFLOW,
                Arc::clone(&key),
                OVERFLOW_ROUTE,
            ))
        };
        // Overflow entries are remembered too, up to twice the cap, so each costs its
        // allocations once; past that, `saturated` serves them all.
        map.insert(key, Arc::clone(&entry));
        entry
    }
}

impl Default for RouteTable {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_ROUTES)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_dense_and_stable() {
        let t = RouteTable::new(10);
        assert_eq!(t.resolve("/x"), RouteId(0));
        assert_eq!(t.resolve("/y"), RouteId(1));
        assert_eq!(t.resolve("/x"), RouteId(0));
        assert_eq!(t.routes().len(), 2);
    }

    #[test]
    fn overflow_keeps_span_name_but_not_metric_route() {
        let t = RouteTable::new(1);
        t.resolve("/one");
        let e = t.entry("/two/{id}");
        assert_eq!(e.id, RouteTable::OVERFLOW);
        assert_eq!(e.span_name(HttpMethod::Get), "GET /two/{id}");
        assert_eq!(e.metric_route.as_str(), OVERFLOW_ROUTE);
        assert_eq!(t.template(RouteTable::OVERFLOW), None);
    }

    #[test]
    fn a_flood_of_templates_stops_allocating_past_three_times_the_cap() {
        let t = RouteTable::new(2);
        for i in 0..100 {
            t.resolve(&format!("/generated/{i}"));
        }
        assert_eq!(t.by_template.read().unwrap().len(), 6);
        let e = t.entry("/generated/999");
        assert_eq!(e.span_name(HttpMethod::Get), "GET");
        assert_eq!(e.id, RouteTable::OVERFLOW);
    }

    #[test]
    fn unknown_method_span_name_starts_with_http() {
        let t = RouteTable::new(4);
        assert_eq!(t.entry("/r").span_name(HttpMethod::Other), "HTTP /r");
    }
}
