//! The pure half of the Microsoft Graph import: turns the JSON documents of
//! `GET /security/secureScores` and `GET /security/secureScoreControlProfiles` into typed records
//! without touching the database. Lenient about what real payloads do (numbers as strings,
//! PascalCase seat-size keys, unknown keys, enum spellings), strict about shape: a document of the
//! wrong shape is refused with a `BAD_USER_INPUT` that names the field.

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

/// Who runs an import: an API caller (needs ADMIN on the tenant) or the system (CLI, scheduled

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
