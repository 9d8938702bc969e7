//! HTTP requests, with Kubernetes API paths understood.

use std::collections::BTreeSet;

use signoff_core::classification::{Facts, HttpFacts, KubernetesFacts};
use signoff_core::{Classification, Effect};

/// Resources whose writes change who may do what.
const RBAC_RESOURCES: &[&str] = &[
    "roles",
    "rolebindings",
    "clusterroles",
    "clusterrolebindings",
    "serviceaccounts",
    "certificatesigningrequests",
    "validatingwebhookconfigurations",
    "mutatingwebhookconfigurations",
];

pub fn classify_http(method: &str, path_and_query: &str) -> Classification {
    let method = method.trim().to_ascii_uppercase();
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    let mut effects = BTreeSet::new();
    match method.as_str() {
        "GET" | "HEAD" | "OPTIONS" => {
            effects.insert(Effect::Read);
        }
        "POST" | "PUT" | "PATCH" => {
            effects.insert(Effect::Write);
        }
        "DELETE" => {
            effects.extend([Effect::Write, Effect::Delete]);
        }
        _ => {
            effects.insert(Effect::Unknown);
        }
    }
    if path.split('/').any(|seg| seg == ".." || seg == ".")
        || path.contains("//")
        || !path.starts_with('/')
    {
        effects.insert(Effect::Unknown);
    }
    let kubernetes = kubernetes(&method, path, query);
    if let Some(k) = &kubernetes {
        match k.verb.as_str() {
            "deletecollection" => {
                effects.extend([Effect::Delete, Effect::UnboundedWrite, Effect::Destructive]);
            }
            "delete"
                if k.resource == "namespaces"
                    || k.resource == "persistentvolumes"
                    || k.resource == "customresourcedefinitions" =>
            {
                effects.insert(Effect::Destructive);
            }
            _ => {}
        }
        let writes = !matches!(k.verb.as_str(), "get" | "list" | "watch");
        if writes && RBAC_RESOURCES.contains(&k.resource.as_str()) {
            effects.insert(Effect::Privilege);
        }
        if k.resource == "secrets" && !writes {
            effects.insert(Effect::Export);
        }
        if matches!(
            k.subresource.as_deref(),
            Some("exec" | "attach" | "portforward" | "proxy")
        ) {
            effects.insert(Effect::Opaque);
        }
    }
    let summary = match &kubernetes {
        Some(k) => format!(
            "kubernetes {} {}{}{}",
            k.verb,
            k.resource,
            k.name.as_ref().map(|n| format!("/{n}")).unwrap_or_default(),
            k.namespace
                .as_ref()
                .map(|n| format!(" in {n}"))
                .unwrap_or_default()
        ),
        None => format!("{method} {path}"),
    };
    Classification {
        effects,
        summary,
        facts: Facts::Http(HttpFacts {
            method,
            path: path.to_owned(),
            kubernetes,
        }),
    }
}

/// Parses `/api/v1/…` and `/apis/{group}/{version}/…` paths.
fn kubernetes(method: &str, path: &str, query: &str) -> Option<KubernetesFacts> {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (api_group, rest) = match segs.as_slice() {
        ["api", version, rest @ ..] if is_version(version) => (String::new(), rest),
        ["apis", group, version, rest @ ..] if is_version(version) => ((*group).to_owned(), rest),
        _ => return None,
    };
    let (namespace, rest) = match rest {
        ["namespaces", ns, r @ ..] if !r.is_empty() => (Some((*ns).to_owned()), r),
        _ => (None, rest),
    };
    let (resource, name, subresource) = match rest {
        [res] => (*res, None, None),
        [res, name] => (*res, Some(*name), None),
        [res, name, sub] => (*res, Some(*name), Some(*sub)),
        _ => return None,
    };
    if resource.is_empty() {
        return None;
    }
    let watch = query
        .split('&')
        .any(|kv| kv == "watch=true" || kv == "watch=1");
    let verb = match (method, name.is_some()) {
        ("GET" | "HEAD", _) if watch => "watch",
        ("GET" | "HEAD", true) => "get",
        ("GET" | "HEAD", false) => "list",
        ("POST", _) => "create",
        ("PUT", _) => "update",
        ("PATCH", _) => "patch",
        ("DELETE", true) => "delete",
        ("DELETE", false) => "deletecollection",
        _ => "unknown",
    };
    Some(KubernetesFacts {
        verb: verb.into(),
        resource: resource.into(),
        subresource: subresource.map(Into::into),
        api_group,
        namespace,
        name: name.map(Into::into),
    })
}

fn is_version(v: &str) -> bool {
    v.len() >= 2 && v.starts_with('v') && v[1..2].chars().all(|c| c.is_ascii_digit())
}
