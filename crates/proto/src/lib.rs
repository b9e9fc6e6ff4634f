//! The wire contracts of hongxin, generated from `proto/` at build time.
//!
//! Architecture Invariant: this crate holds only generated code and the
//! descriptor set; no behaviour lives here.

#![allow(unreachable_pub, missing_debug_implementations, clippy::all)]

/// The encoded `FileDescriptorSet` of every contract, for gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/hongxin_descriptor.bin"));

pub mod eventing {
    pub mod v1 {
        include!(concat!(env!("OUT_DIR"), "/hongxin.eventing.v1.rs"));
    }
}

pub mod organization {
    pub mod v1 {
        include!(concat!(env!("OUT_DIR"), "/hongxin.organization.v1.rs"));
    }
}

pub mod pipeline {
    pub mod v1 {
        include!(concat!(env!("OUT_DIR"), "/hongxin.pipeline.v1.rs"));
    }
}

pub mod care {
    pub mod v1 {
        include!(concat!(env!("OUT_DIR"), "/hongxin.care.v1.rs"));
    }
}

pub mod dashboard {
    pub mod v1 {
        include!(concat!(env!("OUT_DIR"), "/hongxin.dashboard.v1.rs"));
    }
}

pub mod grid {
    pub mod v1 {
        include!(concat!(env!("OUT_DIR"), "/hongxin.grid.v1.rs"));
    }
}

pub mod integration {
    pub mod v1 {
        include!(concat!(env!("OUT_DIR"), "/hongxin.integration.v1.rs"));
    }
}
