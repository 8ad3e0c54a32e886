//! Newtype ids, so a `MachineId` can never be passed where a `NodeId` is meant.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(value_type = String, format = Uuid))]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A fresh random id.
            #[cfg(feature = "random")]
            pub fn new_random() -> Self {
                Self(Uuid::new_v4())
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }
    };
}

id_type!(
    /// A virtual machine or zone, unique across the fleet.
    MachineId
);
id_type!(
    /// A hypervisor node.
    NodeId
);
id_type!(
    /// A tenant: the owner of machines and quotas.
    TenantId
);
id_type!(
    /// A person (or script) who logs in.
    UserId
);
id_type!(
    /// An SSH public key a user keeps.
    SshKeyId
);
id_type!(
    /// A long operation on a node (an image import, …), followed through its steps.
    TaskId
);
