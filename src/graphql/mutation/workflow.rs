//! Workflow mutations: statuses (single, bulk, undo), device exceptions, implementation
//! progress, notes, tags and share links. Resolvers only translate input, call one service
//! function and shape the payload; the changed action and the tenant's new score come back in
//! the same response.

use crate::domain::enums as d;
use crate::error::{AppError, AppResult};
use crate::graphql::loaders::states;
use crate::graphql::types::enums::{ExceptionJustification, ExceptionScope, SharePlatform, Status};
use crate::graphql::types::user_error::{UserErrorCode, split};
use crate::graphql::types::workflow::{DeviceException, PlannerTask, ShareLink};
use crate::graphql::types::{ImprovementAction, Note, SecureScore, Tag, Tenant, UserError};
use crate::graphql::{config, db, ids, viewer};
use crate::service::collab::share::LinkInfo;
use crate::service::collab::{notes, share, tags};
use crate::service::state::TenantState;
use crate::service::state::actions::NoteWithAuthor;
use crate::service::workflow::{self, ActionRef, Applied, Resolved};
use async_graphql::{Context, ID, InputObject, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use std::sync::Arc;

#[derive(Default)]
pub struct WorkflowMutation;

/// Names one action: either `actionId`, or `tenantSlug` with `controlId`.
fn action_ref(
    action_id: &Option<ID>,
    tenant_slug: &Option<String>,
    control_id: &Option<String>,
) -> AppResult<ActionRef> {
    match (action_id, tenant_slug, control_id) {
        (Some(id), None, None) => ids::decode_i64(id, "ImprovementAction")
            .map(ActionRef::Id)
            .ok_or(AppError::NotFound("improvement action")),
        (None, Some(slug), Some(control)) => Ok(ActionRef::Control {
            tenant_slug: slug.clone(),
            control_id: control.clone(),
        }),
        _ => Err(AppError::bad_input(
            "actionId",
            "give either actionId, or tenantSlug and controlId",
        )),
    }
}

fn global_id(id: &ID, ty: &str, what: &'static str) -> AppResult<i64> {
    ids::decode_i64(id, ty).ok_or(AppError::NotFound(what))
}

/// The tenant's state after a committed change (fresh, not the request cache).
async fn fresh(ctx: &Context<'_>, tenant: entity::tenant::Model) -> AppResult<Arc<TenantState>> {
    states(ctx)?.after_change(viewer(ctx)?, None, &tenant, &[]).await
}

/// The changed action and the tenant's score after a change, from the entrance: derived from
/// the state at the tenant row the change started from (`Resolved::before`) when it recorded
/// one, so the readers that follow find it cached. After a no-op that wrote nothing, the tenant
/// row read is still the current one.
async fn action_and_score(
    ctx: &Context<'_>,
    r: Resolved,
) -> AppResult<(Option<ImprovementAction>, SecureScore, Tenant)> {
    let state = states(ctx)?
        .after_change(
            viewer(ctx)?,
            r.before.as_ref(),
            &r.tenant,
            std::slice::from_ref(&r.action),
        )
        .await?;
    Ok((
        ImprovementAction::new(state.clone(), r.action.id),
        SecureScore::new(state.clone()),
        Tenant(state.tenant.clone()),
    ))
}

/// The payload of a change of one action's state (or of a no-op asking for what held).
async fn status_payload(ctx: &Context<'_>, result: AppResult<Applied>) -> Result<SetActionStatusPayload> {
    let (applied, user_errors) = split(result)?;
    let Some(Applied { resolved: r, changed }) = applied else {
        return Ok(SetActionStatusPayload {
            action: None,
            score: None,
            tenant: None,
            changed: false,
            user_errors,
        });
    };
    let (action, score, tenant) = action_and_score(ctx, r).await?;
    Ok(SetActionStatusPayload {
        action,
        score: Some(score),
        tenant: Some(tenant),
        changed,
        user_errors,
    })
}

/// Input of `setActionStatus`.
#[derive(InputObject)]
pub struct SetActionStatusInput {
    /// Global id of the action (`ImprovementAction.id`); or give `tenantSlug` and `controlId`.
    pub action_id: Option<ID>,
    /// Tenant of the action named by `controlId`.
    pub tenant_slug: Option<String>,
    /// Control id of the action (e.g. `AdminMFAV2`), with `tenantSlug`.
    pub control_id: Option<String>,
    /// Any status but `COMPLETED`, which only the system sets.
    pub status: Status,
    /// Why; also kept as a note on the action.
    pub comment: Option<String>,
    /// When to review a risk acceptance or resolution; past it the action returns to `TO_ADDRESS`.
    pub review_by: Option<DateTime<Utc>>,
    /// The action's `version` the change is based on; a stale one gives `CONFLICT`.
    pub expected_version: Option<i64>,
}

/// Result of a status change.
#[derive(SimpleObject)]
pub struct SetActionStatusPayload {
    /// The action as this change left it. Its `version` is the one this change wrote (or, for a
    /// no-op, the one it found), even when another change committed since: pass it as
    /// `expectedVersion` next, and a change made meanwhile gives `CONFLICT` instead of being
    /// overwritten.
    pub action: Option<ImprovementAction>,
    /// The tenant's score after the change.
    pub score: Option<SecureScore>,
    /// The tenant after the change: select `tenant { id secureScore { id … } }` and a normalised
    /// client cache (Apollo, urql Graphcache) updates the tenant's score in place.
    pub tenant: Option<Tenant>,
    /// Whether the action changed. `false` when the request asked for what already held (the
    /// same status and `reviewBy`, the same progress): a successful no-op that wrote nothing (no
    /// event, no new `version`, no note), so scripts can re-apply a desired state safely. Also
    /// `false` when there are `userErrors`.
    pub changed: bool,
    /// Why nothing was written, when something was refused.
    pub user_errors: Vec<UserError>,
}

/// One item of `bulkSetActionStatus`.
#[derive(InputObject)]
pub struct BulkStatusItemInput {
    /// Global id of the action (`ImprovementAction.id`); or give `controlId`.
    pub action_id: Option<ID>,
    /// Control id of the action (e.g. `AdminMFAV2`) in the tenant `tenantSlug`.
    pub control_id: Option<String>,
    /// The new status: any but `COMPLETED`, which only the system sets.
    pub status: Status,
    /// Why; also kept as a note on the action.
    pub comment: Option<String>,
    /// When to review a risk acceptance or resolution; past it the action returns to `TO_ADDRESS`.
    pub review_by: Option<DateTime<Utc>>,
    /// The action's `version` the change is based on; a stale one fails the whole call with
    /// `CONFLICT`.
    pub expected_version: Option<i64>,
}

/// Input of `bulkSetActionStatus`: all items are applied, or none.
#[derive(InputObject)]
pub struct BulkSetActionStatusInput {
    /// Tenant of items that name their action by `controlId`.
    pub tenant_slug: Option<String>,
    /// The changes, at most one per action; applied all together or not at all.
    pub items: Vec<BulkStatusItemInput>,
}

/// What one item of a bulk status change did.
#[derive(SimpleObject)]
pub struct BulkStatusItemResult {
    /// The action as the bulk change left it (its `version` the one the change wrote, as in
    /// `SetActionStatusPayload.action`).
    pub action: Option<ImprovementAction>,
    /// Whether this item changed its action; `false` for an item asking for what already held
    /// (a no-op: no event, no new `version`).
    pub changed: bool,
}

/// Result of a bulk status change.
#[derive(SimpleObject)]
pub struct BulkSetActionStatusPayload {
    /// The actions named by the items, as they stand after the change (empty when there are
    /// `userErrors`).
    pub actions: Vec<ImprovementAction>,
    /// One entry per item, in input order (empty when there are `userErrors`).
    pub items: Vec<BulkStatusItemResult>,
    /// Whether any item changed its action.
    pub changed: bool,
    /// The score after the change of the (last) tenant changed.
    pub score: Option<SecureScore>,
    /// Every tenant changed, as the change left it (for normalised client caches, like
    /// `SetActionStatusPayload.tenant`).
    pub tenants: Vec<Tenant>,
    /// One entry per failing item; `field` starts with `["input", "items", "<index>"]`.
    pub user_errors: Vec<UserError>,
}

/// Input of `undoActionStatus`.
#[derive(InputObject)]
pub struct UndoActionStatusInput {
    /// Global id of the action (`ImprovementAction.id`); or give `tenantSlug` and `controlId`.
    pub action_id: Option<ID>,
    /// Tenant of the action named by `controlId`.
    pub tenant_slug: Option<String>,
    /// Control id of the action (e.g. `AdminMFAV2`), with `tenantSlug`.
    pub control_id: Option<String>,
    /// Why; kept on the `UNDONE` event.
    pub comment: Option<String>,
}

/// Input of `recordDeviceException`.
#[derive(InputObject)]
pub struct RecordDeviceExceptionInput {
    /// Global id of the DEVICE action (`ImprovementAction.id`); or give `tenantSlug` and
    /// `controlId`.
    pub action_id: Option<ID>,
    /// Tenant of the action named by `controlId`.
    pub tenant_slug: Option<String>,
    /// Control id of the action, with `tenantSlug`.
    pub control_id: Option<String>,
    /// Every device (`GLOBAL`, which sets the status) or one device group.
    pub scope: ExceptionScope,
    /// Why; for `GLOBAL`, decides the status it sets.
    pub justification: ExceptionJustification,
    /// The explanation (required).
    pub comment: String,
    /// When the exception ends; never when absent.
    pub expires_at: Option<DateTime<Utc>>,
}

/// Result of `recordDeviceException`.
#[derive(SimpleObject)]
pub struct RecordDeviceExceptionPayload {
    /// The exception recorded.
    pub exception: Option<DeviceException>,
    /// The action as this change left it (its `version` the one the change wrote, as in
    /// `SetActionStatusPayload.action`).
    pub action: Option<ImprovementAction>,
    /// The tenant's score after the change.
    pub score: Option<SecureScore>,
    /// The tenant after the change (see `SetActionStatusPayload.tenant`).
    pub tenant: Option<Tenant>,
    /// Why nothing was written, when something was refused.
    pub user_errors: Vec<UserError>,
}

/// Input of `recordImplementationProgress` (what scanners and sync jobs send).
#[derive(InputObject)]
pub struct RecordImplementationProgressInput {
    /// Global id of the action (`ImprovementAction.id`); or give `tenantSlug` and `controlId`.
    pub action_id: Option<ID>,
    /// Tenant of the action named by `controlId`.
    pub tenant_slug: Option<String>,
    /// Control id of the action (e.g. `AdminMFAV2`), with `tenantSlug`.
    pub control_id: Option<String>,
    /// Units implemented: 0 to `total`.
    pub implemented: i64,
    /// Units to implement in all (0 or more).
    pub total: i64,
    /// The scanner's text about the current implementation; unchanged when absent.
    pub implementation_status: Option<String>,
    /// Users the action affects (0 or more); unchanged when absent.
    pub users_affected: Option<i64>,
}

/// Input of `addActionNote`.
#[derive(InputObject)]
pub struct AddActionNoteInput {
    /// Global id of the action (`ImprovementAction.id`); or give `tenantSlug` and `controlId`.
    pub action_id: Option<ID>,
    /// Tenant of the action named by `controlId`.
    pub tenant_slug: Option<String>,
    /// Control id of the action (e.g. `AdminMFAV2`), with `tenantSlug`.
    pub control_id: Option<String>,
    /// 1 to 10,000 characters.
    pub body: String,
}

/// Input of `updateActionNote`.
#[derive(InputObject)]
pub struct UpdateActionNoteInput {
    /// Global id of the note (`Note.id`).
    pub id: ID,
    /// The new text: 1 to 10,000 characters.
    pub body: String,
}

/// Input of `deleteActionNote`.
#[derive(InputObject)]
pub struct DeleteActionNoteInput {
    /// Global id of the note (`Note.id`).
    pub id: ID,
}

/// Result of note mutations.
#[derive(SimpleObject)]
pub struct ActionNotePayload {
    /// The note added, edited or deleted; `null` when there are `userErrors`.
    pub note: Option<Note>,
    /// The action the note belongs to, as it stands now.
    pub action: Option<ImprovementAction>,
    /// Why nothing was written, when something was refused.
    pub user_errors: Vec<UserError>,
}

/// Input of `createTag`.
#[derive(InputObject)]
pub struct CreateTagInput {
    /// The tenant the tag belongs to.
    pub tenant_slug: String,
    /// 1 to 64 characters, unique (case-insensitively) in the tenant.
    pub name: String,
    /// `#rrggbb`.
    pub color: Option<String>,
}

/// Input of `updateTag`.
#[derive(InputObject)]
pub struct UpdateTagInput {
    /// Global id of the tag (`Tag.id`).
    pub id: ID,
    /// New name (1 to 64 characters, unique in the tenant); unchanged when absent.
    pub name: Option<String>,
    /// New colour `#rrggbb`; unchanged when absent.
    pub color: Option<String>,
}

/// Input of `deleteTag`.
#[derive(InputObject)]
pub struct DeleteTagInput {
    /// Global id of the tag (`Tag.id`).
    pub id: ID,
}

/// Result of tag mutations.
#[derive(SimpleObject)]
pub struct TagPayload {
    /// The tag created, changed or deleted.
    pub tag: Option<Tag>,
    /// Why nothing was written, when something was refused.
    pub user_errors: Vec<UserError>,
}

/// Input of `addActionTags` / `removeActionTags`: the tags on many actions at once.
#[derive(InputObject)]
pub struct ActionTagsInput {
    /// Tenant of actions named by `controlIds`.
    pub tenant_slug: Option<String>,
    /// Global ids of the actions (`ImprovementAction.id`); combine with or replace `controlIds`.
    pub action_ids: Option<Vec<ID>>,
    /// Control ids of the actions (e.g. `AdminMFAV2`) in the tenant `tenantSlug`.
    pub control_ids: Option<Vec<String>>,
    /// Global ids of the tags (`Tag.id`) to attach or detach; tags of the actions' tenant only.
    pub tag_ids: Vec<ID>,
}

/// Result of `addActionTags` / `removeActionTags`.
#[derive(SimpleObject)]
pub struct ActionTagsPayload {
    /// The actions named, as they stand after the change.
    pub actions: Vec<ImprovementAction>,
    /// Whether any tag was attached or detached. `false` when every tag was already attached
    /// (`addActionTags`) or not attached (`removeActionTags`): a successful no-op that wrote
    /// nothing. Also `false` when there are `userErrors`.
    pub changed: bool,
    /// Why nothing was written, when something was refused.
    pub user_errors: Vec<UserError>,
}

/// Input of `createShareLink`.
#[derive(InputObject)]
pub struct CreateShareLinkInput {
    /// Global id of the action (`ImprovementAction.id`); or give `tenantSlug` and `controlId`.
    pub action_id: Option<ID>,
    /// Tenant of the action named by `controlId`.
    pub tenant_slug: Option<String>,
    /// Control id of the action (e.g. `AdminMFAV2`), with `tenantSlug`.
    pub control_id: Option<String>,
    /// Where the link is meant to be posted; decides the extra fields of the payload.
    pub platform: SharePlatform,
    /// Lifetime in days: default 30, at most 365.
    pub expires_in_days: Option<i64>,
}

/// Result of `createShareLink`. `token` and `url` are shown only here, once.
#[derive(SimpleObject)]
pub struct CreateShareLinkPayload {
    /// The link created.
    pub share_link: Option<ShareLink>,
    /// The link's secret token (for `sharedAction(token:)`); shown only here.
    pub token: Option<String>,
    /// The URL of the read-only share page, carrying the token; shown only here.
    pub url: Option<String>,
    /// For EMAIL: a `mailto:` URL with subject and body.
    pub mailto_url: Option<String>,
    /// For TEAMS: a Teams share URL carrying the link.
    pub teams_url: Option<String>,
    /// For PLANNER: a ready task.
    pub planner_task: Option<PlannerTask>,
    /// Why nothing was written, when something was refused.
    pub user_errors: Vec<UserError>,
}

/// Input of `revokeShareLink`.
#[derive(InputObject)]
pub struct RevokeShareLinkInput {
    /// Global id of the share link (`ShareLink.id`).
    pub id: ID,
}

/// Result of `revokeShareLink`.
#[derive(SimpleObject)]
pub struct RevokeShareLinkPayload {
    /// The link, now revoked.
    pub share_link: Option<ShareLink>,
    /// Why nothing was written, when something was refused.
    pub user_errors: Vec<UserError>,
}

/// The payload of a note mutation: the note with its author and the action as it stands now.
async fn note_payload(
    ctx: &Context<'_>,
    result: AppResult<entity::note::Model>,
) -> Result<ActionNotePayload> {
    use sea_orm::EntityTrait;
    let (note, user_errors) = split(result)?;
    let Some(note) = note else {
        return Ok(ActionNotePayload {
            note: None,
            action: None,
            user_errors,
        });
    };
    let tenant = entity::tenant::Entity::find_by_id(note.tenant_id)
        .one(db(ctx))
        .await
        .map_err(AppError::from)?
        .ok_or(AppError::NotFound("tenant"))?;
    let author_name = match note.author_id {
        Some(id) => entity::principal::Entity::find_by_id(id)
            .one(db(ctx))
            .await
            .map_err(AppError::from)?
            .map(|p| p.name),
        None => None,
    };
    let state = fresh(ctx, tenant).await?;
    let action = ImprovementAction::new(state, note.action_id);
    Ok(ActionNotePayload {
        note: Some(Note(NoteWithAuthor { note, author_name })),
        action,
        user_errors,
    })
}

#[Object]
impl WorkflowMutation {
    /// Sets the status of one action (OPERATOR). Rules: `COMPLETED` is system-only, completed
    /// actions are locked (`STATUS_LOCKED`), DEVICE actions change only through
    /// `recordDeviceException` (`DEVICE_STATUS_MANAGED_EXTERNALLY`), a stale `expectedVersion`
    /// gives `CONFLICT`. Asking for the status the action has, with the `reviewBy` it has (none
    /// when it has none), passes the same rules and is then a no-op: `changed: false`, nothing
    /// written. The same status with another `reviewBy` (or none, when it has one) changes the
    /// review date: `changed: true`, with its `STATUS_CHANGED` event.
    async fn set_action_status(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "What to do: see `SetActionStatusInput`.")] input: SetActionStatusInput,
    ) -> Result<SetActionStatusPayload> {
        let viewer = viewer(ctx)?;
        let result = async {
            let change = workflow::StatusChange {
                action: action_ref(&input.action_id, &input.tenant_slug, &input.control_id)?,
                status: input.status.into(),
                comment: input.comment,
                review_by: input.review_by,
                expected_version: input.expected_version,
            };
            workflow::set_status(db(ctx), viewer, change, Utc::now()).await
        }
        .await;
        status_payload(ctx, result).await
    }

    /// Sets the status of many actions in one call (OPERATOR): all or nothing. When any item
    /// fails, nothing is written and `userErrors` names each failing item by its index. An item
    /// asking for what already holds is a no-op, not a failure (`items[i].changed: false`).
    async fn bulk_set_action_status(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "What to do: see `BulkSetActionStatusInput`.")] input: BulkSetActionStatusInput,
    ) -> Result<BulkSetActionStatusPayload> {
        let viewer = viewer(ctx)?;
        let mut changes = Vec::with_capacity(input.items.len());
        let mut user_errors = Vec::new();
        for (i, item) in input.items.into_iter().enumerate() {
            let slug = if item.control_id.is_some() {
                input.tenant_slug.clone()
            } else {
                None
            };
            match action_ref(&item.action_id, &slug, &item.control_id) {
                Ok(action) => changes.push(workflow::StatusChange {
                    action,
                    status: item.status.into(),
                    comment: item.comment,
                    review_by: item.review_by,
                    expected_version: item.expected_version,
                }),
                Err(e) => user_errors.push(item_error(i, e)?),
            }
        }
        if !user_errors.is_empty() {
            return Ok(BulkSetActionStatusPayload {
                actions: vec![],
                items: vec![],
                changed: false,
                score: None,
                tenants: vec![],
                user_errors,
            });
        }
        let outcome = workflow::bulk_set_status(db(ctx), viewer, changes, Utc::now()).await;
        let (outcome, user_errors) = split(outcome)?;
        match outcome {
            None => Ok(BulkSetActionStatusPayload {
                actions: vec![],
                items: vec![],
                changed: false,
                score: None,
                tenants: vec![],
                user_errors,
            }),
            Some(Err(errors)) => Ok(BulkSetActionStatusPayload {
                actions: vec![],
                items: vec![],
                changed: false,
                score: None,
                tenants: vec![],
                user_errors: errors
                    .into_iter()
                    .map(|e| item_error(e.index, e.error))
                    .collect::<Result<_>>()?,
            }),
            Some(Ok(applied)) => {
                let mut actions = Vec::new();
                let mut items = Vec::with_capacity(applied.len());
                let mut score = None;
                let mut states: std::collections::HashMap<i64, Arc<TenantState>> = Default::default();
                let mut tenants = Vec::new();
                for Applied { resolved: r, changed } in applied {
                    let state = match states.get(&r.tenant.id) {
                        Some(s) => s.clone(),
                        None => {
                            let s = fresh(ctx, r.tenant.clone()).await?;
                            states.insert(r.tenant.id, s.clone());
                            tenants.push(Tenant(s.tenant.clone()));
                            s
                        }
                    };
                    score = Some(SecureScore::new(state.clone()));
                    actions.extend(ImprovementAction::new(state.clone(), r.action.id));
                    items.push(BulkStatusItemResult {
                        action: ImprovementAction::new(state, r.action.id),
                        changed,
                    });
                }
                Ok(BulkSetActionStatusPayload {
                    actions,
                    changed: items.iter().any(|i| i.changed),
                    items,
                    score,
                    tenants,
                    user_errors,
                })
            }
        }
    }

    /// Undoes the caller's last manual status change of one action (OPERATOR): restores the
    /// status and `reviewBy` held before it, as a new `UNDONE` event whose `data.undoes` is the
    /// row id of the event undone (the key inside its `ActionEvent` id).
    ///
    /// Precisely: the action's status changes are its `STATUS_CHANGED`, `UNDONE`,
    /// `EXCEPTION_RECORDED` (those that changed the status), `COMPLETED`, `REGRESSED`, `EXPIRED`
    /// and `IMPORTED` events. Going back from the newest, an `UNDONE` event and the change it
    /// undid are skipped; the first change left is the one undone, so another undo walks further
    /// back through the caller's changes and an undo is never redone. That change is undone when
    /// it was made by hand (`STATUS_CHANGED`, or a `GLOBAL` device exception, which the undo also
    /// ends) by the caller, and the rules allow what it replaced back. Otherwise the answer is
    /// one `NOTHING_TO_UNDO` user error whose message says why — the last change was the
    /// system's (`COMPLETED`, `REGRESSED`, `EXPIRED`) or an import's, or another principal's;
    /// there is nothing (left) to undo; or the restore would break a rule (a `reviewBy` that has
    /// passed since, a status set by hand on a DEVICE action) — and nothing is written.
    async fn undo_action_status(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "What to do: see `UndoActionStatusInput`.")] input: UndoActionStatusInput,
    ) -> Result<SetActionStatusPayload> {
        let viewer = viewer(ctx)?;
        let result = async {
            let action = action_ref(&input.action_id, &input.tenant_slug, &input.control_id)?;
            workflow::undo_status(db(ctx), viewer, action, input.comment, Utc::now()).await
        }
        .await;
        status_payload(ctx, result).await
    }

    /// Records a vulnerability-management exception on a DEVICE action (OPERATOR). `GLOBAL`
    /// sets the matching status until `expiresAt`; `DEVICE_GROUP` is recorded and leaves the
    /// status `TO_ADDRESS`.
    async fn record_device_exception(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "What to do: see `RecordDeviceExceptionInput`.")] input: RecordDeviceExceptionInput,
    ) -> Result<RecordDeviceExceptionPayload> {
        let viewer = viewer(ctx)?;
        let result = async {
            let inp = workflow::DeviceExceptionInput {
                action: action_ref(&input.action_id, &input.tenant_slug, &input.control_id)?,
                scope: input.scope.into(),
                justification: input.justification.into(),
                comment: input.comment,
                expires_at: input.expires_at,
            };
            workflow::record_device_exception(db(ctx), viewer, inp, Utc::now()).await
        }
        .await;
        let (done, user_errors) = split(result)?;
        let Some((r, exception)) = done else {
            return Ok(RecordDeviceExceptionPayload {
                exception: None,
                action: None,
                score: None,
                tenant: None,
                user_errors,
            });
        };
        let (action, score, tenant) = action_and_score(ctx, r).await?;
        Ok(RecordDeviceExceptionPayload {
            exception: Some(DeviceException(exception)),
            action,
            score: Some(score),
            tenant: Some(tenant),
            user_errors,
        })
    }

    /// Records implementation progress (OPERATOR; scanners and sync jobs). Reaching `total`
    /// completes the action; falling back from complete regresses it (`REGRESSED` event).
    /// Sending the figures the action already has (and, when given, the `implementationStatus`
    /// and `usersAffected` it has) is a no-op: `changed: false`, no event.
    async fn record_implementation_progress(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "What to do: see `RecordImplementationProgressInput`.")]
        input: RecordImplementationProgressInput,
    ) -> Result<SetActionStatusPayload> {
        let viewer = viewer(ctx)?;
        let result = async {
            let inp = workflow::ProgressInput {
                action: action_ref(&input.action_id, &input.tenant_slug, &input.control_id)?,
                implemented: input.implemented,
                total: input.total,
                implementation_status: input.implementation_status,
                users_affected: input.users_affected,
            };
            workflow::record_progress(db(ctx), viewer, inp, Utc::now()).await
        }
        .await;
        status_payload(ctx, result).await
    }

    /// Adds a note to an action (OPERATOR).
    async fn add_action_note(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "What to do: see `AddActionNoteInput`.")] input: AddActionNoteInput,
    ) -> Result<ActionNotePayload> {
        let viewer = viewer(ctx)?;
        let result = async {
            let action = action_ref(&input.action_id, &input.tenant_slug, &input.control_id)?;
            notes::add(db(ctx), viewer, action, &input.body, Utc::now()).await
        }
        .await;
        note_payload(ctx, result).await
    }

    /// Edits a note (its author, or an ADMIN).
    async fn update_action_note(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "What to do: see `UpdateActionNoteInput`.")] input: UpdateActionNoteInput,
    ) -> Result<ActionNotePayload> {
        let viewer = viewer(ctx)?;
        let result = async {
            let id = global_id(&input.id, "Note", "note")?;
            notes::update(db(ctx), viewer, id, &input.body, Utc::now()).await
        }
        .await;
        note_payload(ctx, result).await
    }

    /// Deletes a note (its author, or an ADMIN); returns the deleted note.
    async fn delete_action_note(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "What to do: see `DeleteActionNoteInput`.")] input: DeleteActionNoteInput,
    ) -> Result<ActionNotePayload> {
        let viewer = viewer(ctx)?;
        let result = async {
            let id = global_id(&input.id, "Note", "note")?;
            notes::delete(db(ctx), viewer, id, Utc::now()).await
        }
        .await;
        note_payload(ctx, result).await
    }

    /// Creates a tenant-scoped tag (OPERATOR).
    async fn create_tag(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "What to do: see `CreateTagInput`.")] input: CreateTagInput,
    ) -> Result<TagPayload> {
        let viewer = viewer(ctx)?;
        let result = tags::create(
            db(ctx),
            viewer,
            &input.tenant_slug,
            &input.name,
            input.color.as_deref(),
            Utc::now(),
        )
        .await;
        let (tag, user_errors) = split(result)?;
        Ok(TagPayload {
            tag: tag.map(Tag),
            user_errors,
        })
    }

    /// Renames and/or recolours a tag (OPERATOR).
    async fn update_tag(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "What to do: see `UpdateTagInput`.")] input: UpdateTagInput,
    ) -> Result<TagPayload> {
        let viewer = viewer(ctx)?;
        let result = async {
            let id = global_id(&input.id, "Tag", "tag")?;
            tags::update(
                db(ctx),
                viewer,
                id,
                input.name.as_deref(),
                input.color.as_deref(),
                Utc::now(),
            )
            .await
        }
        .await;
        let (tag, user_errors) = split(result)?;
        Ok(TagPayload {
            tag: tag.map(Tag),
            user_errors,
        })
    }

    /// Deletes a tag and detaches it from every action (OPERATOR); returns the deleted tag.
    async fn delete_tag(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "What to do: see `DeleteTagInput`.")] input: DeleteTagInput,
    ) -> Result<TagPayload> {
        let viewer = viewer(ctx)?;
        let result = async {
            let id = global_id(&input.id, "Tag", "tag")?;
            tags::delete(db(ctx), viewer, id, Utc::now()).await
        }
        .await;
        let (tag, user_errors) = split(result)?;
        Ok(TagPayload {
            tag: tag.map(Tag),
            user_errors,
        })
    }

    /// Attaches tags to actions, all or nothing (OPERATOR; at most 50 tags per action). Tags
    /// already attached stay as they are, without an event (`changed: false` when all were).
    async fn add_action_tags(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "What to do: see `ActionTagsInput`.")] input: ActionTagsInput,
    ) -> Result<ActionTagsPayload> {
        action_tags(ctx, input, true).await
    }

    /// Detaches tags from actions, all or nothing (OPERATOR). Tags not attached are skipped,
    /// without an event (`changed: false` when none was).
    async fn remove_action_tags(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "What to do: see `ActionTagsInput`.")] input: ActionTagsInput,
    ) -> Result<ActionTagsPayload> {
        action_tags(ctx, input, false).await
    }

    /// Creates a share link to one action (OPERATOR). The token is shown only in this payload.
    async fn create_share_link(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "What to do: see `CreateShareLinkInput`.")] input: CreateShareLinkInput,
    ) -> Result<CreateShareLinkPayload> {
        let viewer = viewer(ctx)?;
        let base = config(ctx).public_base_url();
        let result = async {
            let action = action_ref(&input.action_id, &input.tenant_slug, &input.control_id)?;
            let platform: d::SharePlatform = input.platform.into();
            share::create(
                db(ctx),
                viewer,
                action,
                platform,
                input.expires_in_days,
                &base,
                Utc::now(),
            )
            .await
        }
        .await;
        let (created, user_errors) = split(result)?;
        let Some(c) = created else {
            return Ok(CreateShareLinkPayload {
                share_link: None,
                token: None,
                url: None,
                mailto_url: None,
                teams_url: None,
                planner_task: None,
                user_errors,
            });
        };
        let planner_task = match (c.planner_title, c.planner_description) {
            (Some(title), Some(description)) => Some(PlannerTask { title, description }),
            _ => None,
        };
        Ok(CreateShareLinkPayload {
            share_link: Some(ShareLink(LinkInfo {
                link: c.link,
                creator: Some(viewer.name.clone()),
            })),
            token: Some(c.token),
            url: Some(c.url),
            mailto_url: c.mailto_url,
            teams_url: c.teams_url,
            planner_task,
            user_errors,
        })
    }

    /// Revokes a share link (OPERATOR); the token then answers like an unknown one.
    async fn revoke_share_link(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "What to do: see `RevokeShareLinkInput`.")] input: RevokeShareLinkInput,
    ) -> Result<RevokeShareLinkPayload> {
        let viewer = viewer(ctx)?;
        let result = async {
            let id = global_id(&input.id, "ShareLink", "share link")?;
            share::revoke(db(ctx), viewer, id, Utc::now()).await
        }
        .await;
        let (link, user_errors) = split(result)?;
        Ok(RevokeShareLinkPayload {
            share_link: link.map(|link| ShareLink(LinkInfo { link, creator: None })),
            user_errors,
        })
    }
}

/// The user error of one failing item; errors that are never user errors (authorisation,
/// internal) stay top-level.
fn item_error(index: usize, e: AppError) -> Result<UserError> {
    let Some(code) = UserErrorCode::of(&e) else {
        return Err(e.into());
    };
    let mut field = vec!["input".to_string(), "items".to_string(), index.to_string()];
    if let AppError::BadUserInput { field: f, .. } = &e {
        field.extend(f.iter().cloned());
    }
    Ok(UserError {
        field,
        message: e.message(),
        code,
    })
}

async fn action_tags(ctx: &Context<'_>, input: ActionTagsInput, attach: bool) -> Result<ActionTagsPayload> {
    let viewer = viewer(ctx)?;
    let result = async {
        let mut refs = Vec::new();
        for id in input.action_ids.iter().flatten() {
            refs.push(action_ref(&Some(id.clone()), &None, &None)?);
        }
        for control in input.control_ids.iter().flatten() {
            refs.push(action_ref(&None, &input.tenant_slug, &Some(control.clone()))?);
        }
        let mut tag_ids = Vec::new();
        for id in &input.tag_ids {
            tag_ids.push(global_id(id, "Tag", "tag")?);
        }
        tags::set_on_actions(db(ctx), viewer, refs, tag_ids, attach, Utc::now()).await
    }
    .await;
    let (outcome, user_errors) = split(result)?;
    let mut actions = Vec::new();
    let changed = outcome.as_ref().is_some_and(|(_, changed)| *changed);
    if let Some((resolved, _)) = outcome
        && let Some(first) = resolved.first()
    {
        let state = fresh(ctx, first.tenant.clone()).await?;
        actions.extend(
            resolved
                .iter()
                .filter_map(|r| ImprovementAction::new(state.clone(), r.action.id)),
        );
    }
    Ok(ActionTagsPayload {
        actions,
        changed,
        user_errors,
    })
}
