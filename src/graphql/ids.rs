//! Relay global object ids: `base64url("Type:key")`, opaque to clients.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Encodes a global id.
pub fn encode(type_name: &str, key: impl std::fmt::Display) -> async_graphql::ID {
    async_graphql::ID(URL_SAFE_NO_PAD.encode(format!("{type_name}:{key}")))
}

/// Decodes a global id into its type name and key; `None` for anything malformed. The padded
/// form of an id (`…=`, as some base64 libraries write it) is the same id.
pub fn decode(id: &str) -> Option<(String, String)> {
    let bytes = URL_SAFE_NO_PAD
        .decode(
            id.strip_suffix("==")
                .or_else(|| id.strip_suffix('='))
                .unwrap_or(id),
        )
        .ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let (ty, key) = text.split_once(':')?;
    Some((ty.to_string(), key.to_string()))
}

/// Decodes a global id of an expected type with a numeric key.
pub fn decode_i64(id: &str, expected_type: &str) -> Option<i64> {
    let (ty, key) = decode(id)?;
    (ty == expected_type).then(|| key.parse().ok()).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn global_ids_round_trip_and_reject_garbage() {
        let id = encode("Tenant", 42);
        assert_eq!(decode_i64(&id, "Tenant"), Some(42));
        assert_eq!(decode_i64(&id, "Tag"), None, "type must match");
        assert_eq!(decode("not base64!"), None);
    }

    #[test]
    fn padded_and_unpadded_forms_are_the_same_id() {
        use base64::engine::general_purpose::URL_SAFE;
        for n in [1, 22, 333, 4444] {
            let id = encode("Tenant", n);
            let padded = URL_SAFE.encode(format!("Tenant:{n}"));
            assert_eq!(decode_i64(&padded, "Tenant"), Some(n), "{padded} is {}", id.0);
        }
        assert_eq!(decode("VGVuYW50OjQy==="), None, "too much padding is malformed");
    }
}
