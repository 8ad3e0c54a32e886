//! PATCH fields that tell "absent" from "null": `Option<Option<T>>`, where the outer `None`
//! leaves a value alone and `Some(None)` clears it (JSON merge-patch semantics).

use serde::{Deserialize, Deserializer};

/// Use with `#[serde(default, deserialize_with = "crate::patch::present")]`: a field that is
/// present becomes `Some(..)`, even when it is `null`; `default` makes an absent one `None`.
pub fn present<'de, T, D>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    T: Deserialize<'de>,
    D: Deserializer<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

#[cfg(test)]
mod tests {
    use crate::bridge::BridgeMachineUpdate;

    #[test]
    fn absent_null_and_a_value_are_three_things() {
        let absent: BridgeMachineUpdate = serde_json::from_str("{}").unwrap();
        assert_eq!(absent.cdrom, None);
        let eject: BridgeMachineUpdate = serde_json::from_str(r#"{"cdrom":null}"#).unwrap();
        assert_eq!(eject.cdrom, Some(None));
        let insert: BridgeMachineUpdate = serde_json::from_str(r#"{"cdrom":"a.iso"}"#).unwrap();
        assert_eq!(insert.cdrom, Some(Some("a.iso".into())));
        // And back: an eject must survive the trip from backend to bridge.
        let wire = serde_json::to_string(&eject).unwrap();
        assert_eq!(serde_json::from_str::<BridgeMachineUpdate>(&wire).unwrap().cdrom, Some(None));
        assert!(!serde_json::to_string(&absent).unwrap().contains("cdrom"));
    }
}
