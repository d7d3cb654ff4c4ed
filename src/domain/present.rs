//! How figures are presented: exact inside, rounded to 2 places for the API and the exports
//! (SPEC §3). Used by `graphql::types` and `service::export`, so both show the same numbers.

use crate::domain::points::Points;
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

/// A figure the API shows rounded to 2 places (halves away from zero, SPEC §3): exact points and
/// percentages ([`Points`]) and decimal inputs such as goal targets.
pub trait Presentable {
    /// The value rounded to 2 decimal places.
    fn rounded(&self) -> Decimal;
}

impl Presentable for Points {
    fn rounded(&self) -> Decimal {
        self.round2()
    }
}

impl Presentable for Decimal {
    fn rounded(&self) -> Decimal {
        crate::domain::points::round2_decimal(*self)
    }
}

impl<T: Presentable> Presentable for &T {
    fn rounded(&self) -> Decimal {
        (**self).rounded()
    }
}

/// Figures are exact inside; the API presents them rounded to 2 places. The `f64` nearest a
/// 2-place decimal prints as that decimal in JSON.
pub fn present(value: impl Presentable) -> f64 {
    value.rounded().to_f64().unwrap_or(0.0)
}
