//! Import of Microsoft Graph Secure Score exports (SPEC §9): the body of
//! `GET /security/secureScores` (daily records) and the pages of
//! `GET /security/secureScoreControlProfiles`.
//!
//! Two halves. [`parse`] turns the JSON documents into typed records without touching the
//! database; it is lenient about what real payloads do (numbers as strings, PascalCase seat-size
//! keys, unknown keys, enum spellings) and strict about shape, refusing with a `BAD_USER_INPUT`
//! that names the field. [`import`] then writes everything in one write transaction through the
//! workflow's version-guarded write path, so every change to an action has its event, and it
//! compares before writing, so importing the same documents twice changes nothing.
//!
//! What the vendor reported is kept as reported (snapshot `vendor_current_score` /
//! `vendor_max_score`); where it disagrees with our recomputation, or data is missing, the report
//! says so rather than hiding it.

use crate::auth::Viewer;
use crate::domain::enums::{ActionType, Category, EventKind, Level, Role, Status, Tier};
use crate::domain::round2;
use crate::domain::rules::status_after_progress;
use crate::domain::scoring::{from_storage, to_storage};
use crate::error::{AppError, AppResult};
use crate::service::events::{self, Actor, NewEvent};
use crate::service::state::{self, TenantState};
use crate::service::workflow::{self, ProgressInput, Resolved};
use crate::service::{access, tenants};
use chrono::{DateTime, NaiveDate, Utc};
use entity::types::{StatusCounts, StringList};
use entity::{action_event, control, improvement_action, note, score_snapshot, tenant, vendor_benchmark};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, Set,
};
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::str::FromStr;

/// Snapshot `source` of a day written by an import (the snapshot job leaves these alone).
pub const SOURCE_IMPORTED: &str = "IMPORTED";
/// Audit action of an import that changed something.
const AUDIT_IMPORTED: &str = "GRAPH_IMPORTED";

/// The documents of one import, as received.
#[derive(Clone, Debug)]
pub struct ImportDocuments {
    /// Body of `GET /security/secureScores` (`{ "value": [...] }`), a single record, or an array.
    pub secure_scores: Value,
    /// Pages of `GET /security/secureScoreControlProfiles` (each `{ "value": [...] }`), or
    /// profiles themselves.
    pub control_profiles: Vec<Value>,
}

/// Who runs an import: an API caller (needs ADMIN on the tenant) or the system (CLI, scheduled
/// sync), which the operator of the server authorised by running it.
#[derive(Clone, Copy, Debug)]
pub enum Importer<'a> {
    Viewer(&'a Viewer),
    System,
}

impl Importer<'_> {
    fn actor(&self) -> Actor {
        match self {
            Importer::Viewer(v) => Actor::of(v),
            Importer::System => Actor::System,
        }
    }
    fn principal_id(&self) -> Option<i64> {
        match self {
            Importer::Viewer(v) => Some(v.principal_id),
            Importer::System => None,
        }
    }
}

/// A control present in the scores but missing from the profiles.
#[derive(Clone, Debug, PartialEq)]
pub struct ImportGap {
    pub control_id: String,
    /// What was done about it.
    pub message: String,
    /// Max points used for it (derived or from the existing catalog), when known.
    pub max_points: Option<Decimal>,
    pub category: Option<Category>,
}

/// One day on which the vendor's totals differ from ours.
#[derive(Clone, Debug, PartialEq)]
pub struct ScoreDiscrepancy {
    pub day: NaiveDate,
    pub vendor_current_score: Decimal,
    pub vendor_max_score: Decimal,
    pub recomputed_current: Decimal,
    pub recomputed_max: Decimal,
    /// Σ of the day's `controlScores[].score` as reported.
    pub control_scores_sum: Decimal,
}

/// What an import did (or, in a dry run, would do).
#[derive(Clone, Debug, Default)]
pub struct ImportReport {
    pub tenant: Option<tenant::Model>,
    pub dry_run: bool,
    pub records: usize,
    pub profiles: usize,
    pub controls_created: usize,
    pub controls_updated: usize,
    pub actions_created: usize,
    pub actions_updated: usize,
    pub notes_added: usize,
    pub snapshots_written: usize,
    pub benchmarks_written: usize,
    pub events_written: usize,
    pub tenant_updated: bool,
    pub gaps: Vec<ImportGap>,
    pub discrepancies: Vec<ScoreDiscrepancy>,
    pub warnings: Vec<String>,
}

impl ImportReport {
    /// Whether anything was (or would be) written.
    pub fn changed(&self) -> bool {
        self.controls_created
            + self.controls_updated
            + self.actions_created
            + self.actions_updated
            + self.notes_added
            + self.snapshots_written
            + self.benchmarks_written
            + self.events_written
            > 0
            || self.tenant_updated
    }
}

// ---------------------------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------------------------

/// One daily `secureScore` record.
#[derive(Clone, Debug, PartialEq)]
pub struct ScoreRecord {
    /// Index in the document, for error messages.
    pub index: usize,
    pub day: NaiveDate,
    pub created: DateTime<Utc>,
    pub azure_tenant_id: Option<String>,
    pub current_score: Decimal,
    pub max_score: Decimal,
    pub licensed_user_count: Option<i64>,
    pub active_user_count: Option<i64>,
    pub enabled_services: Vec<String>,
    pub benchmarks: Vec<Benchmark>,
    pub controls: Vec<ControlScore>,
}

/// One `averageComparativeScores` entry.
#[derive(Clone, Debug, PartialEq)]
pub struct Benchmark {
    /// `AllTenants`, `TotalSeats`, `IndustryTypes` (as reported).
    pub basis: String,
    /// The cohort within the basis: seat range `6-99`, industry `engineering,technology`, or
    /// empty for all tenants.
    pub basis_value: String,
    pub average_score: Decimal,
    /// Per-category averages and any other numeric figures, keyed as reported.
    pub figures: BTreeMap<String, Decimal>,
}

/// One `controlScores` entry.
#[derive(Clone, Debug, PartialEq)]
pub struct ControlScore {
    pub control_id: String,
    pub category: Option<String>,
    pub description: Option<String>,
    pub score: Option<Decimal>,
    pub score_in_percentage: Option<Decimal>,
    pub count: Option<i64>,
    pub total: Option<i64>,
    pub on: Option<bool>,
    pub implementation_status: Option<String>,
}

/// One `secureScoreControlProfile`.
#[derive(Clone, Debug, PartialEq)]
pub struct Profile {
    pub id: String,
    pub path: String,
    pub azure_tenant_id: Option<String>,
    pub title: Option<String>,
    pub action_type: Option<String>,
    pub action_url: Option<String>,
    pub category: Option<String>,
    pub deprecated: Option<bool>,
    pub implementation_cost: Option<String>,
    pub max_score: Option<Decimal>,
    pub rank: Option<i32>,
    pub remediation: Option<String>,
    pub remediation_impact: Option<String>,
    pub service: Option<String>,
    pub threats: Option<Vec<String>>,
    pub tier: Option<String>,
    pub user_impact: Option<String>,
    pub state: Option<StateUpdate>,
}

/// The latest `controlStateUpdates` entry of a profile.
#[derive(Clone, Debug, PartialEq)]
pub struct StateUpdate {
    pub state: String,
    pub comment: Option<String>,
    pub updated_by: Option<String>,
    pub updated_at: Option<DateTime<Utc>>,
}

/// Both documents, parsed.
#[derive(Clone, Debug, PartialEq)]
pub struct Parsed {
    /// Oldest day first; one record per day (the last one of a day wins).
    pub records: Vec<ScoreRecord>,
    pub profiles: Vec<Profile>,
}

fn bad(path: &str, message: impl Into<String>) -> AppError {
    AppError::bad_input(path, message)
}

/// A number that may arrive as a JSON number or a numeric string; `null`, `""` are absent.
fn decimal(v: Option<&Value>, path: &str) -> AppResult<Option<Decimal>> {
    let text = match v {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::String(s)) if s.trim().is_empty() => return Ok(None),
        Some(Value::String(s)) => s.trim().to_string(),
        Some(_) => return Err(bad(path, format!("{path} must be a number"))),
    };
    Decimal::from_str(&text)
        .or_else(|_| Decimal::from_scientific(&text))
        .map(Some)
        .map_err(|_| bad(path, format!("{path} must be a number (got {text:?})")))
}

fn integer(v: Option<&Value>, path: &str) -> AppResult<Option<i64>> {
    Ok(decimal(v, path)?.and_then(|d| d.round().to_i64()))
}

fn string(v: Option<&Value>, path: &str) -> AppResult<Option<String>> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(Value::Bool(b)) => Ok(Some(b.to_string())),
        Some(_) => Err(bad(path, format!("{path} must be a string"))),
    }
}

fn boolean(v: Option<&Value>, path: &str) -> AppResult<Option<bool>> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(Value::String(s)) => match s.trim().to_ascii_lowercase().as_str() {
            "" => Ok(None),
            "true" | "yes" | "on" | "1" => Ok(Some(true)),
            "false" | "no" | "off" | "0" => Ok(Some(false)),
            _ => Err(bad(path, format!("{path} must be true or false (got {s:?})"))),
        },
        Some(Value::Number(n)) => Ok(Some(n.as_f64().is_some_and(|f| f != 0.0))),
        Some(_) => Err(bad(path, format!("{path} must be true or false"))),
    }
}

fn strings(v: Option<&Value>, path: &str) -> AppResult<Option<Vec<String>>> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .filter(|(_, item)| !item.is_null())
            .map(|(i, item)| string(Some(item), &format!("{path}.{i}")).map(|s| s.unwrap_or_default()))
            .collect::<AppResult<Vec<_>>>()
            .map(Some),
        Some(_) => Err(bad(path, format!("{path} must be a list of strings"))),
    }
}

fn time(v: Option<&Value>, path: &str) -> AppResult<Option<DateTime<Utc>>> {
    match string(v, path)? {
        None => Ok(None),
        Some(s) if s.trim().is_empty() => Ok(None),
        Some(s) => DateTime::parse_from_rfc3339(s.trim())
            .map(|t| Some(t.with_timezone(&Utc)))
            .map_err(|_| bad(path, format!("{path} must be an ISO 8601 date-time (got {s:?})"))),
    }
}

fn object<'v>(v: &'v Value, path: &str) -> AppResult<&'v Map<String, Value>> {
    v.as_object()
        .ok_or_else(|| bad(path, format!("{path} must be a JSON object")))
}

/// A key in either spelling real payloads use (`seatSizeRangeLowerValue` and
/// `SeatSizeRangeLowerValue`): exact first, then case-insensitively.
fn get<'v>(o: &'v Map<String, Value>, key: &str) -> Option<&'v Value> {
    o.get(key).or_else(|| {
        o.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

/// The items of a Graph collection body (`{ "value": [...] }`), an array, or a single item
/// (recognised by `single_key`).
fn items<'v>(doc: &'v Value, path: &str, single_key: &str) -> AppResult<Vec<(String, &'v Value)>> {
    match doc {
        Value::Array(list) => Ok(list
            .iter()
            .enumerate()
            .map(|(i, v)| (format!("{path}.{i}"), v))
            .collect()),
        Value::Object(o) => match get(o, "value") {
            Some(Value::Array(list)) => Ok(list
                .iter()
                .enumerate()
                .map(|(i, v)| (format!("{path}.value.{i}"), v))
                .collect()),
            Some(_) => Err(bad(path, format!("{path}.value must be a list"))),
            None if get(o, single_key).is_some() => Ok(vec![(path.to_string(), doc)]),
            None => Err(bad(
                path,
                format!("{path} must be a Graph collection ({{\"value\": [...]}}) or a single record"),
            )),
        },
        _ => Err(bad(path, format!("{path} must be a JSON object or list"))),
    }
}

fn parse_benchmark(v: &Value, path: &str) -> AppResult<Option<Benchmark>> {
    let o = object(v, path)?;
    let Some(basis) = string(get(o, "basis"), &format!("{path}.basis"))? else {
        return Ok(None);
    };
    let Some(average_score) = decimal(get(o, "averageScore"), &format!("{path}.averageScore"))? else {
        return Ok(None);
    };
    let lower = string(
        get(o, "seatSizeRangeLowerValue"),
        &format!("{path}.seatSizeRangeLowerValue"),
    )?;
    let upper = string(
        get(o, "seatSizeRangeUpperValue"),
        &format!("{path}.seatSizeRangeUpperValue"),
    )?;
    let category_value = string(get(o, "categoryValue"), &format!("{path}.categoryValue"))?;
    let basis_value = match (lower, upper, category_value) {
        (Some(l), Some(u), _) => format!("{}-{}", l.trim(), u.trim()),
        (Some(l), None, _) => format!("{}+", l.trim()),
        (None, _, Some(c)) => c.trim().to_string(),
        _ => String::new(),
    };
    let mut figures = BTreeMap::new();
    for (k, value) in o {
        let lower = k.to_ascii_lowercase();
        if lower == "averagescore" || !lower.contains("score") {
            continue;
        }
        // Unknown keys are ignored; a non-numeric figure is not worth refusing the import for.
        if let Ok(Some(d)) = decimal(Some(value), k) {
            let mut key = k.clone();
            // One spelling per key in storage: camelCase like the documented ones.
            if let Some(first) = key.get(..1) {
                key.replace_range(..1, &first.to_ascii_lowercase());
            }
            figures.insert(key, d);
        }
    }
    Ok(Some(Benchmark {
        basis: basis.trim().to_string(),
        basis_value,
        average_score,
        figures,
    }))
}

fn parse_control_score(v: &Value, path: &str) -> AppResult<ControlScore> {
    let o = object(v, path)?;
    let p = |k: &str| format!("{path}.{k}");
    let control_id = string(get(o, "controlName"), &p("controlName"))?
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| bad(&p("controlName"), format!("{} is required", p("controlName"))))?;
    Ok(ControlScore {
        control_id,
        category: string(get(o, "controlCategory"), &p("controlCategory"))?,
        description: string(get(o, "description"), &p("description"))?,
        score: decimal(get(o, "score"), &p("score"))?,
        score_in_percentage: decimal(get(o, "scoreInPercentage"), &p("scoreInPercentage"))?,
        count: integer(get(o, "count"), &p("count"))?,
        total: integer(get(o, "total"), &p("total"))?,
        on: boolean(get(o, "on"), &p("on"))?,
        implementation_status: string(get(o, "implementationStatus"), &p("implementationStatus"))?,
    })
}

fn parse_record(index: usize, v: &Value, path: &str) -> AppResult<ScoreRecord> {
    let o = object(v, path)?;
    let p = |k: &str| format!("{path}.{k}");
    let created = time(get(o, "createdDateTime"), &p("createdDateTime"))?.ok_or_else(|| {
        bad(
            &p("createdDateTime"),
            format!("{} is required", p("createdDateTime")),
        )
    })?;
    let required = |k: &str| -> AppResult<Decimal> {
        decimal(get(o, k), &p(k))?.ok_or_else(|| bad(&p(k), format!("{} is required", p(k))))
    };
    let current_score = required("currentScore")?;
    let max_score = required("maxScore")?;
    let mut benchmarks = Vec::new();
    match get(o, "averageComparativeScores") {
        None | Some(Value::Null) => {}
        Some(Value::Array(list)) => {
            for (i, b) in list.iter().enumerate() {
                if let Some(b) = parse_benchmark(b, &format!("{}.{i}", p("averageComparativeScores")))? {
                    benchmarks.push(b);
                }
            }
        }
        Some(_) => {
            return Err(bad(
                &p("averageComparativeScores"),
                format!("{} must be a list", p("averageComparativeScores")),
            ));
        }
    }
    let mut controls: Vec<ControlScore> = Vec::new();
    match get(o, "controlScores") {
        None | Some(Value::Null) => {}
        Some(Value::Array(list)) => {
            for (i, c) in list.iter().enumerate() {
                let c = parse_control_score(c, &format!("{}.{i}", p("controlScores")))?;
                // A control listed twice: the later entry wins, as it would in a re-read.
                controls.retain(|x| x.control_id != c.control_id);
                controls.push(c);
            }
        }
        Some(_) => {
            return Err(bad(
                &p("controlScores"),
                format!("{} must be a list", p("controlScores")),
            ));
        }
    }
    Ok(ScoreRecord {
        index,
        day: created.date_naive(),
        created,
        azure_tenant_id: string(get(o, "azureTenantId"), &p("azureTenantId"))?
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty()),
        current_score,
        max_score,
        licensed_user_count: integer(get(o, "licensedUserCount"), &p("licensedUserCount"))?,
        active_user_count: integer(get(o, "activeUserCount"), &p("activeUserCount"))?,
        enabled_services: strings(get(o, "enabledServices"), &p("enabledServices"))?.unwrap_or_default(),
        benchmarks,
        controls,
    })
}

fn parse_profile(v: &Value, path: &str) -> AppResult<Profile> {
    let o = object(v, path)?;
    let p = |k: &str| format!("{path}.{k}");
    let id = string(get(o, "id"), &p("id"))?
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty() && s.len() <= 200)
        .ok_or_else(|| bad(&p("id"), format!("{} is required (1 to 200 characters)", p("id"))))?;
    let mut state = None;
    match get(o, "controlStateUpdates") {
        None | Some(Value::Null) => {}
        Some(Value::Array(list)) => {
            let mut latest: Option<StateUpdate> = None;
            for (i, u) in list.iter().enumerate() {
                let up = format!("{}.{i}", p("controlStateUpdates"));
                let uo = object(u, &up)?;
                let Some(s) = string(get(uo, "state"), &format!("{up}.state"))? else {
                    continue;
                };
                let update = StateUpdate {
                    state: s,
                    comment: string(get(uo, "comment"), &format!("{up}.comment"))?
                        .filter(|c| !c.trim().is_empty()),
                    updated_by: string(get(uo, "updatedBy"), &format!("{up}.updatedBy"))?
                        .filter(|c| !c.trim().is_empty()),
                    updated_at: time(get(uo, "updatedDateTime"), &format!("{up}.updatedDateTime"))?,
                };
                // The latest by updatedDateTime; entries without a time count as oldest, and
                // among equals the later entry in the list wins.
                if latest.as_ref().is_none_or(|l| update.updated_at >= l.updated_at) {
                    latest = Some(update);
                }
            }
            state = latest;
        }
        Some(_) => {
            return Err(bad(
                &p("controlStateUpdates"),
                format!("{} must be a list", p("controlStateUpdates")),
            ));
        }
    }
    Ok(Profile {
        id,
        path: path.to_string(),
        azure_tenant_id: string(get(o, "azureTenantId"), &p("azureTenantId"))?
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty()),
        title: string(get(o, "title"), &p("title"))?,
        action_type: string(get(o, "actionType"), &p("actionType"))?,
        action_url: string(get(o, "actionUrl"), &p("actionUrl"))?.filter(|s| !s.trim().is_empty()),
        category: string(get(o, "controlCategory"), &p("controlCategory"))?,
        deprecated: boolean(get(o, "deprecated"), &p("deprecated"))?,
        implementation_cost: string(get(o, "implementationCost"), &p("implementationCost"))?,
        max_score: decimal(get(o, "maxScore"), &p("maxScore"))?,
        rank: integer(get(o, "rank"), &p("rank"))?.and_then(|r| i32::try_from(r).ok()),
        remediation: string(get(o, "remediation"), &p("remediation"))?,
        remediation_impact: string(get(o, "remediationImpact"), &p("remediationImpact"))?,
        service: string(get(o, "service"), &p("service"))?.filter(|s| !s.trim().is_empty()),
        threats: strings(get(o, "threats"), &p("threats"))?,
        tier: string(get(o, "tier"), &p("tier"))?,
        user_impact: string(get(o, "userImpact"), &p("userImpact"))?,
        state,
    })
}

/// Counts the bytes a JSON value serialises to, without building the text.
fn json_len(v: &Value) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut c = Count(0);
    // Writing a `Value` into a counter cannot fail.
    let _ = serde_json::to_writer(&mut c, v);
    c.0
}

/// Refuses documents larger than `max_bytes` (the HTTP body limit may be configured higher, and
/// the CLI has none).
pub fn check_size(docs: &ImportDocuments, max_bytes: usize) -> AppResult<()> {
    let scores = json_len(&docs.secure_scores);
    if scores > max_bytes {
        return Err(bad(
            "secureScores",
            format!("secureScores is {scores} bytes; at most {max_bytes} are accepted (IMPORT_MAX_BYTES)"),
        ));
    }
    let profiles: usize = docs.control_profiles.iter().map(json_len).sum();
    if scores + profiles > max_bytes {
        return Err(bad(
            "controlProfiles",
            format!(
                "the documents are {} bytes together; at most {max_bytes} are accepted (IMPORT_MAX_BYTES)",
                scores + profiles
            ),
        ));
    }
    Ok(())
}

/// Parses a document read from a file or a request body as JSON, naming the field on failure.
pub fn parse_json(text: &[u8], field: &str) -> AppResult<Value> {
    serde_json::from_slice(text).map_err(|e| bad(field, format!("{field} is not valid JSON: {e}")))
}

/// Parses both documents (pure).
pub fn parse(docs: &ImportDocuments) -> AppResult<Parsed> {
    let mut by_day: BTreeMap<NaiveDate, ScoreRecord> = BTreeMap::new();
    for (index, (path, v)) in items(&docs.secure_scores, "secureScores", "createdDateTime")?
        .into_iter()
        .enumerate()
    {
        let r = parse_record(index, v, &path)?;
        match by_day.get(&r.day) {
            Some(old) if old.created > r.created => {}
            _ => {
                by_day.insert(r.day, r);
            }
        }
    }
    if by_day.is_empty() {
        return Err(bad("secureScores", "secureScores holds no daily records"));
    }
    let mut profiles: Vec<Profile> = Vec::new();
    for (page, doc) in docs.control_profiles.iter().enumerate() {
        let base = if docs.control_profiles.len() == 1 {
            "controlProfiles".to_string()
        } else {
            format!("controlProfiles.{page}")
        };
        for (path, v) in items(doc, &base, "id")? {
            let p = parse_profile(v, &path)?;
            profiles.retain(|x| x.id != p.id);
            profiles.push(p);
        }
    }
    Ok(Parsed {
        records: by_day.into_values().collect(),
        profiles,
    })
}

/// Maps Graph's `enabledServices` flags (`HasExchange`) to the service codes controls use;
/// unknown flags are kept as given so nothing reported is lost.
pub fn service_code(flag: &str) -> String {
    let f = flag.trim();
    let key = f.strip_prefix("Has").unwrap_or(f).to_ascii_lowercase();
    let code = match key.as_str() {
        "exchange" | "exo" => "EXO",
        "sharepoint" | "spo" | "od4b" | "onedrive" => "SPO",
        "intune" => "Intune",
        "azuread" | "aad" | "entra" => "AzureAD",
        "teams" | "msteams" => "MS Teams",
        "mcas" | "cas" | "cloudappsecurity" => "MCAS",
        "atp" | "oatp" | "mdo" => "MDO",
        "aatp" | "azureatp" | "mdi" => "Azure ATP",
        "mdatp" | "wdatp" | "mde" => "MDATP",
        "aip" | "mip" | "informationprotection" => "MIP",
        "forms" => "FORMS",
        _ => return f.to_string(),
    };
    code.to_string()
}

/// The (implemented, total) a control score stands for: `count`/`total` when present, otherwise
/// `scoreInPercentage` as a percentage of 100, otherwise the `on` flag as 1 of 1.
pub fn progress_of(c: &ControlScore, max: Option<Decimal>) -> Option<(i64, i64)> {
    if let (Some(count), Some(total)) = (c.count, c.total)
        && total > 0
    {
        return Some((count.clamp(0, total), total));
    }
    let pct = c.score_in_percentage.or_else(|| match (c.score, max) {
        (Some(s), Some(m)) if m > Decimal::ZERO => Some(s / m * Decimal::ONE_HUNDRED),
        _ => None,
    });
    if let Some(pct) = pct {
        let implemented = pct
            .round_dp_with_strategy(0, rust_decimal::RoundingStrategy::MidpointAwayFromZero)
            .to_i64()
            .unwrap_or(0)
            .clamp(0, 100);
        return Some((implemented, 100));
    }
    c.on.map(|on| (i64::from(on), 1))
}

/// The max points a control score implies: `score / scoreInPercentage × 100`.
pub fn derived_max(c: &ControlScore) -> Option<Decimal> {
    match (c.score, c.score_in_percentage) {
        (Some(s), Some(p)) if p > Decimal::ZERO && s >= Decimal::ZERO => {
            Some((s / p * Decimal::ONE_HUNDRED).round_dp(4))
        }
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------------------------

/// Kinds of event that record a change of status made in this service (not by an import).
const LOCAL_STATUS_EVENTS: [EventKind; 4] = [
    EventKind::StatusChanged,
    EventKind::Undone,
    EventKind::ExceptionRecorded,
    EventKind::Expired,
];

/// Imports the documents into a tenant. Everything happens in one write transaction; a dry run
/// rolls it back and reports what would have changed.
pub async fn import(
    db: &DatabaseConnection,
    importer: Importer<'_>,
    tenant_slug: &str,
    docs: &ImportDocuments,
    max_bytes: usize,
    dry_run: bool,
    now: DateTime<Utc>,
) -> AppResult<ImportReport> {
    // Authorise before looking at the documents, so nobody learns anything from parse errors of
    // a tenant they cannot import into.
    if let Importer::Viewer(v) = importer {
        let t = tenants::by_slug(db, v, tenant_slug).await?;
        v.require(t.id, Role::Admin)?;
    }
    check_size(docs, max_bytes)?;
    let parsed = parse(docs)?;
    let txn = crate::db::begin_write(db).await?;
    let tenant = tenant::Entity::find()
        .filter(tenant::Column::Slug.eq(tenant_slug))
        .one(&txn)
        .await?
        .ok_or(AppError::NotFound("tenant"))?;
    let mut report = ImportReport {
        dry_run,
        records: parsed.records.len(),
        profiles: parsed.profiles.len(),
        ..Default::default()
    };
    let actor = importer.actor();
    let azure_id = check_azure_tenant(&txn, &tenant, &parsed).await?;

    let changed_controls = upsert_profiles(&txn, &parsed.profiles, &mut report, now).await?;
    let newest = parsed
        .records
        .last()
        .ok_or_else(|| bad("secureScores", "secureScores holds no daily records"))?;
    let mut changed_controls_all = changed_controls;
    changed_controls_all.extend(derive_missing(&txn, &parsed, newest, &mut report, now).await?);

    let tenant = update_tenant(&txn, tenant, newest, azure_id, &mut report).await?;
    ensure_actions(&txn, &actor, &tenant, newest, &mut report, now).await?;
    apply_progress(&txn, &actor, &tenant, newest, &mut report, now).await?;
    apply_states(
        &txn,
        &actor,
        &importer,
        &tenant,
        &parsed.profiles,
        &mut report,
        now,
    )
    .await?;

    let live = state::load(&txn, tenant.clone(), now).await?;
    write_snapshots(&txn, &live, &parsed.records, &mut report, now).await?;
    write_benchmarks(&txn, tenant.id, &parsed.records, &mut report, now).await?;

    if report.changed() {
        tenants::touch(&txn, tenant.id, now).await?;
        touch_other_tenants(&txn, tenant.id, &changed_controls_all, now).await?;
        access::audit(
            &txn,
            Some(tenant.id),
            importer.principal_id(),
            AUDIT_IMPORTED,
            format!("Tenant:{}", tenant.slug),
            json!({
                "records": report.records,
                "profiles": report.profiles,
                "controlsCreated": report.controls_created,
                "controlsUpdated": report.controls_updated,
                "actionsCreated": report.actions_created,
                "actionsUpdated": report.actions_updated,
                "notesAdded": report.notes_added,
                "snapshotsWritten": report.snapshots_written,
                "benchmarksWritten": report.benchmarks_written,
                "gaps": report.gaps.len(),
                "discrepancies": report.discrepancies.len(),
            }),
            now,
        )
        .await?;
    }
    let tenant = tenant::Entity::find_by_id(tenant.id)
        .one(&txn)
        .await?
        .ok_or(AppError::NotFound("tenant"))?;
    report.tenant = Some(tenant);
    if dry_run {
        txn.rollback().await?;
    } else {
        txn.commit().await?;
    }
    Ok(report)
}

/// The Azure tenant id the documents belong to. All records and profiles must agree, it must
/// match the tenant's when that is set, and no other tenant may hold it.
async fn check_azure_tenant<C: ConnectionTrait>(
    conn: &C,
    tenant: &tenant::Model,
    parsed: &Parsed,
) -> AppResult<Option<String>> {
    let mut seen: Option<(String, String)> = None;
    let ids = parsed
        .records
        .iter()
        .filter_map(|r| {
            r.azure_tenant_id
                .clone()
                .map(|id| (id, format!("secureScores.value.{}.azureTenantId", r.index)))
        })
        .chain(parsed.profiles.iter().filter_map(|p| {
            p.azure_tenant_id
                .clone()
                .map(|id| (id, format!("{}.azureTenantId", p.path)))
        }));
    for (id, path) in ids {
        if let Some(expected) = &tenant.azure_tenant_id
            && !expected.eq_ignore_ascii_case(&id)
        {
            return Err(bad(
                &path,
                format!(
                    "{path} is {id}, but tenant {} is linked to Azure tenant {expected}; refusing data of another tenant",
                    tenant.slug
                ),
            ));
        }
        match &seen {
            Some((first, first_path)) if !first.eq_ignore_ascii_case(&id) => {
                return Err(bad(
                    &path,
                    format!("{path} is {id}, but {first_path} is {first}: the documents mix tenants"),
                ));
            }
            Some(_) => {}
            None => seen = Some((id, path)),
        }
    }
    let Some((id, path)) = seen else {
        return Ok(None);
    };
    if tenant.azure_tenant_id.is_none() {
        let taken = tenant::Entity::find()
            .filter(tenant::Column::AzureTenantId.eq(id.clone()))
            .filter(tenant::Column::Id.ne(tenant.id))
            .one(conn)
            .await?;
        if taken.is_some() {
            return Err(bad(
                &path,
                format!("Azure tenant {id} is already linked to another tenant"),
            ));
        }
    }
    Ok(Some(id))
}

/// The control a profile describes, merged over what we hold (fields the profile lacks keep
/// their current values; a new control starts from neutral defaults).
fn control_from_profile(p: &Profile, old: Option<&control::Model>, now: DateTime<Utc>) -> control::Model {
    let mut c = old.cloned().unwrap_or_else(|| control::Model {
        id: p.id.clone(),
        title: p.id.clone(),
        category: Category::Infrastructure.as_str().to_string(),
        service: "Unknown".to_string(),
        max_points: 0,
        tier: Tier::DefenseInDepth.as_str().to_string(),
        user_impact: Level::Unknown.as_str().to_string(),
        implementation_cost: Level::Unknown.as_str().to_string(),
        threats: StringList::default(),
        action_type: ActionType::Config.as_str().to_string(),
        remediation: String::new(),
        user_impact_description: String::new(),
        prerequisites: String::new(),
        action_url: None,
        learn_more_urls: StringList::default(),
        required_license_plans: StringList::default(),
        vendor_rank: None,
        deprecated: false,
        origin: "IMPORT".to_string(),
        created_at: now,
        updated_at: now,
    });
    if let Some(t) = p.title.as_ref().filter(|t| !t.trim().is_empty()) {
        c.title = t.clone();
    }
    if let Some(cat) = p.category.as_deref().and_then(Category::normalize) {
        c.category = cat.as_str().to_string();
    }
    if let Some(s) = &p.service {
        c.service = s.trim().to_string();
    }
    if let Some(m) = p.max_score.filter(|m| *m >= Decimal::ZERO) {
        c.max_points = to_storage(m);
    }
    if let Some(t) = p.tier.as_deref().and_then(Tier::normalize) {
        c.tier = t.as_str().to_string();
    }
    if let Some(l) = &p.user_impact {
        c.user_impact = Level::normalize(l).as_str().to_string();
    }
    if let Some(l) = &p.implementation_cost {
        c.implementation_cost = Level::normalize(l).as_str().to_string();
    }
    if let Some(t) = &p.threats {
        c.threats = StringList(t.clone());
    }
    if let Some(a) = p.action_type.as_deref().and_then(action_type) {
        c.action_type = a.as_str().to_string();
    }
    // Graph sends HTML here; it is kept as given and escaped by whoever renders it.
    if let Some(r) = &p.remediation {
        c.remediation = r.clone();
    }
    if let Some(r) = &p.remediation_impact {
        c.user_impact_description = r.clone();
    }
    if p.action_url.is_some() {
        c.action_url = p.action_url.clone();
    }
    if p.rank.is_some() {
        c.vendor_rank = p.rank;
    }
    if let Some(d) = p.deprecated {
        c.deprecated = d;
    }
    c
}

fn action_type(s: &str) -> Option<ActionType> {
    match s.trim().to_ascii_lowercase().as_str() {
        "config" | "configuration" => Some(ActionType::Config),
        "review" => Some(ActionType::Review),
        "behavior" | "behaviour" => Some(ActionType::Behavior),
        _ => None,
    }
}

/// Whether two controls hold the same content (timestamps and origin aside).
fn same_content(a: &control::Model, b: &control::Model) -> bool {
    let strip = |c: &control::Model| control::Model {
        created_at: DateTime::<Utc>::MIN_UTC,
        updated_at: DateTime::<Utc>::MIN_UTC,
        origin: String::new(),
        ..c.clone()
    };
    strip(a) == strip(b)
}

async fn write_control<C: ConnectionTrait>(
    conn: &C,
    wanted: control::Model,
    old: Option<&control::Model>,
    report: &mut ImportReport,
    now: DateTime<Utc>,
) -> AppResult<bool> {
    match old {
        None => {
            control::ActiveModel::from(wanted).insert(conn).await?;
            report.controls_created += 1;
            Ok(true)
        }
        Some(old) if same_content(old, &wanted) => Ok(false),
        Some(_) => {
            let mut am = control::ActiveModel::from(wanted).reset_all();
            am.updated_at = Set(now);
            am.created_at = sea_orm::ActiveValue::NotSet;
            am.origin = sea_orm::ActiveValue::NotSet;
            am.update(conn).await?;
            report.controls_updated += 1;
            Ok(true)
        }
    }
}

/// Upserts the profiles as catalog controls; returns the ids that changed.
async fn upsert_profiles<C: ConnectionTrait>(
    conn: &C,
    profiles: &[Profile],
    report: &mut ImportReport,
    now: DateTime<Utc>,
) -> AppResult<Vec<String>> {
    if profiles.is_empty() {
        return Ok(Vec::new());
    }
    let existing: HashMap<String, control::Model> = control::Entity::find()
        .filter(control::Column::Id.is_in(profiles.iter().map(|p| p.id.clone())))
        .all(conn)
        .await?
        .into_iter()
        .map(|c| (c.id.clone(), c))
        .collect();
    let mut changed = Vec::new();
    for p in profiles {
        let old = existing.get(&p.id);
        if p.category
            .as_deref()
            .is_some_and(|c| Category::normalize(c).is_none())
        {
            report.warnings.push(format!(
                "control {}: unknown controlCategory {:?} ignored",
                p.id,
                p.category.as_deref().unwrap_or_default()
            ));
        }
        let wanted = control_from_profile(p, old, now);
        if write_control(conn, wanted, old, report, now).await? {
            changed.push(p.id.clone());
        }
    }
    Ok(changed)
}

/// Controls in the newest record's scores that no profile describes: catalog entries are used as
/// they are; unknown ones are created from what the scores tell. Every one is reported.
async fn derive_missing<C: ConnectionTrait>(
    conn: &C,
    parsed: &Parsed,
    newest: &ScoreRecord,
    report: &mut ImportReport,
    now: DateTime<Utc>,
) -> AppResult<Vec<String>> {
    let profiled: BTreeSet<&str> = parsed.profiles.iter().map(|p| p.id.as_str()).collect();
    let missing: Vec<&ControlScore> = newest
        .controls
        .iter()
        .filter(|c| !profiled.contains(c.control_id.as_str()))
        .collect();
    if missing.is_empty() {
        return Ok(Vec::new());
    }
    let existing: HashMap<String, control::Model> = control::Entity::find()
        .filter(control::Column::Id.is_in(missing.iter().map(|c| c.control_id.clone())))
        .all(conn)
        .await?
        .into_iter()
        .map(|c| (c.id.clone(), c))
        .collect();
    let mut changed = Vec::new();
    for c in missing {
        let category = c.category.as_deref().and_then(Category::normalize);
        if let Some(old) = existing.get(&c.control_id) {
            report.gaps.push(ImportGap {
                control_id: c.control_id.clone(),
                message: "in controlScores but not in controlProfiles; the existing catalog entry is used"
                    .into(),
                max_points: Some(from_storage(old.max_points)),
                category: old.category.parse().ok(),
            });
            continue;
        }
        let derived = derived_max(c);
        let Some(category) = category else {
            report.gaps.push(ImportGap {
                control_id: c.control_id.clone(),
                message: format!(
                    "in controlScores but not in controlProfiles, and its controlCategory {:?} is unknown; not imported",
                    c.category.as_deref().unwrap_or_default()
                ),
                max_points: derived,
                category: None,
            });
            continue;
        };
        let mut message =
            String::from("in controlScores but not in controlProfiles; imported with what the scores tell");
        match derived {
            Some(m) => message.push_str(&format!(
                ": max points {} = score / scoreInPercentage × 100",
                round2(m)
            )),
            None => message.push_str(": max points unknown (no score and scoreInPercentage), counted as 0"),
        }
        let profile = Profile {
            id: c.control_id.clone(),
            path: String::new(),
            azure_tenant_id: None,
            title: c.description.clone(),
            action_type: None,
            action_url: None,
            category: Some(category.as_str().to_string()),
            deprecated: None,
            implementation_cost: None,
            max_score: derived,
            rank: None,
            remediation: None,
            remediation_impact: None,
            service: None,
            threats: None,
            tier: None,
            user_impact: None,
            state: None,
        };
        let wanted = control_from_profile(&profile, None, now);
        write_control(conn, wanted, None, report, now).await?;
        changed.push(c.control_id.clone());
        report.gaps.push(ImportGap {
            control_id: c.control_id.clone(),
            message,
            max_points: Some(derived.unwrap_or(Decimal::ZERO)),
            category: Some(category),
        });
    }
    Ok(changed)
}

/// Takes over seats, active users, enabled services and (on first import) the Azure tenant id
/// from the newest record. Services are only ever added: Graph omits always-on families (Azure
/// AD), and disabling a service would keep its actions anyway.
async fn update_tenant<C: ConnectionTrait>(
    conn: &C,
    tenant: tenant::Model,
    newest: &ScoreRecord,
    azure_id: Option<String>,
    report: &mut ImportReport,
) -> AppResult<tenant::Model> {
    let mut services = tenant.enabled_services.0.clone();
    for flag in &newest.enabled_services {
        let code = service_code(flag);
        if !code.is_empty() && !services.contains(&code) {
            services.push(code);
        }
    }
    let seats = newest
        .licensed_user_count
        .filter(|n| *n >= 0)
        .unwrap_or(tenant.seat_count);
    let active = newest
        .active_user_count
        .filter(|n| *n >= 0)
        .unwrap_or(tenant.active_user_count);
    let azure = tenant.azure_tenant_id.clone().or(azure_id);
    if services == tenant.enabled_services.0
        && seats == tenant.seat_count
        && active == tenant.active_user_count
        && azure == tenant.azure_tenant_id
    {
        return Ok(tenant);
    }
    let mut am: tenant::ActiveModel = tenant.into();
    am.enabled_services = Set(StringList(services));
    am.seat_count = Set(seats);
    am.active_user_count = Set(active);
    am.azure_tenant_id = Set(azure);
    report.tenant_updated = true;
    // `updated_at` and the state version are bumped by `tenants::touch` at the end.
    Ok(am.update(conn).await?)
}

/// Makes sure the tenant has an action for every control of the newest scores (origin IMPORT,
/// with an IMPORTED event) and for every catalog control of its enabled services.
async fn ensure_actions<C: ConnectionTrait>(
    conn: &C,
    actor: &Actor,
    tenant: &tenant::Model,
    newest: &ScoreRecord,
    report: &mut ImportReport,
    now: DateTime<Utc>,
) -> AppResult<()> {
    let have: BTreeSet<String> = improvement_action::Entity::find()
        .filter(improvement_action::Column::TenantId.eq(tenant.id))
        .all(conn)
        .await?
        .into_iter()
        .map(|a| a.control_id)
        .collect();
    let scored: Vec<String> = newest.controls.iter().map(|c| c.control_id.clone()).collect();
    let imported: Vec<control::Model> = control::Entity::find()
        .filter(control::Column::Id.is_in(scored))
        .filter(control::Column::Deprecated.eq(false))
        .all(conn)
        .await?;
    let mut added: BTreeSet<String> = BTreeSet::new();
    for c in &imported {
        if have.contains(&c.id) || !added.insert(c.id.clone()) {
            continue;
        }
        let mut am = tenants::new_action(tenant.id, c, now);
        am.origin = Set("IMPORT".to_string());
        let row = am.insert(conn).await?;
        let mut ev = NewEvent::new(tenant.id, row.id, EventKind::Imported);
        ev.status_after = Some(Status::ToAddress);
        ev.comment = Some("added by a Microsoft Graph import".into());
        ev.data = Some(json!({ "created": true }));
        events::record(conn, actor, ev, now).await?;
        report.events_written += 1;
        report.actions_created += 1;
    }
    let applicable = control::Entity::find()
        .filter(control::Column::Service.is_in(tenant.enabled_services.0.clone()))
        .filter(control::Column::Deprecated.eq(false))
        .all(conn)
        .await?;
    let rows: Vec<improvement_action::ActiveModel> = applicable
        .iter()
        .filter(|c| !have.contains(&c.id) && !added.contains(&c.id))
        .map(|c| tenants::new_action(tenant.id, c, now))
        .collect();
    if !rows.is_empty() {
        report.actions_created += rows.len();
        improvement_action::Entity::insert_many(rows).exec(conn).await?;
    }
    Ok(())
}

/// The tenant's actions with their controls, by control id.
async fn resolved_actions<C: ConnectionTrait>(
    conn: &C,
    tenant: &tenant::Model,
) -> AppResult<BTreeMap<String, Resolved>> {
    let rows = improvement_action::Entity::find()
        .filter(improvement_action::Column::TenantId.eq(tenant.id))
        .find_also_related(control::Entity)
        .all(conn)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(action, control)| {
            control.map(|control| {
                (
                    action.control_id.clone(),
                    Resolved {
                        tenant: tenant.clone(),
                        action,
                        control,
                        before: None,
                    },
                )
            })
        })
        .collect())
}

/// The newest record's progress → each action, through the workflow (COMPLETED / REGRESSED /
/// PROGRESS_CHANGED events as fits; nothing when unchanged).
async fn apply_progress<C: ConnectionTrait>(
    conn: &C,
    actor: &Actor,
    tenant: &tenant::Model,
    newest: &ScoreRecord,
    report: &mut ImportReport,
    now: DateTime<Utc>,
) -> AppResult<()> {
    let mut actions = resolved_actions(conn, tenant).await?;
    for c in &newest.controls {
        let Some(r) = actions.get_mut(&c.control_id) else {
            continue;
        };
        let max = Some(from_storage(r.control.max_points));
        let Some((implemented, total)) = progress_of(c, max) else {
            continue;
        };
        if c.count.zip(c.total).is_some_and(|(n, t)| n > t || n < 0) {
            report.warnings.push(format!(
                "control {}: count {} outside 0..total {}; clamped",
                c.control_id,
                c.count.unwrap_or_default(),
                c.total.unwrap_or_default()
            ));
        }
        let input = ProgressInput {
            action: workflow::ActionRef::Id(r.action.id),
            implemented,
            total,
            implementation_status: c
                .implementation_status
                .clone()
                .or_else(|| r.action.implementation_status.clone()),
            users_affected: None,
        };
        let version = r.action.version;
        workflow::apply_progress(conn, actor, r, &input, now).await?;
        if r.action.version != version {
            report.actions_updated += 1;
            report.events_written += 1;
        }
    }
    Ok(())
}

/// The note an imported comment becomes: the comment, then who wrote it in Secure Score, when.
fn note_body(u: &StateUpdate, comment: &str) -> String {
    let by = u.updated_by.as_deref().unwrap_or("unknown");
    let when = u
        .updated_at
        .map(|t| format!(" on {}", t.format("%Y-%m-%d %H:%M UTC")))
        .unwrap_or_default();
    let mut body = format!(
        "{}\n\n(Imported from Microsoft Secure Score; written by {by}{when}, state {})",
        comment.trim(),
        u.state
    );
    if body.chars().count() > crate::service::NOTE_MAX_CHARS {
        body = body.chars().take(crate::service::NOTE_MAX_CHARS).collect();
    }
    body
}

/// The latest `controlStateUpdates` entry of each profile → the action's status (an IMPORTED
/// event), and its comment → a note. A status someone set here after the vendor's update wins,
/// and COMPLETED is left to progress (the system's status).
#[allow(clippy::too_many_arguments)]
async fn apply_states<C: ConnectionTrait>(
    conn: &C,
    actor: &Actor,
    importer: &Importer<'_>,
    tenant: &tenant::Model,
    profiles: &[Profile],
    report: &mut ImportReport,
    now: DateTime<Utc>,
) -> AppResult<()> {
    let mut actions = resolved_actions(conn, tenant).await?;
    for p in profiles {
        let Some(u) = &p.state else { continue };
        let Some(r) = actions.get_mut(&p.id) else { continue };
        match Status::from_graph_state(&u.state) {
            None => report.warnings.push(format!(
                "control {}: unknown controlStateUpdates state {:?} ignored",
                p.id, u.state
            )),
            Some(wanted) => {
                let current = r.status()?;
                if current != wanted && current != Status::Completed {
                    let mut local = action_event::Entity::find()
                        .filter(action_event::Column::ActionId.eq(r.action.id))
                        .filter(action_event::Column::Kind.is_in(LOCAL_STATUS_EVENTS.map(|k| k.as_str())));
                    if let Some(at) = u.updated_at {
                        local = local.filter(action_event::Column::OccurredAt.gt(at));
                    }
                    if local.one(conn).await?.is_some() {
                        report.warnings.push(format!(
                            "control {}: Secure Score says {} but the status was changed here since; kept {}",
                            p.id, u.state, current
                        ));
                    } else {
                        set_status(conn, actor, r, wanted, u, now).await?;
                        report.actions_updated += 1;
                        report.events_written += 1;
                    }
                }
            }
        }
        if let Some(comment) = &u.comment {
            let body = note_body(u, comment);
            let exists = note::Entity::find()
                .filter(note::Column::ActionId.eq(r.action.id))
                .filter(note::Column::Body.eq(body.clone()))
                .one(conn)
                .await?;
            if exists.is_none() {
                let n = note::ActiveModel {
                    tenant_id: Set(tenant.id),
                    action_id: Set(r.action.id),
                    author_id: Set(importer.principal_id()),
                    body: Set(body.clone()),
                    created_at: Set(now),
                    updated_at: Set(now),
                    ..Default::default()
                }
                .insert(conn)
                .await?;
                let mut ev = NewEvent::new(tenant.id, r.action.id, EventKind::NoteAdded);
                ev.comment = Some(body.chars().take(200).collect());
                ev.data = Some(json!({ "noteId": n.id, "importedFrom": u.updated_by }));
                events::record(conn, actor, ev, now).await?;
                report.notes_added += 1;
                report.events_written += 1;
            }
        }
    }
    Ok(())
}

/// Writes an imported status with the version guard and an IMPORTED event.
async fn set_status<C: ConnectionTrait>(
    conn: &C,
    actor: &Actor,
    r: &mut Resolved,
    wanted: Status,
    u: &StateUpdate,
    now: DateTime<Utc>,
) -> AppResult<()> {
    let before = r.status()?;
    let points_before = r.current_points()?;
    let mut am: improvement_action::ActiveModel = r.action.clone().into();
    am.status = Set(wanted.as_str().to_string());
    am.review_by = Set(None);
    am.version = Set(r.action.version + 1);
    am.updated_at = Set(now);
    am.status_changed_at = Set(now);
    let done = improvement_action::Entity::update_many()
        .set(am)
        .filter(improvement_action::Column::Id.eq(r.action.id))
        .filter(improvement_action::Column::Version.eq(r.action.version))
        .exec(conn)
        .await?;
    if done.rows_affected != 1 {
        return Err(AppError::Conflict(format!(
            "action {} was changed by someone else during the import; retry",
            r.action.control_id
        )));
    }
    r.action = improvement_action::Entity::find_by_id(r.action.id)
        .one(conn)
        .await?
        .ok_or(AppError::NotFound("improvement action"))?;
    let mut ev = NewEvent::new(r.tenant.id, r.action.id, EventKind::Imported);
    ev.status_before = Some(before);
    ev.status_after = Some(wanted);
    ev.points_before = Some(points_before);
    ev.points_after = Some(r.points(wanted, r.action.implemented, r.action.total));
    ev.comment = u.comment.clone();
    ev.data = Some(json!({
        "graphState": u.state,
        "updatedBy": u.updated_by,
        "updatedDateTime": u.updated_at,
    }));
    events::record(conn, actor, ev, now).await?;
    Ok(())
}

/// Our views of one day: the tenant's actions as they stand, with that day's reported progress.
fn day_state(live: &TenantState, record: &ScoreRecord) -> AppResult<TenantState> {
    let by_id: HashMap<&str, &ControlScore> = record
        .controls
        .iter()
        .map(|c| (c.control_id.as_str(), c))
        .collect();
    let mut rows = live.rows();
    for (row, control) in &mut rows {
        let Some(c) = by_id.get(control.id.as_str()) else {
            continue;
        };
        if let Some((implemented, total)) = progress_of(c, Some(from_storage(control.max_points))) {
            let status: Status = state::parse(&row.status, "status")?;
            let (after, _) = status_after_progress(status, implemented, total);
            row.implemented = implemented;
            row.total = total;
            row.status = after.as_str().to_string();
        }
    }
    state::build(live.tenant.clone(), rows, &live.held, live.computed_at)
}

/// A snapshot row of a day from our views and the vendor's reported totals.
fn snapshot_of(
    tenant_id: i64,
    s: &TenantState,
    record: &ScoreRecord,
    now: DateTime<Utc>,
) -> score_snapshot::Model {
    let v = s.score.overall;
    let counts = crate::service::snapshots::status_counts(s.actions.iter().map(|a| &a.scored.status));
    score_snapshot::Model {
        id: 0,
        tenant_id,
        day: record.day,
        max_score: to_storage(v.max_score),
        current: to_storage(v.current),
        planned: to_storage(v.planned),
        current_license: to_storage(v.current_license),
        achievable: to_storage(v.achievable),
        verified: to_storage(v.verified),
        categories: crate::service::snapshots::category_figures(&s.score),
        status_counts: StatusCounts(counts),
        source: SOURCE_IMPORTED.to_string(),
        vendor_current_score: Some(to_storage(record.current_score)),
        vendor_max_score: Some(to_storage(record.max_score)),
        created_at: now,
    }
}

/// Each daily record → that day's snapshot (source IMPORTED, vendor totals as reported), and
/// the report of every day on which the vendor's totals differ from ours.
async fn write_snapshots<C: ConnectionTrait>(
    conn: &C,
    live: &TenantState,
    records: &[ScoreRecord],
    report: &mut ImportReport,
    now: DateTime<Utc>,
) -> AppResult<()> {
    let tenant_id = live.tenant.id;
    let existing: HashMap<NaiveDate, score_snapshot::Model> = score_snapshot::Entity::find()
        .filter(score_snapshot::Column::TenantId.eq(tenant_id))
        .filter(score_snapshot::Column::Day.is_in(records.iter().map(|r| r.day)))
        .all(conn)
        .await?
        .into_iter()
        .map(|s| (s.day, s))
        .collect();
    for record in records {
        let s = day_state(live, record)?;
        let wanted = snapshot_of(tenant_id, &s, record, now);
        let ours = s.score.overall;
        if round2(ours.current) != round2(record.current_score)
            || round2(ours.max_score) != round2(record.max_score)
        {
            report.discrepancies.push(ScoreDiscrepancy {
                day: record.day,
                vendor_current_score: record.current_score,
                vendor_max_score: record.max_score,
                recomputed_current: ours.current,
                recomputed_max: ours.max_score,
                control_scores_sum: record.controls.iter().filter_map(|c| c.score).sum(),
            });
        }
        match existing.get(&record.day) {
            Some(old) => {
                let comparable = score_snapshot::Model {
                    id: old.id,
                    created_at: old.created_at,
                    ..wanted.clone()
                };
                if &comparable == old {
                    continue;
                }
                let mut am = score_snapshot::ActiveModel::from(comparable).reset_all();
                am.id = sea_orm::ActiveValue::Unchanged(old.id);
                am.created_at = Set(now);
                am.update(conn).await?;
            }
            None => {
                let mut am: score_snapshot::ActiveModel = wanted.into();
                am.id = sea_orm::ActiveValue::NotSet;
                am.insert(conn).await?;
            }
        }
        report.snapshots_written += 1;
    }
    Ok(())
}

/// `averageComparativeScores` → vendor benchmark rows of each day.
async fn write_benchmarks<C: ConnectionTrait>(
    conn: &C,
    tenant_id: i64,
    records: &[ScoreRecord],
    report: &mut ImportReport,
    now: DateTime<Utc>,
) -> AppResult<()> {
    let existing: HashMap<(NaiveDate, String, String), vendor_benchmark::Model> =
        vendor_benchmark::Entity::find()
            .filter(vendor_benchmark::Column::TenantId.eq(tenant_id))
            .filter(vendor_benchmark::Column::Day.is_in(records.iter().map(|r| r.day)))
            .all(conn)
            .await?
            .into_iter()
            .map(|b| ((b.day, b.basis.clone(), b.basis_value.clone()), b))
            .collect();
    for record in records {
        let mut seen = BTreeSet::new();
        for b in &record.benchmarks {
            let key = (record.day, b.basis.clone(), b.basis_value.clone());
            if !seen.insert(key.clone()) {
                continue;
            }
            let figures: Map<String, Value> = b
                .figures
                .iter()
                .map(|(k, v)| (k.clone(), json!(v.to_f64().unwrap_or(0.0))))
                .collect();
            let average = to_storage(b.average_score);
            let figures = Value::Object(figures);
            match existing.get(&key) {
                Some(old) if old.average_score == average && old.category_scores == figures => {}
                Some(old) => {
                    let mut am: vendor_benchmark::ActiveModel = old.clone().into();
                    am.average_score = Set(average);
                    am.category_scores = Set(figures);
                    am.update(conn).await?;
                    report.benchmarks_written += 1;
                }
                None => {
                    vendor_benchmark::ActiveModel {
                        tenant_id: Set(tenant_id),
                        day: Set(record.day),
                        basis: Set(b.basis.clone()),
                        basis_value: Set(b.basis_value.clone()),
                        average_score: Set(average),
                        category_scores: Set(figures),
                        created_at: Set(now),
                        ..Default::default()
                    }
                    .insert(conn)
                    .await?;
                    report.benchmarks_written += 1;
                }
            }
        }
    }
    Ok(())
}

/// Controls are global: other tenants holding actions on a changed control have stale derived
/// state now.
async fn touch_other_tenants<C: ConnectionTrait>(
    conn: &C,
    tenant_id: i64,
    controls: &[String],
    now: DateTime<Utc>,
) -> AppResult<()> {
    if controls.is_empty() {
        return Ok(());
    }
    let others: BTreeSet<i64> = improvement_action::Entity::find()
        .filter(improvement_action::Column::ControlId.is_in(controls.to_vec()))
        .filter(improvement_action::Column::TenantId.ne(tenant_id))
        .all(conn)
        .await?
        .into_iter()
        .map(|a| a.tenant_id)
        .collect();
    for t in others {
        tenants::touch(conn, t, now).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().expect("decimal literal")
    }

    fn docs(scores: Value, profiles: Vec<Value>) -> ImportDocuments {
        ImportDocuments {
            secure_scores: scores,
            control_profiles: profiles,
        }
    }

    fn field(e: AppError) -> String {
        match e {
            AppError::BadUserInput { field, .. } => field.join("."),
            other => panic!("expected BAD_USER_INPUT, got {other:?}"),
        }
    }

    #[test]
    fn numbers_arrive_as_numbers_or_strings() {
        let cases = [
            (json!(35), Some(d("35")), "integer"),
            (json!(35.5), Some(d("35.5")), "float"),
            (json!("20"), Some(d("20")), "string"),
            (json!(" 7.25 "), Some(d("7.25")), "padded string"),
            (json!(""), None, "empty string is absent"),
            (Value::Null, None, "null is absent"),
        ];
        for (v, expected, why) in cases {
            assert_eq!(decimal(Some(&v), "x").expect(why), expected, "{why}");
        }
        assert_eq!(field(decimal(Some(&json!("abc")), "a.b").unwrap_err()), "a.b");
        assert_eq!(field(decimal(Some(&json!([1])), "a.c").unwrap_err()), "a.c");
    }

    #[test]
    fn a_single_record_and_a_collection_both_parse() {
        let record = json!({
            "azureTenantId": "x", "createdDateTime": "2024-05-01T00:00:00Z",
            "currentScore": "12.5", "maxScore": 40,
            "averageComparativeScores": [
                { "basis": "TotalSeats", "averageScore": "46", "SeatSizeRangeLowerValue": "6", "SeatSizeRangeUpperValue": "99", "identityScore": "27", "extra": {} }
            ],
            "controlScores": [{ "controlName": "A", "score": "5", "scoreInPercentage": "50", "count": "2", "total": "4", "on": "true" }],
            "unknownKey": [1, 2]
        });
        let single = parse(&docs(record.clone(), vec![])).expect("single record");
        let collection = parse(&docs(json!({ "value": [record] }), vec![])).expect("collection");
        assert_eq!(single.records.len(), 1);
        assert_eq!(
            single.records[0].current_score,
            collection.records[0].current_score
        );
        let r = &single.records[0];
        assert_eq!(r.current_score, d("12.5"));
        assert_eq!(r.benchmarks[0].basis_value, "6-99", "PascalCase seat keys");
        assert_eq!(r.benchmarks[0].figures.get("identityScore"), Some(&d("27")));
        let c = &r.controls[0];
        assert_eq!((c.count, c.total, c.on), (Some(2), Some(4), Some(true)));
    }

    #[test]
    fn wrong_shapes_are_refused_naming_the_field() {
        let cases = [
            (json!("text"), "secureScores", "a string"),
            (json!({ "value": {} }), "secureScores", "value not a list"),
            (json!({ "foo": 1 }), "secureScores", "no value and not a record"),
            (json!({ "value": [] }), "secureScores", "no records"),
            (
                json!({ "value": [{ "currentScore": 1, "maxScore": 2 }] }),
                "secureScores.value.0.createdDateTime",
                "missing date",
            ),
            (
                json!({ "value": [{ "createdDateTime": "2024-01-01T00:00:00Z", "currentScore": "many", "maxScore": 2 }] }),
                "secureScores.value.0.currentScore",
                "non-numeric score",
            ),
            (
                json!({ "value": [{ "createdDateTime": "2024-01-01T00:00:00Z", "currentScore": 1, "maxScore": 2, "controlScores": [{ "score": 1 }] }] }),
                "secureScores.value.0.controlScores.0.controlName",
                "control without a name",
            ),
        ];
        for (scores, expected, why) in cases {
            let err = parse(&docs(scores, vec![])).expect_err(why);
            assert_eq!(field(err), expected, "{why}");
        }
    }

    #[test]
    fn the_latest_state_update_wins_by_time() {
        let profile = json!({ "id": "A", "controlStateUpdates": [
            { "state": "Ignored", "updatedDateTime": "2024-02-01T00:00:00Z", "comment": "later" },
            { "state": "Default", "updatedDateTime": "2024-01-01T00:00:00Z" }
        ]});
        let scores = json!({ "createdDateTime": "2024-05-01T00:00:00Z", "currentScore": 1, "maxScore": 2 });
        let parsed = parse(&docs(scores, vec![json!({ "value": [profile] })])).expect("parses");
        let state = parsed.profiles[0].state.clone().expect("a state");
        assert_eq!(state.state, "Ignored");
        assert_eq!(state.comment.as_deref(), Some("later"));
    }

    #[test]
    fn progress_prefers_counts_then_percentage_then_the_on_flag() {
        let base = ControlScore {
            control_id: "A".into(),
            category: None,
            description: None,
            score: None,
            score_in_percentage: None,
            count: None,
            total: None,
            on: None,
            implementation_status: None,
        };
        let cases = [
            (
                ControlScore {
                    count: Some(3),
                    total: Some(4),
                    score_in_percentage: Some(d("10")),
                    ..base.clone()
                },
                None,
                Some((3, 4)),
                "count/total first",
            ),
            (
                ControlScore {
                    count: Some(9),
                    total: Some(4),
                    ..base.clone()
                },
                None,
                Some((4, 4)),
                "count clamped",
            ),
            (
                ControlScore {
                    score_in_percentage: Some(d("66.5")),
                    ..base.clone()
                },
                None,
                Some((67, 100)),
                "percentage rounded",
            ),
            (
                ControlScore {
                    score: Some(d("5")),
                    ..base.clone()
                },
                Some(d("10")),
                Some((50, 100)),
                "score over max",
            ),
            (
                ControlScore {
                    on: Some(true),
                    ..base.clone()
                },
                None,
                Some((1, 1)),
                "on flag",
            ),
            (base.clone(), None, None, "nothing known"),
        ];
        for (c, max, expected, why) in cases {
            assert_eq!(progress_of(&c, max), expected, "{why}");
        }
        let c = ControlScore {
            score: Some(d("4")),
            score_in_percentage: Some(d("40")),
            ..base
        };
        assert_eq!(derived_max(&c), Some(d("10")), "score / pct × 100");
    }

    #[test]
    fn service_flags_map_to_codes_and_unknown_ones_are_kept() {
        let cases = [
            ("HasExchange", "EXO"),
            ("HasSharePoint", "SPO"),
            ("HasInTune", "Intune"),
            ("HasTeams", "MS Teams"),
            ("HasSomethingNew", "HasSomethingNew"),
        ];
        for (flag, code) in cases {
            assert_eq!(service_code(flag), code, "{flag}");
        }
    }
}
