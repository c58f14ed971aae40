//! The Grafana dashboard, `deploy/grafana/dashboards/rust-shop.json`: its
//! panels and the PromQL each one sends, for tests that run the queries
//! against a real Prometheus and check the dashboard's structure.

use serde_json::Value;

/// One query of one panel.
#[derive(Debug)]
pub struct PanelQuery {
    pub panel: String,
    pub ref_id: String,
    pub expr: String,
}

impl PanelQuery {
    /// The expression as Grafana sends it, its interval variables
    /// replaced by what they become with a 15 s scrape interval.
    pub fn promql(&self) -> String {
        self.expr
            .replace("$__rate_interval", "1m")
            .replace("$__interval", "15s")
    }
}

/// The dashboard, parsed.
pub fn dashboard() -> Value {
    let path = test_support::repo::root().join("deploy/grafana/dashboards/rust-shop.json");
    let text = std::fs::read_to_string(&path).unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every panel, rows' nested ones included.
pub fn panels(dashboard: &Value) -> Vec<&Value> {
    fn walk<'a>(panels: &'a Value, into: &mut Vec<&'a Value>) {
        for panel in panels.as_array().into_iter().flatten() {
            into.push(panel);
            walk(&panel["panels"], into);
        }
    }
    let mut all = Vec::new();
    walk(&dashboard["panels"], &mut all);
    all
}

/// Every query of every panel, in the dashboard's order.
pub fn queries() -> Vec<PanelQuery> {
    let dashboard = dashboard();
    panels(&dashboard)
        .into_iter()
        .flat_map(|panel| {
            let title = panel["title"].as_str().unwrap_or_default().to_owned();
            panel["targets"]
                .as_array()
                .into_iter()
                .flatten()
                .map(move |target| PanelQuery {
                    panel: title.clone(),
                    ref_id: target["refId"].as_str().unwrap_or_default().to_owned(),
                    expr: target["expr"].as_str().unwrap_or_default().to_owned(),
                })
        })
        .collect()
}
