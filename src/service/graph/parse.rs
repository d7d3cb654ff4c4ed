//! The pure half of the Microsoft Graph import: turns the JSON documents of
//! `GET /security/secureScores` and `GET /security/secureScoreControlProfiles` into typed records
//! without touching the database. Lenient about what real payloads do (numbers as strings,
//! PascalCase seat-size keys, unknown keys, enum spellings), strict about shape: a document of the
//! wrong shape is refused with a `BAD_USER_INPUT` that names the field.
//!
//! Whatever the parser does not take as given is reported in [`Parsed::warnings`], each with the
//! JSON path it is about (`secureScores.value.0.controlScores.3.count`), never dropped silently
//! (SPEC §9): a missing page (`@odata.nextLink`), two records for one day or a control or profile
//! listed twice (which one won), implausible values (negative counts, `count > total`, a negative
//! or non-numeric profile `maxScore`; clamped or treated as absent), duplicate vendor benchmarks,
//! links that are not absolute `https:` URLs (dropped), and enum spellings, states and
//! `enabledServices` flags the import does not know.

use crate::domain::enums::{Category, CategoryExt, Level, LevelExt, Status, StatusExt, Tier, TierExt};
use crate::domain::sanitize::{https_url, plain_text};
use crate::error::{AppError, AppResult};
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::str::FromStr;

/// The documents of one import, as received.
#[derive(Clone, Debug)]
pub struct ImportDocuments {
    /// Body of `GET /security/secureScores` (`{ "value": [...] }`), a single record, or an array.
    pub secure_scores: Value,
    /// Pages of `GET /security/secureScoreControlProfiles` (each `{ "value": [...] }`), or
    /// profiles themselves.
    pub control_profiles: Vec<Value>,
}

/// Something in the documents the parser did not take as given: what it did instead, and the
/// JSON path it is about (`secureScores.value.0.controlScores.3.count`).
#[derive(Clone, Debug, PartialEq)]
pub struct ImportWarning {
    pub path: String,
    pub message: String,
}

impl std::fmt::Display for ImportWarning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

fn warn(w: &mut Vec<ImportWarning>, path: impl Into<String>, message: impl Into<String>) {
    w.push(ImportWarning {
        path: path.into(),
        message: message.into(),
    });
}

/// One daily `secureScore` record.
#[derive(Clone, Debug, PartialEq)]
pub struct ScoreRecord {
    /// Index in the document, for error messages.
    pub index: usize,
    /// JSON path of the record (`secureScores.value.0`).
    pub path: String,
    pub day: NaiveDate,
    pub created: DateTime<Utc>,
    pub azure_tenant_id: Option<String>,
    pub current_score: Decimal,
    pub max_score: Decimal,
    pub licensed_user_count: Option<i64>,
    pub active_user_count: Option<i64>,
    /// `enabledServices` as reported (`HasEXOP2`).
    pub enabled_services: Vec<String>,
    /// The catalog services those flags stand for (`EXO`), de-duplicated, in the order first
    /// named; unknown flags are left out (with a warning).
    pub services: Vec<String>,
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
    /// Oldest day first; one record per day (the later `createdDateTime` wins; on a tie, the
    /// later one in the document).
    pub records: Vec<ScoreRecord>,
    /// In document order; a profile listed twice is the later entry.
    pub profiles: Vec<Profile>,
    /// Everything not taken as given, in document order (the secureScores document first).
    pub warnings: Vec<ImportWarning>,
}

pub(super) fn bad(path: &str, message: impl Into<String>) -> AppError {
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

/// Text that may hold HTML, as plain text.
fn text(v: Option<&Value>, path: &str) -> AppResult<Option<String>> {
    Ok(string(v, path)?.map(|s| plain_text(&s)))
}

/// A title: plain text on one line.
fn title(v: Option<&Value>, path: &str) -> AppResult<Option<String>> {
    Ok(text(v, path)?.map(|t| {
        t.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join(" ")
    }))
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

/// Warns about a `controlCategory` the import does not know (kept as reported; the writer
/// ignores it).
fn check_category(category: Option<&str>, path: &str, w: &mut Vec<ImportWarning>) {
    if let Some(c) = category.filter(|c| !c.trim().is_empty())
        && Category::normalize(c).is_none()
    {
        warn(
            w,
            path,
            format!(
                "unknown controlCategory {c:?} (known: Identity, Device, Apps, Data, Infrastructure); ignored"
            ),
        );
    }
}

/// `count`/`total` clamped into plausible values: a negative `total` is absent, `count` is
/// clamped into `0..=total` (into `0..` without a total), each with a warning.
fn plausible_counts(
    count: Option<i64>,
    total: Option<i64>,
    path: &str,
    w: &mut Vec<ImportWarning>,
) -> (Option<i64>, Option<i64>) {
    let total = match total {
        Some(t) if t < 0 => {
            warn(
                w,
                format!("{path}.total"),
                format!("total {t} is negative; treated as absent"),
            );
            None
        }
        t => t,
    };
    let count = match (count, total) {
        (Some(n), _) if n < 0 => {
            warn(
                w,
                format!("{path}.count"),
                format!("count {n} is negative; clamped to 0"),
            );
            Some(0)
        }
        (Some(n), Some(t)) if n > t => {
            warn(
                w,
                format!("{path}.count"),
                format!("count {n} is greater than total {t}; clamped to {t}"),
            );
            Some(t)
        }
        (n, _) => n,
    };
    (count, total)
}

fn parse_control_score(v: &Value, path: &str, w: &mut Vec<ImportWarning>) -> AppResult<ControlScore> {
    let o = object(v, path)?;
    let p = |k: &str| format!("{path}.{k}");
    let control_id = string(get(o, "controlName"), &p("controlName"))?
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| bad(&p("controlName"), format!("{} is required", p("controlName"))))?;
    let category = string(get(o, "controlCategory"), &p("controlCategory"))?;
    check_category(category.as_deref(), &p("controlCategory"), w);
    let (count, total) = plausible_counts(
        integer(get(o, "count"), &p("count"))?,
        integer(get(o, "total"), &p("total"))?,
        path,
        w,
    );
    Ok(ControlScore {
        control_id,
        category,
        description: text(get(o, "description"), &p("description"))?,
        score: decimal(get(o, "score"), &p("score"))?,
        score_in_percentage: decimal(get(o, "scoreInPercentage"), &p("scoreInPercentage"))?,
        count,
        total,
        on: boolean(get(o, "on"), &p("on"))?,
        implementation_status: text(get(o, "implementationStatus"), &p("implementationStatus"))?,
    })
}

fn parse_record(index: usize, v: &Value, path: &str, w: &mut Vec<ImportWarning>) -> AppResult<ScoreRecord> {
    let o = object(v, path)?;
    let p = |k: &str| format!("{path}.{k}");
    let created = time(get(o, "createdDateTime"), &p("createdDateTime"))?.ok_or_else(|| {
        bad(
            &p("createdDateTime"),
            format!("{} is required", p("createdDateTime")),
        )
    })?;
    let required = |k: &str| -> AppResult<Decimal> {
        let v = decimal(get(o, k), &p(k))?.ok_or_else(|| bad(&p(k), format!("{} is required", p(k))))?;
        if v < Decimal::ZERO {
            return Err(bad(&p(k), format!("{} must not be negative (got {v})", p(k))));
        }
        Ok(v)
    };
    let current_score = required("currentScore")?;
    let max_score = required("maxScore")?;
    // (path, benchmark); one per basis and basis value.
    let mut benchmarks: Vec<(String, Benchmark)> = Vec::new();
    match get(o, "averageComparativeScores") {
        None | Some(Value::Null) => {}
        Some(Value::Array(list)) => {
            for (i, b) in list.iter().enumerate() {
                let bp = format!("{}.{i}", p("averageComparativeScores"));
                let Some(b) = parse_benchmark(b, &bp)? else {
                    continue;
                };
                let same =
                    |x: &Benchmark| x.basis.eq_ignore_ascii_case(&b.basis) && x.basis_value == b.basis_value;
                match benchmarks.iter().position(|(_, x)| same(x)) {
                    None => benchmarks.push((bp, b)),
                    Some(at) => {
                        let (old_path, old) = &benchmarks[at];
                        let cohort = if b.basis_value.is_empty() {
                            b.basis.clone()
                        } else {
                            format!("{} {}", b.basis, b.basis_value)
                        };
                        // The more detailed row wins; on a tie, the later one.
                        if b.figures.len() >= old.figures.len() {
                            warn(
                                w,
                                old_path.clone(),
                                format!(
                                    "second benchmark for {cohort} on this day; {bp} ({} figures) kept, this one ({} figures) dropped",
                                    b.figures.len(),
                                    old.figures.len()
                                ),
                            );
                            benchmarks[at] = (bp, b);
                        } else {
                            warn(
                                w,
                                bp.clone(),
                                format!(
                                    "second benchmark for {cohort} on this day; {old_path} ({} figures) kept, this one ({} figures) dropped",
                                    old.figures.len(),
                                    b.figures.len()
                                ),
                            );
                        }
                    }
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
            let mut paths: Vec<String> = Vec::new();
            for (i, c) in list.iter().enumerate() {
                let cp = format!("{}.{i}", p("controlScores"));
                let c = parse_control_score(c, &cp, w)?;
                // A control listed twice: the later entry wins, as it would in a re-read.
                if let Some(at) = controls.iter().position(|x| x.control_id == c.control_id) {
                    warn(
                        w,
                        paths.remove(at),
                        format!(
                            "control {} is listed again at {cp}; the later entry is kept",
                            c.control_id
                        ),
                    );
                    controls.remove(at);
                }
                controls.push(c);
                paths.push(cp);
            }
        }
        Some(_) => {
            return Err(bad(
                &p("controlScores"),
                format!("{} must be a list", p("controlScores")),
            ));
        }
    }
    let mut enabled_services = Vec::new();
    let mut services: Vec<String> = Vec::new();
    match get(o, "enabledServices") {
        None | Some(Value::Null) => {}
        Some(Value::Array(list)) => {
            for (i, flag) in list.iter().enumerate() {
                let fp = format!("{}.{i}", p("enabledServices"));
                let Some(flag) = string(Some(flag), &fp)?.filter(|f| !f.trim().is_empty()) else {
                    continue;
                };
                match service_of_flag(&flag) {
                    Some(s) => {
                        if !services.iter().any(|x| x == s) {
                            services.push(s.to_string());
                        }
                    }
                    None => warn(
                        w,
                        fp,
                        format!("unknown enabledServices flag {flag:?}; no service enabled for it"),
                    ),
                }
                enabled_services.push(flag);
            }
        }
        Some(_) => {
            return Err(bad(
                &p("enabledServices"),
                format!("{} must be a list of strings", p("enabledServices")),
            ));
        }
    }
    Ok(ScoreRecord {
        index,
        path: path.to_string(),
        day: created.date_naive(),
        created,
        azure_tenant_id: string(get(o, "azureTenantId"), &p("azureTenantId"))?
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty()),
        current_score,
        max_score,
        licensed_user_count: integer(get(o, "licensedUserCount"), &p("licensedUserCount"))?,
        active_user_count: integer(get(o, "activeUserCount"), &p("activeUserCount"))?,
        enabled_services,
        services,
        benchmarks: benchmarks.into_iter().map(|(_, b)| b).collect(),
        controls,
    })
}

/// Whether the writer knows an `actionType` spelling (it maps these to CONFIG, REVIEW, BEHAVIOR).
fn known_action_type(s: &str) -> bool {
    matches!(
        s.trim().to_ascii_lowercase().as_str(),
        "config" | "configuration" | "review" | "behavior" | "behaviour"
    )
}

/// Warns about enum spellings the writer does not know (it keeps its normalisation: an unknown
/// tier or action type is ignored, an unknown rating becomes UNKNOWN).
fn check_spellings(o: &Map<String, Value>, path: &str, w: &mut Vec<ImportWarning>) -> AppResult<()> {
    let p = |k: &str| format!("{path}.{k}");
    let present = |k: &str| -> AppResult<Option<String>> {
        Ok(string(get(o, k), &p(k))?.filter(|s| !s.trim().is_empty()))
    };
    if let Some(t) = present("tier")?
        && Tier::normalize(&t).is_none()
    {
        warn(
            w,
            p("tier"),
            format!("unknown tier {t:?} (known: Core, Defense In Depth, Advanced); ignored"),
        );
    }
    for k in ["userImpact", "implementationCost"] {
        if let Some(l) = present(k)?
            && Level::normalize(&l) == Level::Unknown
            && !l.trim().eq_ignore_ascii_case("unknown")
        {
            warn(
                w,
                p(k),
                format!("unknown {k} {l:?} (known: Low, Moderate/Medium, High); taken as UNKNOWN"),
            );
        }
    }
    if let Some(a) = present("actionType")?
        && !known_action_type(&a)
    {
        warn(
            w,
            p("actionType"),
            format!("unknown actionType {a:?} (known: Config, Review, Behavior); ignored"),
        );
    }
    Ok(())
}

fn parse_profile(v: &Value, path: &str, w: &mut Vec<ImportWarning>) -> AppResult<Profile> {
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
            let mut latest: Option<(String, StateUpdate)> = None;
            for (i, u) in list.iter().enumerate() {
                let up = format!("{}.{i}", p("controlStateUpdates"));
                let uo = object(u, &up)?;
                let Some(s) = string(get(uo, "state"), &format!("{up}.state"))? else {
                    continue;
                };
                let update = StateUpdate {
                    state: s,
                    comment: text(get(uo, "comment"), &format!("{up}.comment"))?
                        .filter(|c| !c.trim().is_empty()),
                    updated_by: string(get(uo, "updatedBy"), &format!("{up}.updatedBy"))?
                        .filter(|c| !c.trim().is_empty()),
                    updated_at: time(get(uo, "updatedDateTime"), &format!("{up}.updatedDateTime"))?,
                };
                // The latest by updatedDateTime; entries without a time count as oldest, and
                // among equals the later entry in the list wins.
                if latest
                    .as_ref()
                    .is_none_or(|(_, l)| update.updated_at >= l.updated_at)
                {
                    latest = Some((format!("{up}.state"), update));
                }
            }
            if let Some((sp, u)) = &latest
                && Status::from_graph_state(&u.state).is_none()
            {
                warn(
                    w,
                    sp.clone(),
                    format!(
                        "unknown state {:?} (known: Default, Ignored, ThirdParty, Reviewed); the status is left as it is",
                        u.state
                    ),
                );
            }
            state = latest.map(|(_, u)| u);
        }
        Some(_) => {
            return Err(bad(
                &p("controlStateUpdates"),
                format!("{} must be a list", p("controlStateUpdates")),
            ));
        }
    }
    check_spellings(o, path, w)?;
    let category = string(get(o, "controlCategory"), &p("controlCategory"))?;
    check_category(category.as_deref(), &p("controlCategory"), w);
    // A profile's max is worth keeping the import for: an unusable one is absent, with a warning.
    let max_score = match decimal(get(o, "maxScore"), &p("maxScore")) {
        Ok(Some(m)) if m < Decimal::ZERO => {
            warn(
                w,
                p("maxScore"),
                format!("maxScore {m} is negative; treated as absent"),
            );
            None
        }
        Ok(m) => m,
        Err(_) => {
            warn(
                w,
                p("maxScore"),
                format!(
                    "maxScore {} is not a number; treated as absent",
                    get(o, "maxScore").unwrap_or(&Value::Null)
                ),
            );
            None
        }
    };
    let action_url = match string(get(o, "actionUrl"), &p("actionUrl"))?.filter(|s| !s.trim().is_empty()) {
        None => None,
        Some(raw) => {
            let url = https_url(&raw);
            if url.is_none() {
                warn(
                    w,
                    p("actionUrl"),
                    format!("actionUrl {raw:?} is not an absolute https: URL; dropped"),
                );
            }
            url
        }
    };
    Ok(Profile {
        id,
        path: path.to_string(),
        azure_tenant_id: string(get(o, "azureTenantId"), &p("azureTenantId"))?
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty()),
        title: title(get(o, "title"), &p("title"))?,
        action_type: string(get(o, "actionType"), &p("actionType"))?,
        action_url,
        category,
        deprecated: boolean(get(o, "deprecated"), &p("deprecated"))?,
        implementation_cost: string(get(o, "implementationCost"), &p("implementationCost"))?,
        max_score,
        rank: integer(get(o, "rank"), &p("rank"))?.and_then(|r| i32::try_from(r).ok()),
        remediation: text(get(o, "remediation"), &p("remediation"))?,
        remediation_impact: text(get(o, "remediationImpact"), &p("remediationImpact"))?,
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

/// The items a document holds, or the document itself, for recognising what it is.
fn candidates(doc: &Value) -> Vec<&Value> {
    match doc {
        Value::Array(list) => list.iter().collect(),
        Value::Object(o) => match get(o, "value") {
            Some(Value::Array(list)) => list.iter().collect(),
            _ => vec![doc],
        },
        _ => Vec::new(),
    }
}

/// The `@odata.context` of a document, lower-cased.
fn context(doc: &Value) -> Option<String> {
    get(doc.as_object()?, "@odata.context")?
        .as_str()
        .map(str::to_ascii_lowercase)
}

/// A `secureScoreControlProfile`: an `id` with a category or max, and none of a daily record's
/// keys.
fn looks_like_profile(v: &Value) -> bool {
    v.as_object().is_some_and(|o| {
        get(o, "id").is_some()
            && (get(o, "controlCategory").is_some() || get(o, "maxScore").is_some())
            && ["createdDateTime", "currentScore", "controlScores"]
                .iter()
                .all(|k| get(o, k).is_none())
    })
}

/// A daily `secureScore` record.
fn looks_like_record(v: &Value) -> bool {
    v.as_object().is_some_and(|o| {
        [
            "createdDateTime",
            "currentScore",
            "controlScores",
            "averageComparativeScores",
        ]
        .iter()
        .any(|k| get(o, k).is_some())
    })
}

/// Refuses documents passed in each other's place, saying where they belong.
fn check_kinds(docs: &ImportDocuments) -> AppResult<()> {
    let profiles_context =
        |doc: &Value| context(doc).is_some_and(|c| c.contains("securescorecontrolprofiles"));
    if profiles_context(&docs.secure_scores)
        || candidates(&docs.secure_scores)
            .into_iter()
            .any(looks_like_profile)
    {
        return Err(bad(
            "secureScores",
            "secureScores looks like control profiles (the body of GET /security/secureScoreControlProfiles: \
             items with id, controlCategory and maxScore but no createdDateTime); they belong in controlProfiles",
        ));
    }
    for doc in &docs.control_profiles {
        let scores_context =
            context(doc).is_some_and(|c| c.contains("securescores")) && !profiles_context(doc);
        if scores_context || candidates(doc).into_iter().any(looks_like_record) {
            return Err(bad(
                "controlProfiles",
                "controlProfiles looks like secureScores records (the body of GET /security/secureScores: \
                 items with createdDateTime, currentScore and controlScores); they belong in secureScores",
            ));
        }
    }
    Ok(())
}

/// The `@odata.nextLink` of a collection body, if any.
fn next_link(doc: &Value) -> Option<String> {
    let link = get(doc.as_object()?, "@odata.nextLink")?;
    Some(link.as_str().map_or_else(|| link.to_string(), str::to_string))
}

/// Parses both documents (pure).
pub fn parse(docs: &ImportDocuments) -> AppResult<Parsed> {
    check_kinds(docs)?;
    let mut warnings = Vec::new();
    if let Some(link) = next_link(&docs.secure_scores) {
        warn(
            &mut warnings,
            "secureScores.@odata.nextLink",
            format!(
                "the export is incomplete: the next page of secureScores ({link}) is missing; \
                 fetch every page and import them together"
            ),
        );
    }
    // Per day: the record and the warnings about it (dropped with it).
    let mut by_day: BTreeMap<NaiveDate, (ScoreRecord, Vec<ImportWarning>)> = BTreeMap::new();
    for (index, (path, v)) in items(&docs.secure_scores, "secureScores", "createdDateTime")?
        .into_iter()
        .enumerate()
    {
        let mut w = Vec::new();
        let r = parse_record(index, v, &path, &mut w)?;
        let day = r.day;
        match by_day.get(&day) {
            None => {
                by_day.insert(day, (r, w));
            }
            Some((old, _)) => {
                // The later createdDateTime wins; on a tie, the later one in the document.
                let (kept, dropped) = if old.created > r.created {
                    (old, &r)
                } else {
                    (&r, old)
                };
                let message = format!(
                    "two records for {day}: {} (createdDateTime {}) kept, {} (createdDateTime {}) dropped; \
                     the later createdDateTime wins, on a tie the later one in the document",
                    kept.path,
                    kept.created.to_rfc3339(),
                    dropped.path,
                    dropped.created.to_rfc3339()
                );
                warn(&mut warnings, dropped.path.clone(), message);
                if old.created <= r.created {
                    by_day.insert(day, (r, w));
                }
            }
        }
    }
    if by_day.is_empty() {
        return Err(bad("secureScores", "secureScores holds no daily records"));
    }
    let mut records = Vec::with_capacity(by_day.len());
    for (r, w) in by_day.into_values() {
        records.push(r);
        warnings.extend(w);
    }
    let mut profiles: Vec<Profile> = Vec::new();
    let pages = docs.control_profiles.len();
    for (page, doc) in docs.control_profiles.iter().enumerate() {
        let base = if pages == 1 {
            "controlProfiles".to_string()
        } else {
            format!("controlProfiles.{page}")
        };
        // A page that links to a next one is complete when that page follows it here.
        if page + 1 == pages
            && let Some(link) = next_link(doc)
        {
            warn(
                &mut warnings,
                format!("{base}.@odata.nextLink"),
                format!(
                    "the export is incomplete: controlProfiles page {} ({link}) is missing; \
                     fetch every page and import them together",
                    page + 2
                ),
            );
        }
        for (path, v) in items(doc, &base, "id")? {
            let p = parse_profile(v, &path, &mut warnings)?;
            if let Some(at) = profiles.iter().position(|x| x.id == p.id) {
                let old = profiles.remove(at);
                warn(
                    &mut warnings,
                    old.path,
                    format!(
                        "profile {} is listed again at {path}; the later entry is kept",
                        p.id
                    ),
                );
            }
            profiles.push(p);
        }
    }
    Ok(Parsed {
        records,
        profiles,
        warnings,
    })
}

/// The catalog service (`EXO`, `SPO`, `AzureAD`, `MDO`, `MDATP`, `MIP`, `MCAS`, `Azure ATP`,
/// `Intune`, `MS Teams`, `FORMS`) a Graph `enabledServices` flag (`HasEXOP2`) stands for,
/// case-insensitively and with or without the `Has` prefix; `None` for a flag not known here.
pub fn service_of_flag(flag: &str) -> Option<&'static str> {
    let f = flag.trim().to_ascii_lowercase();
    let key = f.strip_prefix("has").unwrap_or(&f);
    Some(match key {
        "exop1" | "exop2" | "eop" | "exchange" | "exo" => "EXO",
        "spop1" | "spop2" | "sharepoint" | "od4b" | "onedrive" | "spo" => "SPO",
        "aadp1" | "aadp2" | "azuread" | "aad" | "entra" => "AzureAD",
        "mdop1" | "mdop2" | "atp" | "oatp" | "mdo" => "MDO",
        "mdep1" | "mdep2" | "wdatp" | "mdatp" | "mde" => "MDATP",
        "aipp1" | "aipp2" | "mip" | "aip" => "MIP",
        "mcas" | "cas" | "cloudappsecurity" => "MCAS",
        "aatp" | "mdi" | "azureatp" => "Azure ATP",
        "intune" => "Intune",
        "teams" | "msteams" => "MS Teams",
        "forms" => "FORMS",
        _ => return None,
    })
}

fn gcd(mut a: i128, mut b: i128) -> i128 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// `a / b` as a reduced fraction of integers, for `a ≥ 0` and `b > 0`: both decimals scaled to
/// integers by one power of ten, then divided by their gcd. `None` if it does not fit in `i64`.
fn fraction(a: Decimal, b: Decimal) -> Option<(i64, i64)> {
    let (a, b) = (a.normalize(), b.normalize());
    let scale = a.scale().max(b.scale());
    let int = |d: Decimal| d.mantissa().checked_mul(10i128.checked_pow(scale - d.scale())?);
    let (n, t) = (int(a)?, int(b)?);
    if n < 0 || t <= 0 {
        return None;
    }
    let g = gcd(n, t);
    Some((i64::try_from(n / g).ok()?, i64::try_from(t / g).ok()?))
}

/// The (implemented, total) a control score stands for, chosen so that
/// `max × implemented / total` is exactly the reported `score` whenever `score` and `max` are
/// known (`0 ≤ score`, `max > 0`; a score above the max counts as the max):
/// - `count`/`total` when present and they give exactly that score (or, without a score and
///   max, exactly `scoreInPercentage`);
/// - otherwise the reduced fraction `score / max`;
/// - otherwise `scoreInPercentage` as an exact fraction of 100 (33.33 → 3333/10000);
/// - otherwise `count`/`total` (count clamped into `0..=total`);
/// - otherwise the `on` flag as 1 of 1.
pub fn progress_of(c: &ControlScore, max: Option<Decimal>) -> Option<(i64, i64)> {
    let counts = match (c.count, c.total) {
        (Some(n), Some(t)) if t > 0 => Some((n.clamp(0, t), t)),
        _ => None,
    };
    // The share of the max the vendor scored, exactly.
    let share = match (c.score, max) {
        (Some(s), Some(m)) if m > Decimal::ZERO && s >= Decimal::ZERO => fraction(s.min(m), m),
        _ => None,
    }
    .or_else(|| {
        c.score_in_percentage
            .filter(|p| *p >= Decimal::ZERO)
            .and_then(|p| fraction(p.min(Decimal::ONE_HUNDRED), Decimal::ONE_HUNDRED))
    });
    match (counts, share) {
        (Some((n, t)), Some((a, b))) if i128::from(n) * i128::from(b) == i128::from(a) * i128::from(t) => {
            Some((n, t))
        }
        (_, Some(share)) => Some(share),
        (Some(counts), None) => Some(counts),
        (None, None) => c.on.map(|on| (i64::from(on), 1)),
    }
}

/// The max points a control score implies: `score / scoreInPercentage × 100`, to 4 decimal
/// places; `None` when unknown or not a plausible points value (≤ 0 or above 1000).
pub fn derived_max(c: &ControlScore) -> Option<Decimal> {
    match (c.score, c.score_in_percentage) {
        (Some(s), Some(p)) if p > Decimal::ZERO && s > Decimal::ZERO => {
            let max = s.checked_mul(Decimal::ONE_HUNDRED)?.checked_div(p)?.round_dp(4);
            (max > Decimal::ZERO && max <= Decimal::from(1000)).then_some(max)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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

    /// A daily record created at `created`, with `extra` keys merged in.
    fn record(created: &str, extra: Value) -> Value {
        let mut r = json!({ "createdDateTime": created, "currentScore": 1, "maxScore": 2 });
        if let (Some(o), Value::Object(e)) = (r.as_object_mut(), extra) {
            o.extend(e);
        }
        r
    }

    fn one_record() -> Value {
        record("2024-05-01T00:00:00Z", json!({}))
    }

    fn warning_paths(p: &Parsed) -> Vec<&str> {
        p.warnings.iter().map(|w| w.path.as_str()).collect()
    }

    #[test]
    fn a_next_link_is_a_warning_that_a_page_is_missing() {
        let profile = |id: &str| json!({ "id": id });
        let cases = [
            (
                json!({ "value": [one_record()], "@odata.nextLink": "https://graph.microsoft.com/beta/security/secureScores?$skip=1" }),
                vec![json!({ "value": [profile("A")] })],
                vec!["secureScores.@odata.nextLink"],
                "secureScores has a next page",
            ),
            (
                json!({ "value": [one_record()] }),
                vec![json!({ "value": [profile("A")], "@odata.nextLink": "https://graph/next" })],
                vec!["controlProfiles.@odata.nextLink"],
                "the only profiles page has a next page",
            ),
            (
                json!({ "value": [one_record()] }),
                vec![
                    json!({ "value": [profile("A")], "@odata.nextLink": "https://graph/p2" }),
                    json!({ "value": [profile("B")], "@odata.nextLink": "https://graph/p3" }),
                ],
                vec!["controlProfiles.1.@odata.nextLink"],
                "the last of two pages has a next page",
            ),
            (
                json!({ "value": [one_record()] }),
                vec![
                    json!({ "value": [profile("A")], "@odata.nextLink": "https://graph/p2" }),
                    json!({ "value": [profile("B")] }),
                ],
                vec![],
                "the page a link names was given: complete",
            ),
        ];
        for (scores, pages, expected, why) in cases {
            let parsed = parse(&docs(scores, pages)).expect(why);
            assert_eq!(warning_paths(&parsed), expected, "{why}");
            for w in &parsed.warnings {
                assert!(
                    w.message.contains("incomplete") && w.message.contains("missing"),
                    "{why}: {}",
                    w.message
                );
            }
        }
        let parsed = parse(&docs(
            json!({ "value": [one_record()], "@odata.nextLink": "https://graph/next" }),
            vec![json!({ "value": [], "@odata.nextLink": "https://graph/p2" })],
        ))
        .expect("parses");
        assert!(
            parsed.warnings[0].message.contains("https://graph/next"),
            "names the missing page"
        );
        assert!(
            parsed.warnings[1].message.contains("page 2"),
            "names the missing page number"
        );
    }

    #[test]
    fn two_records_for_one_day_keep_the_later_and_say_so() {
        let at = |t: &str, score: i64| record(t, json!({ "currentScore": score }));
        let cases = [
            (
                vec![at("2024-05-01T08:00:00Z", 1), at("2024-05-01T09:00:00Z", 2)],
                2,
                "secureScores.value.0",
                "later createdDateTime, later in the document",
            ),
            (
                vec![at("2024-05-01T09:00:00Z", 1), at("2024-05-01T08:00:00Z", 2)],
                1,
                "secureScores.value.1",
                "later createdDateTime, earlier in the document",
            ),
            (
                vec![at("2024-05-01T08:00:00Z", 1), at("2024-05-01T08:00:00Z", 2)],
                2,
                "secureScores.value.0",
                "a tie: the later one in the document",
            ),
        ];
        for (list, kept, dropped, why) in cases {
            let parsed = parse(&docs(json!({ "value": list }), vec![])).expect(why);
            assert_eq!(parsed.records.len(), 1, "{why}");
            assert_eq!(parsed.records[0].current_score, Decimal::from(kept), "{why}");
            assert_eq!(warning_paths(&parsed), vec![dropped], "{why}");
            let m = &parsed.warnings[0].message;
            assert!(
                m.contains("secureScores.value.0")
                    && m.contains("secureScores.value.1")
                    && m.contains("2024-05-01"),
                "{why}: names both paths and the day: {m}"
            );
        }
    }

    #[test]
    fn implausible_counts_are_clamped_with_a_warning() {
        let cases = [
            (json!(3), json!(4), (Some(3), Some(4)), vec![], "plausible"),
            (
                json!(-1),
                json!(4),
                (Some(0), Some(4)),
                vec![".count"],
                "negative count",
            ),
            (
                json!(9),
                json!(4),
                (Some(4), Some(4)),
                vec![".count"],
                "count > total",
            ),
            (
                json!("5"),
                json!("0"),
                (Some(0), Some(0)),
                vec![".count"],
                "count > a zero total",
            ),
            (
                json!(2),
                json!(-4),
                (Some(2), None),
                vec![".total"],
                "negative total",
            ),
            (
                json!(-2),
                json!(-4),
                (Some(0), None),
                vec![".total", ".count"],
                "both negative",
            ),
        ];
        for (count, total, expected, suffixes, why) in cases {
            let scores = record(
                "2024-05-01T00:00:00Z",
                json!({ "controlScores": [{ "controlName": "B" }, { "controlName": "A", "count": count, "total": total }] }),
            );
            let parsed = parse(&docs(scores, vec![])).expect(why);
            let c = &parsed.records[0].controls[1];
            assert_eq!((c.count, c.total), expected, "{why}");
            let paths: Vec<String> = suffixes
                .iter()
                .map(|s| format!("secureScores.controlScores.1{s}"))
                .collect();
            assert_eq!(warning_paths(&parsed), paths, "{why}");
        }
    }

    #[test]
    fn record_totals_must_be_non_negative_numbers() {
        let cases = [
            (
                json!({ "currentScore": -1 }),
                "secureScores.currentScore",
                "negative currentScore",
            ),
            (
                json!({ "maxScore": "-0.5" }),
                "secureScores.maxScore",
                "negative maxScore",
            ),
            (
                json!({ "maxScore": "lots" }),
                "secureScores.maxScore",
                "non-numeric maxScore",
            ),
        ];
        for (extra, expected, why) in cases {
            let err = parse(&docs(record("2024-05-01T00:00:00Z", extra), vec![])).expect_err(why);
            let AppError::BadUserInput { field, message: m } = err else {
                panic!("{why}: expected BAD_USER_INPUT, got {err:?}");
            };
            assert_eq!(field.join("."), expected, "{why}");
            assert!(m.contains(expected), "{why}: the message names the field: {m}");
        }
    }

    #[test]
    fn an_unusable_profile_max_is_absent_with_a_warning() {
        let cases = [
            (json!(10), Some(d("10")), false, "a number"),
            (json!("7.5"), Some(d("7.5")), false, "a numeric string"),
            (Value::Null, None, false, "null is absent"),
            (json!(-3), None, true, "negative"),
            (json!("ten"), None, true, "not a number"),
            (json!([1]), None, true, "not even a scalar"),
        ];
        for (max, expected, warned, why) in cases {
            let page = json!({ "value": [{ "id": "A" }, { "id": "B", "maxScore": max }] });
            let parsed = parse(&docs(one_record(), vec![page])).expect(why);
            assert_eq!(parsed.profiles[1].max_score, expected, "{why}");
            let expected_paths = if warned {
                vec!["controlProfiles.value.1.maxScore"]
            } else {
                vec![]
            };
            assert_eq!(warning_paths(&parsed), expected_paths, "{why}");
        }
    }

    #[test]
    fn duplicate_benchmarks_keep_the_more_detailed_row() {
        let all = |figures: Value| {
            let mut b = json!({ "basis": "AllTenants", "averageScore": 37 });
            if let (Some(o), Value::Object(f)) = (b.as_object_mut(), figures) {
                o.extend(f);
            }
            b
        };
        let seats = |lower: &str| json!({ "basis": "TotalSeats", "averageScore": 46, "seatSizeRangeLowerValue": lower, "seatSizeRangeUpperValue": "99" });
        let cases = [
            (
                vec![all(json!({ "identityScore": 1 })), all(json!({}))],
                vec![1],
                vec!["secureScores.averageComparativeScores.1"],
                "the earlier row is more detailed",
            ),
            (
                vec![all(json!({})), all(json!({ "identityScore": 1, "dataScore": 2 }))],
                vec![2],
                vec!["secureScores.averageComparativeScores.0"],
                "the later row is more detailed",
            ),
            (
                vec![all(json!({ "identityScore": 1 })), all(json!({ "dataScore": 2 }))],
                vec![1],
                vec!["secureScores.averageComparativeScores.0"],
                "a tie: the later row",
            ),
            (
                vec![seats("6"), seats("100"), all(json!({}))],
                vec![0, 0, 0],
                vec![],
                "different basis values are different cohorts",
            ),
        ];
        for (list, figures, dropped, why) in cases {
            let parsed = parse(&docs(
                record(
                    "2024-05-01T00:00:00Z",
                    json!({ "averageComparativeScores": list }),
                ),
                vec![],
            ))
            .expect(why);
            let got: Vec<usize> = parsed.records[0]
                .benchmarks
                .iter()
                .map(|b| b.figures.len())
                .collect();
            assert_eq!(got, figures, "{why}");
            assert_eq!(warning_paths(&parsed), dropped, "{why}");
        }
        let parsed = parse(&docs(
            record(
                "2024-05-01T00:00:00Z",
                json!({ "averageComparativeScores": [all(json!({})), all(json!({ "dataScore": 2 }))] }),
            ),
            vec![],
        ))
        .expect("parses");
        assert_eq!(
            parsed.records[0].benchmarks[0].figures.get("dataScore"),
            Some(&d("2")),
            "the kept row is the detailed one"
        );
    }

    #[test]
    fn only_https_action_urls_are_kept() {
        let cases = [
            (
                json!("https://security.microsoft.com/a"),
                Some("https://security.microsoft.com/a"),
                false,
                "https",
            ),
            (
                json!(" HTTPS://Admin.Microsoft.com "),
                Some("https://admin.microsoft.com/"),
                false,
                "normalised",
            ),
            (json!(""), None, false, "empty is absent"),
            (json!("http://example.com"), None, true, "http"),
            (json!("javascript:alert(1)"), None, true, "javascript:"),
            (json!("/relative"), None, true, "relative"),
        ];
        for (url, expected, warned, why) in cases {
            let page = json!({ "value": [{ "id": "A" }, { "id": "B" }, { "id": "C", "actionUrl": url }] });
            let parsed = parse(&docs(one_record(), vec![page])).expect(why);
            assert_eq!(parsed.profiles[2].action_url.as_deref(), expected, "{why}");
            let paths = if warned {
                vec!["controlProfiles.value.2.actionUrl"]
            } else {
                vec![]
            };
            assert_eq!(warning_paths(&parsed), paths, "{why}");
        }
    }

    #[test]
    fn unknown_spellings_are_kept_with_a_warning() {
        let cases = [
            ("controlCategory", json!("Identity"), false, "known category"),
            ("controlCategory", json!("Networking"), true, "unknown category"),
            ("tier", json!("Defense In Depth"), false, "known tier"),
            ("tier", json!("Premium"), true, "unknown tier"),
            ("userImpact", json!("Medium"), false, "Medium is Moderate"),
            ("userImpact", json!("Unknown"), false, "Unknown is a rating"),
            ("userImpact", json!("Severe"), true, "unknown rating"),
            ("implementationCost", json!("low"), false, "known cost"),
            ("implementationCost", json!("Cheap"), true, "unknown cost"),
            ("actionType", json!("Behaviour"), false, "known action type"),
            ("actionType", json!("Training"), true, "unknown action type"),
            ("tier", json!(""), false, "empty is absent"),
        ];
        for (key, value, warned, why) in cases {
            let page = json!({ "value": [{ "id": "A", key: value.clone() }] });
            let parsed = parse(&docs(one_record(), vec![page])).expect(why);
            let paths = if warned {
                vec![format!("controlProfiles.value.0.{key}")]
            } else {
                vec![]
            };
            assert_eq!(warning_paths(&parsed), paths, "{why}");
        }
        let states = [
            (json!([{ "state": "Ignored" }]), vec![], "known state"),
            (
                json!([{ "state": "Snoozed" }]),
                vec!["controlProfiles.value.0.controlStateUpdates.0.state"],
                "unknown state",
            ),
            (
                json!([{ "state": "Snoozed", "updatedDateTime": "2024-01-01T00:00:00Z" }, { "state": "Default", "updatedDateTime": "2024-02-01T00:00:00Z" }]),
                vec![],
                "only the latest state matters",
            ),
        ];
        for (updates, paths, why) in states {
            let page = json!({ "value": [{ "id": "A", "controlStateUpdates": updates }] });
            let parsed = parse(&docs(one_record(), vec![page])).expect(why);
            assert_eq!(warning_paths(&parsed), paths, "{why}");
        }
        let scores = record(
            "2024-05-01T00:00:00Z",
            json!({ "controlScores": [{ "controlName": "A", "controlCategory": "Networking" }] }),
        );
        let parsed = parse(&docs(scores, vec![])).expect("parses");
        assert_eq!(
            warning_paths(&parsed),
            vec!["secureScores.controlScores.0.controlCategory"],
            "a control score's category too"
        );
        assert_eq!(
            parsed.records[0].controls[0].category.as_deref(),
            Some("Networking"),
            "kept as reported"
        );
    }

    #[test]
    fn entries_listed_twice_keep_the_later_one_and_say_so() {
        let scores = record(
            "2024-05-01T00:00:00Z",
            json!({ "controlScores": [
                { "controlName": "A", "score": 1 }, { "controlName": "B" }, { "controlName": "A", "score": 2 }
            ] }),
        );
        let pages = vec![
            json!({ "value": [{ "id": "P", "title": "old" }] }),
            json!({ "value": [{ "id": "P", "title": "new" }] }),
        ];
        let parsed = parse(&docs(scores, pages)).expect("parses");
        let c = &parsed.records[0].controls;
        assert_eq!(c.len(), 2, "one entry per control");
        assert_eq!(c[1].score, Some(d("2")), "the later control score wins");
        assert_eq!(parsed.profiles.len(), 1, "one profile per id");
        assert_eq!(
            parsed.profiles[0].title.as_deref(),
            Some("new"),
            "the later profile wins"
        );
        assert_eq!(
            warning_paths(&parsed),
            vec!["secureScores.controlScores.0", "controlProfiles.0.value.0"],
            "the dropped entries are named"
        );
    }

    #[test]
    fn html_in_titles_and_texts_becomes_plain_text() {
        let page = json!({ "value": [{
            "id": "A",
            "title": "<b>Require</b>\n MFA <br/>for admins",
            "remediation": "<p>Go to <a href=\"https://aad.portal.azure.com\">Azure AD</a>.</p><script>alert(1)</script>",
            "remediationImpact": "Users &amp; admins",
            "controlStateUpdates": [{ "state": "Reviewed", "comment": "<i>done</i> &lt;ok&gt;" }]
        }, {
            "id": "B",
            "title": "Plain title",
            "controlStateUpdates": [{ "state": "Reviewed", "comment": "<p> </p>" }]
        }] });
        let scores = record(
            "2024-05-01T00:00:00Z",
            json!({ "controlScores": [{
                "controlName": "A",
                "description": "<div>Turn on <b>MFA</b></div>",
                "implementationStatus": "<p>You have <b>3</b> of 4 admins</p>"
            }] }),
        );
        let parsed = parse(&docs(scores, vec![page])).expect("parses");
        let (a, b) = (&parsed.profiles[0], &parsed.profiles[1]);
        let c = &parsed.records[0].controls[0];
        let state = |p: &Profile| p.state.as_ref().and_then(|s| s.comment.clone());
        let cases = [
            (
                a.title.clone(),
                Some("Require MFA for admins"),
                "a title is one line of plain text",
            ),
            (b.title.clone(), Some("Plain title"), "plain text is kept"),
            (
                a.remediation.clone(),
                Some("Go to Azure AD."),
                "tags and scripts removed",
            ),
            (
                a.remediation_impact.clone(),
                Some("Users & admins"),
                "entities decoded",
            ),
            (state(a), Some("done <ok>"), "a comment"),
            (state(b), None, "a comment of nothing but markup is absent"),
            (
                c.description.clone(),
                Some("Turn on MFA"),
                "a control score's description",
            ),
            (
                c.implementation_status.clone(),
                Some("You have 3 of 4 admins"),
                "implementationStatus",
            ),
        ];
        for (got, expected, why) in cases {
            assert_eq!(got.as_deref(), expected, "{why}");
        }
    }

    #[test]
    fn a_bare_list_of_profiles_is_accepted() {
        let cases = [
            (
                json!([{ "id": "A", "maxScore": 5 }, { "id": "B" }]),
                vec!["A", "B"],
                "controlProfiles.1",
                "a bare list",
            ),
            (
                json!({ "value": [{ "id": "A" }, { "id": "B" }] }),
                vec!["A", "B"],
                "controlProfiles.value.1",
                "a Graph page",
            ),
            (
                json!({ "id": "B", "title": "x" }),
                vec!["B"],
                "controlProfiles",
                "a single profile",
            ),
        ];
        for (doc, ids, last_path, why) in cases {
            let parsed = parse(&docs(one_record(), vec![doc])).expect(why);
            let got: Vec<&str> = parsed.profiles.iter().map(|p| p.id.as_str()).collect();
            assert_eq!(got, ids, "{why}");
            assert_eq!(
                parsed.profiles.last().map(|p| p.path.as_str()),
                Some(last_path),
                "{why}"
            );
        }
    }

    #[test]
    fn documents_in_each_others_place_are_refused_saying_where_they_belong() {
        let profile = json!({ "id": "AdminMFA", "controlCategory": "Identity", "maxScore": 10 });
        let scores_context = "https://graph.microsoft.com/v1.0/$metadata#Security/secureScores";
        let profiles_context =
            "https://graph.microsoft.com/v1.0/$metadata#Security/secureScoreControlProfiles";
        let cases = [
            (
                json!({ "value": [profile.clone()] }),
                vec![],
                "secureScores",
                "belong in controlProfiles",
                "a profiles page as secureScores",
            ),
            (
                json!([profile.clone()]),
                vec![],
                "secureScores",
                "belong in controlProfiles",
                "a bare list of profiles as secureScores",
            ),
            (
                profile.clone(),
                vec![],
                "secureScores",
                "belong in controlProfiles",
                "a single profile as secureScores",
            ),
            (
                json!({ "@odata.context": profiles_context, "value": [] }),
                vec![],
                "secureScores",
                "looks like control profiles",
                "the context names secureScoreControlProfiles",
            ),
            (
                one_record(),
                vec![json!({ "value": [one_record()] })],
                "controlProfiles",
                "belong in secureScores",
                "records as controlProfiles",
            ),
            (
                one_record(),
                vec![one_record()],
                "controlProfiles",
                "belong in secureScores",
                "a single record as controlProfiles",
            ),
            (
                one_record(),
                vec![
                    json!({ "value": [] }),
                    json!({ "@odata.context": scores_context, "value": [] }),
                ],
                "controlProfiles",
                "looks like secureScores records",
                "the context names secureScores",
            ),
        ];
        for (scores, pages, expected, says, why) in cases {
            let err = parse(&docs(scores, pages)).expect_err(why);
            let m = message_and_field(err, expected, why);
            assert!(m.contains(says), "{why}: {m}");
        }
        let ok = docs(
            json!({ "@odata.context": scores_context, "value": [one_record()] }),
            vec![json!({ "@odata.context": profiles_context, "value": [profile] })],
        );
        parse(&ok).expect("each in its place");
    }

    fn message_and_field(e: AppError, expected_field: &str, why: &str) -> String {
        match e {
            AppError::BadUserInput { field, message } => {
                assert_eq!(field.join("."), expected_field, "{why}");
                message
            }
            other => panic!("{why}: expected BAD_USER_INPUT, got {other:?}"),
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

    fn control() -> ControlScore {
        ControlScore {
            control_id: "A".into(),
            category: None,
            description: None,
            score: None,
            score_in_percentage: None,
            count: None,
            total: None,
            on: None,
            implementation_status: None,
        }
    }

    #[test]
    fn progress_gives_the_reported_score_exactly() {
        let base = control();
        let cases = [
            (
                ControlScore {
                    count: Some(1),
                    total: Some(4),
                    score: Some(d("2.5")),
                    ..base.clone()
                },
                Some(d("10")),
                Some((1, 4)),
                "counts that give the score",
            ),
            (
                ControlScore {
                    count: Some(1),
                    total: Some(3),
                    score: Some(d("3.33")),
                    ..base.clone()
                },
                Some(d("10")),
                Some((333, 1000)),
                "counts that do not give the score: score / max",
            ),
            (
                ControlScore {
                    score: Some(d("5")),
                    ..base.clone()
                },
                Some(d("10")),
                Some((1, 2)),
                "score over max, reduced",
            ),
            (
                ControlScore {
                    score: Some(d("35.0")),
                    ..base.clone()
                },
                Some(d("35")),
                Some((1, 1)),
                "the full score, whatever the scale",
            ),
            (
                ControlScore {
                    score: Some(d("0")),
                    count: Some(2),
                    total: Some(5),
                    ..base.clone()
                },
                Some(d("8")),
                Some((0, 1)),
                "a zero score beats counts",
            ),
            (
                ControlScore {
                    score: Some(d("12")),
                    ..base.clone()
                },
                Some(d("10")),
                Some((1, 1)),
                "a score above the max counts as the max",
            ),
            (
                ControlScore {
                    count: Some(3),
                    total: Some(4),
                    score_in_percentage: Some(d("75")),
                    ..base.clone()
                },
                None,
                Some((3, 4)),
                "counts that give the percentage",
            ),
            (
                ControlScore {
                    count: Some(3),
                    total: Some(4),
                    score_in_percentage: Some(d("10")),
                    ..base.clone()
                },
                None,
                Some((1, 10)),
                "counts that contradict the percentage: the percentage",
            ),
            (
                ControlScore {
                    score_in_percentage: Some(d("33.33")),
                    ..base.clone()
                },
                None,
                Some((3333, 10000)),
                "a percentage, exactly",
            ),
            (
                ControlScore {
                    score_in_percentage: Some(d("66.5")),
                    ..base.clone()
                },
                None,
                Some((133, 200)),
                "a percentage, reduced",
            ),
            (
                ControlScore {
                    score: Some(d("5")),
                    score_in_percentage: Some(d("50")),
                    ..base.clone()
                },
                Some(d("0")),
                Some((1, 2)),
                "no usable max: the percentage",
            ),
            (
                ControlScore {
                    count: Some(9),
                    total: Some(4),
                    ..base.clone()
                },
                None,
                Some((4, 4)),
                "counts alone, clamped",
            ),
            (
                ControlScore {
                    count: Some(2),
                    total: Some(0),
                    on: Some(false),
                    ..base.clone()
                },
                None,
                Some((0, 1)),
                "a zero total is no count: the on flag",
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
            (base.clone(), Some(d("10")), None, "nothing known"),
        ];
        for (c, max, expected, why) in cases {
            let got = progress_of(&c, max);
            assert_eq!(got, expected, "{why}");
            if let (Some((i, t)), Some(s), Some(m)) = (got, c.score, max)
                && m > Decimal::ZERO
            {
                assert_eq!(m * Decimal::from(i) / Decimal::from(t), s.min(m), "{why}: exact");
            }
        }
    }

    #[test]
    fn derived_max_is_a_plausible_points_value() {
        let cases = [
            ("4", "40", Some(d("10")), "score / pct × 100"),
            ("1", "33.33", Some(d("3.0003")), "4 decimal places"),
            ("0", "50", None, "a zero score tells no max"),
            ("5", "0", None, "no percentage"),
            ("-5", "50", None, "a negative score"),
            ("20", "1", None, "above 1000 is not a points value"),
            ("10", "1", Some(d("1000")), "1000 is"),
        ];
        for (score, pct, expected, why) in cases {
            let c = ControlScore {
                score: Some(d(score)),
                score_in_percentage: Some(d(pct)),
                ..control()
            };
            assert_eq!(derived_max(&c), expected, "{why}");
        }
        assert_eq!(derived_max(&control()), None, "nothing known");
    }

    use proptest::prelude::{Just, Strategy};

    proptest::proptest! {
        #[test]
        fn progress_times_max_is_the_score_exactly(
            (max_cents, score_cents) in (100i64..=5000).prop_flat_map(|m| (Just(m), 0..=m)),
            normalized in proptest::bool::ANY,
            counts in proptest::option::of((0i64..=20, 1i64..=20)),
            pct_cents in proptest::option::of(0i64..=10000),
        ) {
            // Up to 2 decimals, as `12.50` or `12.5`.
            let (max, score) = (Decimal::new(max_cents, 2), Decimal::new(score_cents, 2));
            let (max, score) = if normalized { (max.normalize(), score.normalize()) } else { (max, score) };
            let c = ControlScore {
                score: Some(score),
                count: counts.map(|(n, _)| n),
                total: counts.map(|(_, t)| t),
                score_in_percentage: pct_cents.map(|p| Decimal::new(p, 2)),
                ..control()
            };
            let (i, t) = progress_of(&c, Some(max)).expect("known");
            proptest::prop_assert!(t > 0 && (0..=t).contains(&i));
            proptest::prop_assert_eq!(max * Decimal::from(i) / Decimal::from(t), score);
        }

        #[test]
        fn progress_is_the_percentage_exactly(pct_cents in 0i64..=10000) {
            let pct = Decimal::new(pct_cents, 2);
            let c = ControlScore { score_in_percentage: Some(pct), ..control() };
            let (i, t) = progress_of(&c, None).expect("known");
            proptest::prop_assert_eq!(Decimal::from(i) * Decimal::ONE_HUNDRED / Decimal::from(t), pct);
        }
    }

    #[test]
    fn service_flags_map_to_catalog_services() {
        let cases = [
            ("HasEXOP1", Some("EXO")),
            ("HasEXOP2", Some("EXO")),
            ("HasEOP", Some("EXO")),
            ("HasExchange", Some("EXO")),
            ("HasSPOP1", Some("SPO")),
            ("HasSPOP2", Some("SPO")),
            ("HasSharePoint", Some("SPO")),
            ("HasOD4B", Some("SPO")),
            ("HasAADP1", Some("AzureAD")),
            ("HasAADP2", Some("AzureAD")),
            ("HasAzureAD", Some("AzureAD")),
            ("HasMDOP1", Some("MDO")),
            ("HasMDOP2", Some("MDO")),
            ("HasATP", Some("MDO")),
            ("HasOATP", Some("MDO")),
            ("HasMDEP1", Some("MDATP")),
            ("HasMDEP2", Some("MDATP")),
            ("HasWDATP", Some("MDATP")),
            ("HasMDATP", Some("MDATP")),
            ("HasAIPP1", Some("MIP")),
            ("HasAIPP2", Some("MIP")),
            ("HasMIP", Some("MIP")),
            ("HasMCAS", Some("MCAS")),
            ("HasCAS", Some("MCAS")),
            ("HasAATP", Some("Azure ATP")),
            ("HasMDI", Some("Azure ATP")),
            ("HasIntune", Some("Intune")),
            ("HasInTune", Some("Intune")),
            ("HasTeams", Some("MS Teams")),
            ("HasForms", Some("FORMS")),
            ("hasexop2", Some("EXO")),
            (" HASAADP1 ", Some("AzureAD")),
            ("HasSomethingNew", None),
            ("", None),
        ];
        for (flag, service) in cases {
            assert_eq!(service_of_flag(flag), service, "{flag:?}");
        }
    }

    #[test]
    fn a_records_flags_resolve_to_services_with_unknown_ones_warned() {
        let cases = [
            (
                json!(["HasExchange", "HasSharePoint", "HasInTune"]),
                vec!["EXO", "SPO", "Intune"],
                vec![],
                "the Graph example",
            ),
            (
                json!(["HasEXOP1", "HasEXOP2", "hasexchange"]),
                vec!["EXO"],
                vec![],
                "de-duplicated",
            ),
            (
                json!(["HasAADP1", "HasQuantum", null, "HasMDI"]),
                vec!["AzureAD", "Azure ATP"],
                vec!["secureScores.enabledServices.1"],
                "an unknown flag is warned and not a service",
            ),
            (json!([]), vec![], vec![], "none"),
        ];
        for (flags, services, warned, why) in cases {
            let parsed = parse(&docs(
                record("2024-05-01T00:00:00Z", json!({ "enabledServices": flags })),
                vec![],
            ))
            .expect(why);
            let r = &parsed.records[0];
            assert_eq!(r.services, services, "{why}");
            assert_eq!(warning_paths(&parsed), warned, "{why}");
        }
        let parsed = parse(&docs(
            record(
                "2024-05-01T00:00:00Z",
                json!({ "enabledServices": ["HasEXOP2", "HasQuantum"] }),
            ),
            vec![],
        ))
        .expect("parses");
        assert_eq!(
            parsed.records[0].enabled_services,
            vec!["HasEXOP2", "HasQuantum"],
            "raw flags kept"
        );
    }
}
