//! The reader's access to the source cluster, as `causeway join` sets it up, built so that joins
//! compose and repeat without changes.
//!
//! [`super::link`] applies the reader's ServiceAccount `<ns>/causeway-reader-<reader id>` in the
//! source, then:
//! - [`bind`] applies one ClusterRoleBinding per reader ServiceAccount,
//!   `causeway-reader-<reader id>.<ns>` ([`binding_name`]), so a join into another members
//!   namespace adds a binding instead of re-pointing a shared one (earlier versions bound every
//!   namespace's reader through `causeway-reader-<reader id>`, and the last join won). That
//!   older binding is deleted once it binds exactly the ServiceAccount just bound by name.
//! - [`token`] keeps the token of the reader's current peer Secret when the source's TokenReview
//!   says it still authenticates as that ServiceAccount and it is valid for at least half of
//!   `--token-seconds` ([`keep_token`]); otherwise it requests a new one. With the kubeconfig
//!   built from the same token, a repeated join applies identical objects: nothing changes.

use anyhow::Context as _;
use base64::Engine as _;
use causeway_api::names::{FIELD_MANAGER_CLI, PEER_SECRET_KEY};
use k8s_openapi::api::authentication::v1::{
    TokenRequest, TokenRequestSpec, TokenReview, TokenReviewSpec,
};
use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRoleBinding, RoleRef, Subject};
use kube::api::{Api, DeleteParams, ObjectMeta, Patch, PatchParams, PostParams, Preconditions};

/// The ClusterRoleBinding of reader cluster `reader_id`'s ServiceAccount in namespace `ns` (a
/// cluster id and a namespace are DNS labels, so the `.` keeps every pair apart).
pub fn binding_name(reader_id: &str, ns: &str) -> String {
    format!("causeway-reader-{reader_id}.{ns}")
}

/// The one binding per reader cluster that earlier versions shared between namespaces.
fn legacy_binding_name(reader_id: &str) -> String {
    format!("causeway-reader-{reader_id}")
}

/// Binds ServiceAccount `<ns>/<sa>` of reader `reader_id` to ClusterRole `role` in the source
/// cluster `source_id`, and retires the legacy binding if it bound exactly that account.
pub async fn bind(
    source: &kube::Client,
    source_id: &str,
    reader_id: &str,
    ns: &str,
    sa: &str,
    role: &str,
) -> anyhow::Result<()> {
    let name = binding_name(reader_id, ns);
    let subject = Subject {
        kind: "ServiceAccount".into(),
        name: sa.to_owned(),
        namespace: Some(ns.to_owned()),
        api_group: None,
    };
    let role_ref = RoleRef {
        api_group: "rbac.authorization.k8s.io".into(),
        kind: "ClusterRole".into(),
        name: role.to_owned(),
    };
    let binding = ClusterRoleBinding {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            ..ObjectMeta::default()
        },
        role_ref: role_ref.clone(),
        subjects: Some(vec![subject.clone()]),
    };
    let api: Api<ClusterRoleBinding> = Api::all(source.clone());
    api.patch(
        &name,
        &PatchParams::apply(FIELD_MANAGER_CLI).force(),
        &Patch::Apply(&binding),
    )
    .await
    .with_context(|| {
        format!(
            "failed to apply ClusterRoleBinding {name} (the reader role) in cluster {source_id}"
        )
    })?;
    let legacy = legacy_binding_name(reader_id);
    let old = api.get_opt(&legacy).await.with_context(|| {
        format!("failed to read ClusterRoleBinding {legacy} in cluster {source_id}")
    })?;
    let Some(old) = old else {
        return Ok(());
    };
    if old.role_ref != role_ref || old.subjects.as_deref() != Some(&[subject][..]) {
        // It still grants another namespace's reader: that reader keeps it until it joins again.
        return Ok(());
    }
    let only_this = DeleteParams {
        preconditions: Some(Preconditions {
            resource_version: old.metadata.resource_version.clone(),
            uid: old.metadata.uid.clone(),
        }),
        ..DeleteParams::default()
    };
    match api.delete(&legacy, &only_this).await {
        Ok(_) => {
            eprintln!(
                "join: ClusterRoleBinding {legacy} replaced by {name} in cluster {source_id}"
            );
            Ok(())
        }
        // Gone or changed meanwhile: nothing of ours to retire.
        Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => Ok(()),
        Err(e) => Err(e).with_context(|| {
            format!("failed to delete the old ClusterRoleBinding {legacy} in cluster {source_id}")
        }),
    }
}

/// Where the reader's current credential is and what it must authenticate as.
pub struct Credential<'a> {
    /// The source cluster's admin client and id.
    pub source: &'a kube::Client,
    pub source_id: &'a str,
    /// The reader cluster's admin client and id.
    pub reader: &'a kube::Client,
    pub reader_id: &'a str,
    /// Members namespace (of the ServiceAccount in the source, of the Secret in the reader).
    pub ns: &'a str,
    /// The reader's ServiceAccount in the source.
    pub sa: &'a str,
    /// The reader's peer Secret.
    pub secret: &'a str,
}

/// A token for the reader's ServiceAccount: the current one if it is still good for at least
/// half of `token_seconds`, else a new one valid for `token_seconds`.
pub async fn token(c: &Credential<'_>, token_seconds: i64) -> anyhow::Result<String> {
    if let Some(current) = current_token(c).await?
        && keep_token(
            expiry(&current),
            k8s_openapi::jiff::Timestamp::now().as_second(),
            token_seconds,
        )
        && authenticates(c, &current).await?
    {
        return Ok(current);
    }
    let request = TokenRequest {
        spec: TokenRequestSpec {
            expiration_seconds: Some(token_seconds),
            ..TokenRequestSpec::default()
        },
        ..TokenRequest::default()
    };
    let (ns, sa) = (c.ns, c.sa);
    Ok(Api::<ServiceAccount>::namespaced(c.source.clone(), ns)
        .create_token_request(sa, &PostParams::default(), &request)
        .await
        .with_context(|| {
            format!(
                "failed to request a token for {ns}/{sa} in cluster {}",
                c.source_id
            )
        })?
        .status
        .context("the token request returned no token")?
        .token)
}

/// The token in the reader's peer Secret, if it has one.
async fn current_token(c: &Credential<'_>) -> anyhow::Result<Option<String>> {
    let (ns, name) = (c.ns, c.secret);
    let secret = Api::<Secret>::namespaced(c.reader.clone(), ns)
        .get_opt(name)
        .await
        .with_context(|| {
            format!(
                "failed to read Secret {ns}/{name} in cluster {}",
                c.reader_id
            )
        })?;
    Ok(secret
        .and_then(|s| s.data?.remove(PEER_SECRET_KEY))
        .and_then(|kubeconfig| kubeconfig_token(&kubeconfig.0)))
}

/// The first user's token in a kubeconfig.
fn kubeconfig_token(kubeconfig: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(kubeconfig).ok()?;
    let value: serde_json::Value = serde_saphyr::from_str(text).ok()?;
    value["users"][0]["user"]["token"]
        .as_str()
        .map(str::to_owned)
}

/// Whether the source cluster authenticates `token` as the reader's ServiceAccount (a bound
/// token stops working when its ServiceAccount is deleted or recreated).
async fn authenticates(c: &Credential<'_>, token: &str) -> anyhow::Result<bool> {
    let review = TokenReview {
        spec: TokenReviewSpec {
            token: Some(token.to_owned()),
            audiences: None,
        },
        ..TokenReview::default()
    };
    let status = Api::<TokenReview>::all(c.source.clone())
        .create(&PostParams::default(), &review)
        .await
        .with_context(|| {
            format!(
                "failed to review the reader's current token in cluster {} (TokenReview)",
                c.source_id
            )
        })?
        .status
        .unwrap_or_default();
    let want = format!("system:serviceaccount:{}:{}", c.ns, c.sa);
    Ok(status.authenticated == Some(true)
        && status.user.and_then(|u| u.username).as_deref() == Some(want.as_str()))
}

/// The `exp` claim (Unix seconds) of a JWT, without checking its signature (the apiserver's
/// TokenReview does that).
fn expiry(token: &str) -> Option<i64> {
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    serde_json::from_slice::<serde_json::Value>(&bytes).ok()?["exp"].as_i64()
}

/// Whether a token expiring at `expiry` is kept at `now` by a join asking for `token_seconds`:
/// only while at least half of that is left.
fn keep_token(expiry: Option<i64>, now: i64, token_seconds: i64) -> bool {
    expiry.is_some_and(|exp| exp - now >= token_seconds / 2)
}

#[cfg(test)]
mod tests;
