//! Whether a tenant is licensed for an action, and how many seats it is short (SPEC §1
//! "Licensed").

use chrono::{DateTime, Utc};

/// One licence a tenant holds, reduced to what licensing needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeldLicense {
    /// Plan codes the licence grants, e.g. `AAD_P2`.
    pub plans: Vec<String>,
    /// Seats bought.
    pub seats_purchased: i64,
    /// When it lapses; `None` never.
    pub expires_at: Option<DateTime<Utc>>,
}

/// The licensing verdict for one action.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Licensing {
    /// No licence needed, or a qualifying licence is held.
    pub licensed: bool,
    /// Seats of the best qualifying licence; `None` when no licence is needed or none qualifies.
    pub best_seats: Option<i64>,
    /// `max(0, users_affected − best_seats)`; all affected users when none qualifies; 0 when no
    /// licence is needed.
    pub seat_shortfall: i64,
}

impl HeldLicense {
    /// Unexpired, with at least one seat, and granting one of `required_plans` (plan codes
    /// compare exactly).
    fn qualifies(&self, required_plans: &[String], now: DateTime<Utc>) -> bool {
        self.seats_purchased >= 1
            && self.expires_at.is_none_or(|at| at > now)
            && self.plans.iter().any(|plan| required_plans.contains(plan))
    }
}

/// Decides whether an action whose control requires any of `required_plans` is licensed for a
/// tenant holding `held`, at time `now`.
pub fn licensing(
    required_plans: &[String],
    held: &[HeldLicense],
    users_affected: i64,
    now: DateTime<Utc>,
) -> Licensing {
    if required_plans.is_empty() {
        return Licensing {
            licensed: true,
            best_seats: None,
            seat_shortfall: 0,
        };
    }
    let best_seats = held
        .iter()
        .filter(|licence| licence.qualifies(required_plans, now))
        .map(|licence| licence.seats_purchased)
        .max();
    let seat_shortfall = users_affected.saturating_sub(best_seats.unwrap_or(0)).max(0);
    Licensing {
        licensed: best_seats.is_some(),
        best_seats,
        seat_shortfall,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 5, 1, 0, 0, 0)
            .single()
            .expect("valid time")
    }

    fn plans(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| (*s).to_owned()).collect()
    }

    fn held(names: &[&str], seats: i64, expires_in_days: Option<i64>) -> HeldLicense {
        HeldLicense {
            plans: plans(names),
            seats_purchased: seats,
            expires_at: expires_in_days.map(|days| now() + chrono::Duration::days(days)),
        }
    }

    fn verdict(licensed: bool, best_seats: Option<i64>, seat_shortfall: i64) -> Licensing {
        Licensing {
            licensed,
            best_seats,
            seat_shortfall,
        }
    }

    #[test]
    fn licensing_cases() {
        let p1 = held(&["AAD_P1"], 50, None);
        let p2_small = held(&["AAD_P1", "AAD_P2"], 20, Some(30));
        let p2_big = held(&["AAD_P2"], 80, None);
        let expired = held(&["AAD_P2"], 500, Some(-1));
        let expiring_now = held(&["AAD_P2"], 500, Some(0));
        let no_seats = held(&["AAD_P2"], 0, None);
        let mdo = held(&["MDO_P1"], 1000, None);
        let p2 = plans(&["AAD_P2"]);

        #[rustfmt::skip]
        let cases = [
            (plans(&[]), vec![], 100, verdict(true, None, 0), "no plan required"),
            (plans(&[]), vec![mdo.clone()], 100, verdict(true, None, 0), "no plan required, licences held"),
            (p2.clone(), vec![], 100, verdict(false, None, 100), "nothing held"),
            (p2.clone(), vec![p1.clone(), mdo], 10, verdict(false, None, 10), "other plans only"),
            (p2.clone(), vec![p2_small.clone()], 30, verdict(true, Some(20), 10), "too few seats"),
            (p2.clone(), vec![p2_small, p2_big.clone()], 30, verdict(true, Some(80), 0), "best licence counts"),
            (plans(&["AAD_P1", "AAD_P2"]), vec![p1], 60, verdict(true, Some(50), 10), "any of the plans"),
            (p2.clone(), vec![expired], 10, verdict(false, None, 10), "expired licence"),
            (p2.clone(), vec![expiring_now], 10, verdict(false, None, 10), "expiring exactly now is expired"),
            (p2.clone(), vec![no_seats], 10, verdict(false, None, 10), "zero seats"),
            (p2.clone(), vec![p2_big], 0, verdict(true, Some(80), 0), "nobody affected"),
            (p2, vec![], -5, verdict(false, None, 0), "negative users affected never gives a negative shortfall"),
        ];
        for (required, held, users, expected, why) in cases {
            assert_eq!(licensing(&required, &held, users, now()), expected, "{why}");
        }
    }
}
