//! The global catalog: controls and licence SKUs.

use crate::auth::Viewer;
use crate::error::AppResult;
use entity::{control, license, license_plan};
use sea_orm::{ColumnTrait, Condition, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder};
use std::collections::BTreeMap;

/// Filter of the `controls` query.
#[derive(Debug, Default, Clone)]
pub struct ControlFilter {
    pub categories: Vec<String>,
    pub services: Vec<String>,
    pub search: Option<String>,
    pub include_deprecated: bool,
}

/// Controls matching the filter, ordered by id. Any authenticated caller may read the catalog.
pub async fn controls(
    db: &DatabaseConnection,
    _viewer: &Viewer,
    filter: &ControlFilter,
) -> AppResult<Vec<control::Model>> {
    let mut cond = Condition::all();
    if !filter.categories.is_empty() {
        cond = cond.add(control::Column::Category.is_in(filter.categories.clone()));
    }
    if !filter.services.is_empty() {
        cond = cond.add(control::Column::Service.is_in(filter.services.clone()));
    }
    if !filter.include_deprecated {
        cond = cond.add(control::Column::Deprecated.eq(false));
    }
    let mut rows = control::Entity::find()
        .filter(cond)
        .order_by_asc(control::Column::Id)
        .all(db)
        .await?;
    if let Some(search) = filter
        .search
        .as_deref()
        .map(str::to_lowercase)
        .filter(|s| !s.is_empty())
    {
        rows.retain(|c| c.id.to_lowercase().contains(&search) || c.title.to_lowercase().contains(&search));
    }
    Ok(rows)
}

/// One control by id.
pub async fn control(
    db: &DatabaseConnection,
    _viewer: &Viewer,
    id: &str,
) -> AppResult<Option<control::Model>> {
    Ok(control::Entity::find_by_id(id.to_string()).one(db).await?)
}

/// A licence SKU with the plans it grants.
#[derive(Clone, Debug)]
pub struct LicenseWithPlans {
    pub license: license::Model,
    pub plans: Vec<String>,
}

/// All licence SKUs, ordered by SKU.
pub async fn licenses(db: &DatabaseConnection) -> AppResult<Vec<LicenseWithPlans>> {
    let skus = license::Entity::find()
        .order_by_asc(license::Column::Sku)
        .all(db)
        .await?;
    let mut plans: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for p in license_plan::Entity::find()
        .order_by_asc(license_plan::Column::Plan)
        .all(db)
        .await?
    {
        plans.entry(p.license_sku).or_default().push(p.plan);
    }
    Ok(skus
        .into_iter()
        .map(|license| {
            let plans = plans.remove(&license.sku).unwrap_or_default();
            LicenseWithPlans { license, plans }
        })
        .collect())
}
