//! A tenant's **overview**, persisted: its score views (overall and per category) and the top
//! [`TOP`] actions of its default list (the ranked order of `improvementActions` without a
//! filter), with what each of them shows, in `tenant_state.summary` beside the inputs.
//!
//! Every change writes it in its transaction, computed from the state the change leaves
//! (`persisted::persist`), so a server process that has not cached a tenant answers its overview
//! (`secureScore` and the first page of `improvementActions`) from one small column: no action
//! rows, no scoring. It is used only when its labels still hold ([`Summary::usable`]): the
//! tenant's `state_version` (checked by the query that reads it), the service catalog's
//! fingerprint it was computed with (a SERVICE_ADMIN's catalog change rewrites no tenant; their
//! overviews are recomputed on their next read and repaired), and the moment its answer would
//! change with time alone (a review date, a licence expiry).
//!
//! An overview becomes a *partial* [`TenantState`]: its score and its top actions, built with the
//! same code as a full state from the stored rows and the catalog's controls; everything else
//! asks for the full state.

use crate::domain::enums::Category;
use crate::domain::licensing::Licensing;
use crate::domain::points::Points;
use crate::domain::scoring::{ScoreViews, TenantScore, score_impact};
use crate::error::{AppError, AppResult};
use crate::service::state::persisted::{StoredAction, StoredTag, Time, from_time, time};
use crate::service::state::{ActionRow, ActionState, Partial, TenantState, scored_action};
use chrono::{DateTime, Utc};
use entity::{control, tenant};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;

/// Actions of the default list an overview holds: a first page of up to this many is answered
/// from it.
pub const TOP: usize = 20;

/// The catalog part of a fingerprint an overview is labelled with (the database is implied).
type CatalogLabel = (i64, Option<String>);

#[derive(Serialize, Deserialize)]
struct StoredViews([Points; 6]);

impl StoredViews {
    fn of(v: &ScoreViews) -> StoredViews {
        StoredViews([
            v.max_score.clone(),
            v.current.clone(),
            v.planned.clone(),
            v.current_license.clone(),
            v.achievable.clone(),
            v.verified.clone(),
        ])
    }
}

#[derive(Serialize, Deserialize)]
struct TopAction {
    row: StoredAction,
    rank: Option<u32>,
    licensed: bool,
    best_seats: Option<i64>,
    seat_shortfall: i64,
    tags: Vec<StoredTag>,
}

/// A decoded overview.
#[derive(Serialize, Deserialize)]
pub struct Summary {
    catalog: CatalogLabel,
    /// From this moment on the overview answers differently (`None`: only changes change it).
    valid_until: Option<Time>,
    /// When licence expiry was judged.
    computed_at: Time,
    overall: StoredViews,
    categories: Vec<(Category, StoredViews)>,
    /// The latest `updated_at` of the tenant's actions.
    actions_updated_at: Time,
    /// How many actions the default list holds.
    listed_total: u32,
    top: Vec<TopAction>,
    /// Whether the tenant has control profiles of its own (read when it has).
    own_profiles: bool,
}

/// The moment a state's answers change with time alone: the earliest review date among its
/// actions (that action expires) or licence expiry still to come.
pub fn valid_until(state: &TenantState, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    state
        .actions
        .iter()
        .filter_map(|a| a.row.review_by)
        .chain(
            state
                .held
                .iter()
                .filter_map(|h| h.expires_at)
                .filter(|at| *at > now),
        )
        .min()
}

impl Summary {
    /// The overall current score and maximum (for score alerts).
    pub fn current_and_max(&self) -> (Points, Points) {
        (self.overall.0[1].clone(), self.overall.0[0].clone())
    }

    /// The overview of a complete state computed with the catalog `fingerprint`.
    pub fn of(
        state: &TenantState,
        fingerprint: &crate::service::state::catalog::Fingerprint,
        own_profiles: bool,
    ) -> Summary {
        debug_assert!(
            state.partial.is_none(),
            "an overview is taken of a complete state"
        );
        let listed = crate::service::state::actions::select(
            state,
            &Default::default(),
            Default::default(),
            &Default::default(),
        );
        let tags = state.tags.as_deref();
        let top = listed
            .iter()
            .take(TOP)
            .map(|a| TopAction {
                row: StoredAction::of(&a.model()),
                rank: a.rank,
                licensed: a.licensing.licensed,
                best_seats: a.licensing.best_seats,
                seat_shortfall: a.licensing.seat_shortfall,
                tags: tags
                    .and_then(|t| t.get(&a.row.id))
                    .map(|on| on.iter().map(StoredTag::of).collect())
                    .unwrap_or_default(),
            })
            .collect();
        Summary {
            catalog: (fingerprint.0, fingerprint.1.clone()),
            valid_until: valid_until(state, state.computed_at).map(time),
            computed_at: time(state.computed_at),
            overall: StoredViews::of(&state.score.overall),
            categories: state
                .score
                .categories
                .iter()
                .map(|(c, v)| (*c, StoredViews::of(v)))
                .collect(),
            actions_updated_at: time(state.actions_updated_at),
            listed_total: listed.len() as u32,
            top,
            own_profiles,
        }
    }

    /// The binary form.
    pub fn encode(&self) -> AppResult<Vec<u8>> {
        postcard::to_stdvec(self)
            .map_err(|e| AppError::Internal(anyhow::anyhow!("encoding an overview failed: {e}")))
    }

    /// An overview from its binary form; `None` for one that does not decode (written by a
    /// server whose format differed: it is recomputed and replaced).
    pub fn decode(bytes: &[u8]) -> Option<Summary> {
        postcard::from_bytes(bytes).ok()
    }

    /// Whether it still answers for the catalog at `fingerprint` at `now`.
    pub fn usable(
        &self,
        fingerprint: &crate::service::state::catalog::Fingerprint,
        now: DateTime<Utc>,
    ) -> bool {
        self.catalog.0 == fingerprint.0
            && self.catalog.1 == fingerprint.1
            && self
                .valid_until
                .and_then(|t| from_time(t).ok())
                .is_none_or(|until| now < until)
    }

    /// From this moment on it answers differently (`None`: only changes change it).
    pub fn valid_until(&self) -> Option<DateTime<Utc>> {
        self.valid_until.and_then(|t| from_time(t).ok())
    }

    /// Whether the tenant has control profiles of its own, which [`Summary::into_state`] needs.
    pub fn own_profiles(&self) -> bool {
        self.own_profiles
    }

    /// The partial state of `tenant` (the row the overview is labelled with) it holds, with the
    /// controls `control` finds (the tenant's own profiles first, then the service catalog);
    /// `None` when a control is missing (the full state is computed instead).
    pub fn into_state(
        self,
        tenant: tenant::Model,
        control: impl Fn(&str) -> Option<Arc<control::Model>>,
    ) -> AppResult<Option<TenantState>> {
        let views = |v: StoredViews| ScoreViews::from_array(v.0);
        let score = TenantScore {
            overall: views(self.overall),
            categories: self.categories.into_iter().map(|(c, v)| (c, views(v))).collect(),
        };
        let mut actions = Vec::with_capacity(self.top.len());
        let mut tags = HashMap::new();
        for t in self.top {
            let row = t.row.into_model(tenant.id)?;
            let Some(control) = control(&row.control_id) else {
                return Ok(None);
            };
            let licensing = Licensing {
                licensed: t.licensed,
                best_seats: t.best_seats,
                seat_shortfall: t.seat_shortfall,
            };
            let scored = scored_action(&row, &control, licensing.licensed);
            let achieved = scored.achieved();
            let points_remaining = scored.points_remaining();
            let impact = score_impact(&points_remaining, &score.overall.max_score);
            if !t.tags.is_empty() {
                let on = t
                    .tags
                    .into_iter()
                    .map(|tag| tag.into_model(tenant.id))
                    .collect::<AppResult<Vec<_>>>()?;
                tags.insert(row.id, on);
            }
            actions.push(ActionState {
                row: ActionRow::of(row),
                control,
                scored,
                licensing,
                achieved,
                points_remaining,
                score_impact: impact,
                rank: t.rank,
            });
        }
        Ok(Some(TenantState {
            tenant,
            actions,
            score,
            held: Vec::new(),
            computed_at: from_time(self.computed_at)?,
            tags: Some(Arc::new(tags)),
            actions_updated_at: from_time(self.actions_updated_at)?,
            partial: Some(Partial {
                listed_total: self.listed_total as usize,
            }),
            own_profiles: self.own_profiles,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::state::test_support;

    fn fingerprint() -> crate::service::state::catalog::Fingerprint {
        (250, Some("2026-05-01".into()), Some("db".into()))
    }

    /// An overview decodes into exactly the score and the first page of the default list that
    /// the complete state gives, without scoring anything.
    #[test]
    fn an_overview_holds_the_score_and_the_first_page_of_the_complete_state() {
        for n in [0, 7, 20, 60] {
            let full = test_support::state(3, n);
            let bytes = Summary::of(&full, &fingerprint(), false)
                .encode()
                .expect("encodes");
            let controls: HashMap<String, Arc<control::Model>> = full
                .actions
                .iter()
                .map(|a| (a.control.id.clone(), a.control.clone()))
                .collect();
            let decoded = Summary::decode(&bytes).expect("decodes");
            assert!(decoded.usable(&fingerprint(), test_support::t0()));
            let partial = decoded
                .into_state(full.tenant.clone(), |id| controls.get(id).cloned())
                .expect("builds")
                .expect("every control found");
            let listed = crate::service::state::actions::select(
                &full,
                &Default::default(),
                Default::default(),
                &Default::default(),
            );
            assert_eq!(partial.score, full.score, "{n} actions");
            assert_eq!(partial.partial.map(|p| p.listed_total), Some(listed.len()));
            assert_eq!(partial.updated_at(), full.updated_at());
            let expected: Vec<_> = listed.iter().take(TOP).collect();
            assert_eq!(partial.actions.len(), expected.len());
            for (got, want) in partial.actions.iter().zip(expected) {
                assert_eq!(got.row, want.row);
                assert_eq!(got.rank, want.rank);
                assert_eq!(got.licensing, want.licensing);
                assert_eq!(got.achieved, want.achieved);
                assert_eq!(got.points_remaining, want.points_remaining);
                assert_eq!(got.score_impact, want.score_impact);
            }
        }
    }

    #[test]
    fn an_overview_is_not_used_for_another_catalog_or_after_it_expires() {
        let mut full = test_support::state(4, 5);
        let summary = Summary::of(&full, &fingerprint(), false);
        let mut other = fingerprint();
        other.1 = Some("2026-05-02".into());
        assert!(
            !summary.usable(&other, test_support::t0()),
            "another catalog version"
        );
        let soon = test_support::t0() + chrono::Duration::hours(1);
        full.actions[0].row.review_by = Some(soon);
        let summary = Summary::of(&full, &fingerprint(), false);
        assert!(summary.usable(&fingerprint(), soon - chrono::Duration::seconds(1)));
        assert!(!summary.usable(&fingerprint(), soon), "the review date has come");
        assert!(Summary::decode(&[0xff, 0x01]).is_none(), "garbage is no overview");
    }
}
