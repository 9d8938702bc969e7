//! Cedar policies for signoff (DESIGN §4).
//!
//! [`PolicyEngine::load`] parses and validates policy files against the schema
//! signoff publishes, reads the approval annotations, and precomputes the
//! entity store; [`PolicyEngine::decide`] is then pure and allocation-light.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod annotations;
mod context;
mod error;
mod memo;
mod slice;
#[doc(hidden)]
pub mod testdata;

use std::collections::HashMap;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use cedar_policy::{
    Authorizer, Entities, Entity, EntityId, EntityTypeName, EntityUid, PolicyId, PolicySet,
    Request, RestrictedExpression, Schema, ValidationMode, Validator,
};
use signoff_core::{
    ActionKind, ApprovalRequirement, Classification, Decision, Directory, Principal,
};
use time::OffsetDateTime;

pub use annotations::PolicyMeta;
pub use error::{Location, PolicyError};

/// The Cedar schema policies are validated against.
pub const SCHEMA: &str = include_str!("signoff.cedarschema");

/// The starter policy set: `signoff init` writes it and the embedded default runs it.
pub const STARTER_POLICIES: &[(&str, &str)] = &[
    ("10-reads.cedar", include_str!("../starter/10-reads.cedar")),
    (
        "20-approvals.cedar",
        include_str!("../starter/20-approvals.cedar"),
    ),
    (
        "30-forbidden.cedar",
        include_str!("../starter/30-forbidden.cedar"),
    ),
];

/// One policy file's name and text.
#[derive(Clone, Debug)]
pub struct PolicySource {
    pub name: String,
    pub text: String,
}

impl PolicySource {
    pub fn starter() -> Vec<PolicySource> {
        STARTER_POLICIES
            .iter()
            .map(|(name, text)| PolicySource {
                name: format!("<quickstart>/{name}"),
                text: (*text).to_owned(),
            })
            .collect()
    }

    /// Reads every `*.cedar` file in `dir`, sorted by name.
    pub fn read_dir(dir: &Path) -> Result<Vec<PolicySource>, PolicyError> {
        let io = |e: std::io::Error| PolicyError::Io {
            path: dir.display().to_string(),
            message: e.to_string(),
        };
        let mut paths: Vec<_> = std::fs::read_dir(dir)
            .map_err(io)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "cedar"))
            .collect();
        paths.sort();
        if paths.is_empty() {
            return Err(PolicyError::NoPolicies(dir.display().to_string()));
        }
        paths
            .into_iter()
            .map(|p| {
                let text = std::fs::read_to_string(&p).map_err(|e| PolicyError::Io {
                    path: p.display().to_string(),
                    message: e.to_string(),
                })?;
                Ok(PolicySource {
                    name: p.display().to_string(),
                    text,
                })
            })
            .collect()
    }
}

/// Defaults for approval policies that leave an annotation out.
#[derive(Clone, Debug)]
pub struct ApprovalDefaults {
    pub ttl: Duration,
    pub reviewers: Vec<String>,
}

impl Default for ApprovalDefaults {
    fn default() -> Self {
        ApprovalDefaults {
            ttl: Duration::from_secs(3600),
            reviewers: vec!["reviewers".into()],
        }
    }
}

/// What policy was asked.
pub struct DecisionRequest<'a> {
    pub principal: &'a Principal,
    pub on_behalf_of: &'a str,
    pub target: &'a str,
    pub kind: ActionKind,
    pub classification: &'a Classification,
    pub reason: &'a str,
    pub now: OffsetDateTime,
}

pub struct PolicyEngine {
    policies: PolicySet,
    /// Per (principal, action, target): the policies that can still match.
    slices: slice::SliceCache,
    memo: memo::Memo,
    referenced: context::Referenced,
    meta: HashMap<PolicyId, PolicyMeta>,
    entities: Entities,
    actions: [EntityUid; 5],
    targets: HashMap<String, EntityUid>,
    authorizer: Authorizer,
    defaults: ApprovalDefaults,
    policy_count: usize,
}

impl PolicyEngine {
    pub fn load(
        sources: &[PolicySource],
        directory: &Directory,
        defaults: ApprovalDefaults,
    ) -> Result<PolicyEngine, PolicyError> {
        let schema = schema()?;
        let mut policies = PolicySet::new();
        let mut meta = HashMap::new();
        let mut origin: HashMap<String, String> = HashMap::new();
        for source in sources {
            let parsed = PolicySet::from_str(&source.text)
                .map_err(|e| error::from_diagnostic(&source.name, &source.text, &e))?;
            // Cedar numbers policies per file; give each a stable, unique id.
            let mut in_file: Vec<_> = parsed.policies().collect();
            in_file.sort_by_key(|p| {
                p.id()
                    .to_string()
                    .strip_prefix("policy")
                    .and_then(|n| n.parse::<usize>().ok())
                    .unwrap_or(usize::MAX)
            });
            for (i, policy) in in_file.into_iter().enumerate() {
                let id = match policy.annotation("id") {
                    Some(id) => id.to_owned(),
                    None => format!("{}#{}", file_stem(&source.name), i + 1),
                };
                let m = PolicyMeta::read(policy, &source.name, &source.text, &defaults)?;
                if let Some(first) = origin.insert(id.clone(), source.name.clone()) {
                    return Err(PolicyError::DuplicateId {
                        id,
                        first,
                        second: source.name.clone(),
                    });
                }
                let pid = PolicyId::new(&id);
                policies
                    .add(policy.new_id(pid.clone()))
                    .map_err(|e| PolicyError::Invalid(e.to_string()))?;
                meta.insert(pid, m);
            }
        }
        validate(&schema, &policies, sources)?;
        let entities = entities(directory, &schema)?;
        let targets = directory
            .targets
            .iter()
            .map(|t| (t.name.clone(), uid("Target", &t.name)))
            .collect();
        Ok(PolicyEngine {
            policy_count: meta.len(),
            slices: slice::SliceCache::default(),
            memo: memo::Memo::default(),
            referenced: context::Referenced::scan(sources.iter().map(|s| s.text.as_str())),
            policies,
            meta,
            entities,
            actions: ActionKind::ALL.map(|k| uid("Action", k.as_str())),
            targets,
            authorizer: Authorizer::new(),
            defaults,
        })
    }

    pub fn policy_count(&self) -> usize {
        self.policy_count
    }

    /// The Cedar request `decide` would evaluate, for benchmarks that compare
    /// signoff's overhead with a bare `is_authorized` on the same input.
    #[doc(hidden)]
    pub fn cedar_request(&self, req: &DecisionRequest<'_>) -> Option<Request> {
        let target = self.targets.get(req.target)?.clone();
        let action = self.actions[ActionKind::ALL.iter().position(|k| *k == req.kind)?].clone();
        Request::new(
            principal_uid(req.principal),
            action,
            target,
            context::build(req, &self.referenced).ok()?,
            None,
        )
        .ok()
    }

    /// A bare Cedar evaluation of `request` against all loaded policies.
    #[doc(hidden)]
    pub fn cedar_is_authorized(&self, request: &Request) -> cedar_policy::Response {
        self.authorizer
            .is_authorized(request, &self.policies, &self.entities)
    }

    /// Whether every `mcp_tool` call of `tool` on `target` by `principal` is
    /// denied, whatever its arguments, reason or time: a forbid that holds
    /// regardless, or no permit that could hold. Partial evaluation with only
    /// the server and tool known decides it. `tools/list` hides such tools.
    pub fn tool_always_denied(&self, principal: &Principal, target: &str, tool: &str) -> bool {
        use cedar_policy::{Context, RestrictedExpression as R};
        let Some(resource) = self.targets.get(target) else {
            return true;
        };
        let unknown = |name: &str| R::new_unknown(name);
        let mcp = R::new_record([
            ("server".to_owned(), R::new_string(target.to_owned())),
            ("tool".to_owned(), R::new_string(tool.to_owned())),
            ("argument_names".to_owned(), unknown("argument_names")),
            ("arguments".to_owned(), unknown("arguments")),
        ]);
        let Ok(mcp) = mcp else { return false };
        let pairs = [
            ("effects", unknown("effects")),
            ("summary", unknown("summary")),
            ("reason", unknown("reason")),
            ("on_behalf_of", unknown("on_behalf_of")),
            ("now", unknown("now")),
            ("mcp", mcp),
        ]
        .map(|(k, v)| (k.to_owned(), v));
        let Ok(context) = Context::from_pairs(pairs) else {
            return false;
        };
        let action = self.actions[ActionKind::ALL
            .iter()
            .position(|k| *k == ActionKind::McpTool)
            .unwrap_or(0)]
        .clone();
        let request = Request::builder()
            .principal(principal_uid(principal))
            .action(action)
            .resource(resource.clone())
            .context(context)
            .build();
        let response =
            self.authorizer
                .is_authorized_partial(&request, &self.policies, &self.entities);
        response.decision() == Some(cedar_policy::Decision::Deny)
    }

    /// Like [`PolicyEngine::decide`] without slicing: every policy is evaluated.
    /// The differential tests hold the two equal.
    #[doc(hidden)]
    pub fn decide_unsliced(&self, req: &DecisionRequest<'_>) -> Decision {
        self.slices.disable();
        let d = self.decide(req);
        self.slices.enable();
        d
    }

    /// Decides one classified action (DESIGN §4): a matching forbid denies; else a
    /// plain permit allows; else approval permits require approval, the strictest
    /// winning; else nothing matched and the action is denied.
    pub fn decide(&self, req: &DecisionRequest<'_>) -> Decision {
        self.decide_inner(req, None)
    }

    /// [`PolicyEngine::decide`] for a request whose classification is fully
    /// identified by `classification_key` (two requests with one key have
    /// equal classifications). When no policy that can match reads the time,
    /// the decision is evaluated once per distinct input and then reused.
    pub fn decide_memoized(&self, req: &DecisionRequest<'_>, classification_key: &str) -> Decision {
        self.decide_inner(req, Some(classification_key))
    }

    fn decide_inner(
        &self,
        req: &DecisionRequest<'_>,
        classification_key: Option<&str>,
    ) -> Decision {
        let Some(target) = self.targets.get(req.target) else {
            return Decision::Deny {
                reason: format!(
                    "unknown target `{}`; targets are defined in signoff.toml",
                    req.target
                ),
                policies: vec![],
            };
        };
        // INVARIANT: an entry exists only if its slice was time-free, and a
        // slice, recomputed or not, is always the same for the same triple.
        let memo_key = classification_key.map(|c| memo::key(req, c));
        if let Some(hit) = memo_key.as_deref().and_then(|k| self.memo.get(k)) {
            return hit;
        }
        let principal = principal_uid(req.principal);
        let action = &self.actions[ActionKind::ALL
            .iter()
            .position(|k| *k == req.kind)
            .unwrap_or(0)];
        let key = slice::SliceKey::new(req.principal, req.kind, req.target);
        let slice = self.slices.get(
            key,
            &self.authorizer,
            &self.policies,
            &self.entities,
            [&principal, action, target],
        );
        let memo_key = memo_key.filter(|_| slice.as_ref().is_some_and(|s| s.time_free));
        let policies = slice.as_deref().map_or(&self.policies, |s| &s.policies);
        let decision = self.evaluate(req, principal, action.clone(), target.clone(), policies);
        if let Some(k) = memo_key {
            self.memo.put(k, &decision);
        }
        decision
    }

    fn evaluate(
        &self,
        req: &DecisionRequest<'_>,
        principal: EntityUid,
        action: EntityUid,
        target: EntityUid,
        policies: &PolicySet,
    ) -> Decision {
        let context = match context::build(req, &self.referenced) {
            Ok(c) => c,
            Err(e) => return deny_fail_closed(format!("could not build the policy context: {e}")),
        };
        let request = match Request::new(principal, action, target, context, None) {
            Ok(r) => r,
            Err(e) => return deny_fail_closed(format!("could not build the policy request: {e}")),
        };
        let response = self
            .authorizer
            .is_authorized(&request, policies, &self.entities);
        let errors: Vec<String> = response
            .diagnostics()
            .errors()
            .map(|e| e.to_string())
            .collect();
        // INVARIANT: a policy that fails to evaluate could have been a forbid,
        // so any evaluation error denies (fail closed).
        if !errors.is_empty() {
            return deny_fail_closed(errors.join("; "));
        }
        let matched: Vec<&PolicyId> = response.diagnostics().reason().collect();
        let ids = |v: &[&PolicyId]| -> Vec<String> {
            let mut ids: Vec<String> = v.iter().map(|p| p.to_string()).collect();
            ids.sort();
            ids
        };
        if response.decision() == cedar_policy::Decision::Deny {
            if matched.is_empty() {
                return Decision::Deny {
                    reason: format!(
                        "no policy permits `{}` by `{}` on `{}`",
                        req.kind, req.principal, req.target
                    ),
                    policies: vec![],
                };
            }
            let policies = ids(&matched);
            let reason = policies
                .iter()
                .find_map(|id| {
                    self.meta
                        .get(&PolicyId::new(id))
                        .and_then(|m| m.reason.clone())
                })
                .unwrap_or_else(|| format!("forbidden by policy `{}`", policies.join("`, `")));
            return Decision::Deny { reason, policies };
        }
        let (plain, approval): (Vec<&PolicyId>, Vec<&PolicyId>) = matched
            .iter()
            .partition(|id| self.meta.get(**id).is_none_or(|m| m.requirement.is_none()));
        if !plain.is_empty() {
            // INVARIANT: unknown classification is sensitive. A plain permit
            // allows it only when the policy says so explicitly.
            let permits_unknown = plain
                .iter()
                .any(|id| self.meta.get(*id).is_some_and(|m| m.allow_unknown));
            if !req.classification.is_unknown() || permits_unknown {
                return Decision::Allow {
                    policies: ids(&plain),
                };
            }
            if approval.is_empty() {
                return Decision::RequireApproval {
                    requirement: ApprovalRequirement {
                        approvals: 1,
                        reviewer_groups: self.defaults.reviewers.clone(),
                        ttl: self.defaults.ttl,
                        max_window: None,
                    },
                    policies: ids(&plain),
                };
            }
        }
        let requirement = strictest(
            approval
                .iter()
                .filter_map(|id| self.meta.get(*id)?.requirement.as_ref()),
        );
        match requirement {
            Some(requirement) => Decision::RequireApproval {
                requirement,
                policies: ids(&approval),
            },
            None => deny_fail_closed("no approval requirement could be derived".into()),
        }
    }
}

fn deny_fail_closed(why: String) -> Decision {
    Decision::Deny {
        reason: format!("policy evaluation failed, so the action is denied: {why}"),
        policies: vec![],
    }
}

/// Most approvals wins, with its reviewer groups; the shortest TTL and window apply.
fn strictest<'a>(
    reqs: impl Iterator<Item = &'a ApprovalRequirement>,
) -> Option<ApprovalRequirement> {
    let all: Vec<&ApprovalRequirement> = reqs.collect();
    let most = all.iter().max_by_key(|r| r.approvals)?;
    let ttl = all.iter().map(|r| r.ttl).min()?;
    // A window only if every matching policy permits one.
    let max_window = all
        .iter()
        .map(|r| r.max_window)
        .collect::<Option<Vec<_>>>()
        .and_then(|w| w.into_iter().min());
    let mut groups: Vec<String> = all
        .iter()
        .filter(|r| r.approvals == most.approvals)
        .flat_map(|r| r.reviewer_groups.iter().cloned())
        .collect();
    groups.sort();
    groups.dedup();
    Some(ApprovalRequirement {
        approvals: most.approvals,
        reviewer_groups: groups,
        ttl,
        max_window,
    })
}

pub fn schema() -> Result<Schema, PolicyError> {
    Schema::from_cedarschema_str(SCHEMA)
        .map(|(s, _warnings)| s)
        .map_err(|e| PolicyError::Invalid(format!("built-in schema: {e}")))
}

fn validate(
    schema: &Schema,
    policies: &PolicySet,
    sources: &[PolicySource],
) -> Result<(), PolicyError> {
    let result = Validator::new(schema.clone()).validate(policies, ValidationMode::Strict);
    if let Some(err) = result.validation_errors().next() {
        // The error's span is an offset into the file the policy came from.
        let policy_id = err.policy_id().to_string();
        let source = sources
            .iter()
            .find(|s| {
                s.text.contains(&format!("@id(\"{policy_id}\")"))
                    || file_stem(&s.name) == policy_id.split('#').next().unwrap_or("")
            })
            .or(sources.first());
        return Err(match source {
            Some(s) => error::from_diagnostic(&s.name, &s.text, err),
            None => PolicyError::Invalid(err.to_string()),
        });
    }
    Ok(())
}

fn file_stem(name: &str) -> String {
    Path::new(name)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| name.to_owned())
}

pub(crate) fn uid(ty: &str, id: &str) -> EntityUid {
    // INVARIANT: the type names are the schema's own identifiers, so they parse.
    let ty = EntityTypeName::from_str(ty)
        .unwrap_or_else(|_| unreachable!("schema type names are valid"));
    EntityUid::from_type_name_and_id(ty, EntityId::new(id))
}

pub(crate) fn principal_uid(p: &Principal) -> EntityUid {
    match p {
        Principal::Agent(n) => uid("Agent", n),
        Principal::User(n) => uid("User", n),
    }
}

fn entities(directory: &Directory, schema: &Schema) -> Result<Entities, PolicyError> {
    let invalid = |e: &dyn std::fmt::Display| PolicyError::Invalid(format!("directory: {e}"));
    let mut all: Vec<Entity> = Vec::new();
    let mut groups = std::collections::BTreeSet::new();
    for u in &directory.users {
        groups.extend(u.groups.iter().cloned());
        all.push(Entity::new_no_attrs(
            uid("User", &u.id),
            u.groups.iter().map(|g| uid("Group", g)).collect(),
        ));
    }
    for a in &directory.agents {
        groups.extend(a.groups.iter().cloned());
        let attrs = HashMap::from([(
            "owner".to_owned(),
            RestrictedExpression::new_entity_uid(uid("User", &a.owner)),
        )]);
        all.push(
            Entity::new(
                uid("Agent", &a.name),
                attrs,
                a.groups.iter().map(|g| uid("Group", g)).collect(),
            )
            .map_err(|e| invalid(&e))?,
        );
    }
    for g in groups {
        all.push(Entity::new_no_attrs(uid("Group", &g), Default::default()));
    }
    for t in &directory.targets {
        let attrs = [(
            "kind".to_owned(),
            RestrictedExpression::new_string(t.kind.clone()),
        )];
        let tags = t
            .labels
            .iter()
            .map(|(k, v)| (k.clone(), RestrictedExpression::new_string(v.clone())));
        all.push(
            Entity::new_with_tags(uid("Target", &t.name), attrs, [], tags)
                .map_err(|e| invalid(&e))?,
        );
    }
    Entities::from_entities(all, Some(schema)).map_err(|e| invalid(&e))
}

#[cfg(test)]
mod tests;
