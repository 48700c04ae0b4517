//! The price catalog (`configs/catalog/prices.toml`, built into the binary): public prices
//! per model, used when a provider's config gives no `price`.

use std::collections::HashMap;
use std::sync::OnceLock;

use llmbench_core::Price;
use serde::Deserialize;

use crate::PriceConfig;

/// The catalog's text, as shipped.
pub const CATALOG_TOML: &str = include_str!("../../../configs/catalog/prices.toml");

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Catalog {
    models: HashMap<String, Entry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    #[expect(dead_code, reason = "documented in the file; not needed to price")]
    provider: String,
    #[expect(dead_code, reason = "documented in the file; not needed to price")]
    label: String,
    #[serde(default)]
    aliases: Vec<String>,
    price: EntryPrice,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct EntryPrice {
    input_per_mtok: f64,
    output_per_mtok: f64,
    cache_read_per_mtok: f64,
    cache_write_per_mtok: f64,
    as_of: String,
}

fn by_model() -> &'static HashMap<String, PriceConfig> {
    static TABLE: OnceLock<HashMap<String, PriceConfig>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let catalog: Catalog =
            toml::from_str(CATALOG_TOML).expect("the shipped price catalog parses (tested)");
        let mut table = HashMap::new();
        for (id, entry) in catalog.models {
            let p = entry.price;
            let price = PriceConfig {
                price: Price {
                    input_per_mtok: p.input_per_mtok,
                    output_per_mtok: p.output_per_mtok,
                    cache_read_per_mtok: p.cache_read_per_mtok,
                    cache_write_per_mtok: p.cache_write_per_mtok,
                },
                as_of: Some(p.as_of),
                from_catalog: true,
            };
            for alias in entry.aliases {
                table.insert(alias, price.clone());
            }
            table.insert(id, price);
        }
        table
    })
}

/// The catalog's price for a model id (or one of its aliases).
pub fn catalog_price(model: &str) -> Option<PriceConfig> {
    by_model().get(model).cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_catalog_parses_and_prices_the_founding_models() {
        let haiku = catalog_price("claude-haiku-4-5").unwrap();
        assert_eq!(haiku.price.input_per_mtok, 1.0);
        assert_eq!(haiku.price.output_per_mtok, 5.0);
        assert!(haiku.from_catalog);
        assert_eq!(catalog_price("claude-haiku-4-5-20251001"), Some(haiku));
        assert_eq!(
            catalog_price("claude-sonnet-4-6")
                .unwrap()
                .price
                .output_per_mtok,
            15.0
        );
        // Today's Opus 4.7 list price, not the article's 15/75.
        assert_eq!(
            catalog_price("claude-opus-4-7")
                .unwrap()
                .price
                .input_per_mtok,
            5.0
        );
        assert_eq!(catalog_price("no-such-model"), None);
    }
}
