//! Reconcile errors, each naming the object; `metric_label` keeps metric cardinality fixed.

use crate::writer::WriteError;

/// A reconcile failure.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Applying the derived Service failed.
    #[error("failed to apply derived service {namespace}/{name}")]
    ApplyService {
        /// Namespace.
        namespace: String,
        /// Derived Service name.
        name: String,
        /// Cause.
        #[source]
        source: Box<WriteError>,
    },
    /// Deleting a derived Service failed.
    #[error("failed to delete derived service {namespace}/{name}")]
    DeleteService {
        /// Namespace.
        namespace: String,
        /// Derived Service name.
        name: String,
        /// Cause.
        #[source]
        source: Box<WriteError>,
    },
    /// Writing the import's spec or status failed.
    #[error("failed to update service import {namespace}/{name}")]
    ApplyImport {
        /// Namespace.
        namespace: String,
        /// Import name.
        name: String,
        /// Cause.
        #[source]
        source: Box<WriteError>,
    },
    /// Labelling a slice failed.
    #[error("failed to label endpoint slice {namespace}/{name}")]
    ApplySlice {
        /// Namespace.
        namespace: String,
        /// Slice name.
        name: String,
        /// Cause.
        #[source]
        source: Box<WriteError>,
    },
}

impl Error {
    /// Whether the write was not sent because this replica does not lead (not a failure: the
    /// leader reconciles the import).
    pub fn not_leading(&self) -> bool {
        let (Self::ApplyService { source, .. }
        | Self::DeleteService { source, .. }
        | Self::ApplyImport { source, .. }
        | Self::ApplySlice { source, .. }) = self;
        matches!(**source, WriteError::NotLeader)
    }
}

/// Controller result.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Bounded label for the errors metric.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Self::ApplyService { .. } => "apply_service",
            Self::DeleteService { .. } => "delete_service",
            Self::ApplyImport { .. } => "apply_import",
            Self::ApplySlice { .. } => "apply_slice",
        }
    }
}
