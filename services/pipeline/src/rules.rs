//! The time rules of member development, as versioned data.
//!
//! The default is the 2014 rules (《中国共产党发展党员工作细则》). A locality or a
//! later revision adds a rule set to the configuration under a new id; no
//! code changes. A candidate's application records the rule set it was made
//! under, in full, so a later change to a named set never moves an existing
//! candidate's deadlines.

use std::collections::BTreeMap;

use hongxin_proto::pipeline::v1 as pb;
use serde::Deserialize;

/// One version of the rules. In the configuration, a set names its `id`
/// and the limits it changes; the rest are the 2014 rules'.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RuleSet {
    pub id: String,
    pub min_age_years: u32,
    /// The organisation talks with an applicant within this many months.
    pub talk_within_months: u32,
    /// Some localities: the application precedes activist status by this
    /// many months (0: no such rule).
    pub min_months_application_to_activist: u32,
    /// An activist is assessed every this many months.
    pub assessment_every_months: u32,
    /// An activist becomes a development target after at least this long.
    pub min_months_as_activist: u32,
    pub min_contacts: u32,
    pub max_contacts: u32,
    pub introducers: u32,
    /// Centralised training: at least this many days, or hours.
    pub training_min_days: u32,
    pub training_min_hours: u32,
    /// Public notice 公示 before the branch meeting, in working days.
    pub notice_working_days: u32,
    /// The approving committee decides within this many months of the
    /// branch meeting; in special cases within the longer limit.
    pub approval_within_months: u32,
    pub approval_special_months: u32,
    pub probation_months: u32,
    pub extension_min_months: u32,
    pub extension_max_months: u32,
    /// The full-membership decision is approved within this many months of
    /// the end of probation.
    pub full_approval_within_months: u32,
}

impl Default for RuleSet {
    fn default() -> Self {
        Self::cpc_2014()
    }
}

impl RuleSet {
    /// 《中国共产党发展党员工作细则》 (2014).
    pub fn cpc_2014() -> Self {
        Self {
            id: "cpc-2014".to_owned(),
            min_age_years: 18,
            talk_within_months: 1,
            min_months_application_to_activist: 0,
            assessment_every_months: 6,
            min_months_as_activist: 12,
            min_contacts: 1,
            max_contacts: 2,
            introducers: 2,
            training_min_days: 3,
            training_min_hours: 24,
            notice_working_days: 5,
            approval_within_months: 3,
            approval_special_months: 6,
            probation_months: 12,
            extension_min_months: 6,
            extension_max_months: 12,
            full_approval_within_months: 3,
        }
    }

    /// Checks the set is usable; the reason when not.
    pub fn check(&self) -> Result<(), String> {
        let bad = |why: &str| Err(format!("rule set {}: {why}", self.id));
        if self.id.trim().is_empty() || self.id.len() > 50 {
            return bad("the id must be 1 to 50 characters");
        }
        if self.min_contacts == 0 || self.min_contacts > self.max_contacts {
            return bad("contacts must be at least 1 and min ≤ max");
        }
        if self.introducers == 0 {
            return bad("at least one introducer");
        }
        if self.approval_within_months > self.approval_special_months {
            return bad("the special approval limit must not be shorter than the normal one");
        }
        if self.extension_min_months > self.extension_max_months {
            return bad("extension min must not exceed max");
        }
        if self.probation_months == 0 || self.assessment_every_months == 0 {
            return bad("probation and assessment periods must be positive");
        }
        Ok(())
    }

    pub fn to_wire(&self) -> pb::RuleSet {
        pb::RuleSet {
            id: self.id.clone(),
            min_age_years: self.min_age_years,
            talk_within_months: self.talk_within_months,
            min_months_application_to_activist: self.min_months_application_to_activist,
            assessment_every_months: self.assessment_every_months,
            min_months_as_activist: self.min_months_as_activist,
            min_contacts: self.min_contacts,
            max_contacts: self.max_contacts,
            introducers: self.introducers,
            training_min_days: self.training_min_days,
            training_min_hours: self.training_min_hours,
            notice_working_days: self.notice_working_days,
            approval_within_months: self.approval_within_months,
            approval_special_months: self.approval_special_months,
            probation_months: self.probation_months,
            extension_min_months: self.extension_min_months,
            extension_max_months: self.extension_max_months,
            full_approval_within_months: self.full_approval_within_months,
        }
    }

    pub fn from_wire(r: pb::RuleSet) -> Self {
        Self {
            id: r.id,
            min_age_years: r.min_age_years,
            talk_within_months: r.talk_within_months,
            min_months_application_to_activist: r.min_months_application_to_activist,
            assessment_every_months: r.assessment_every_months,
            min_months_as_activist: r.min_months_as_activist,
            min_contacts: r.min_contacts,
            max_contacts: r.max_contacts,
            introducers: r.introducers,
            training_min_days: r.training_min_days,
            training_min_hours: r.training_min_hours,
            notice_working_days: r.notice_working_days,
            approval_within_months: r.approval_within_months,
            approval_special_months: r.approval_special_months,
            probation_months: r.probation_months,
            extension_min_months: r.extension_min_months,
            extension_max_months: r.extension_max_months,
            full_approval_within_months: r.full_approval_within_months,
        }
    }
}

/// The rule sets a deployment knows, and which one new applications use.
#[derive(Clone, Debug)]
pub struct RuleBook {
    sets: BTreeMap<String, RuleSet>,
    default: String,
}

impl Default for RuleBook {
    fn default() -> Self {
        let base = RuleSet::cpc_2014();
        Self {
            default: base.id.clone(),
            sets: BTreeMap::from([(base.id.clone(), base)]),
        }
    }
}

impl RuleBook {
    /// The 2014 rules plus `extra`; `default` names the set for new
    /// applications (the 2014 rules when `None`).
    pub fn new(extra: Vec<RuleSet>, default: Option<String>) -> Result<Self, String> {
        let mut book = Self::default();
        for set in extra {
            set.check()?;
            if book.sets.contains_key(&set.id) {
                return Err(format!(
                    "rule set {} is defined twice (give each set an id of its own; cpc-2014 is built in)",
                    set.id
                ));
            }
            book.sets.insert(set.id.clone(), set);
        }
        if let Some(d) = default {
            if !book.sets.contains_key(&d) {
                return Err(format!("the default rule set {d} is not defined"));
            }
            book.default = d;
        }
        Ok(book)
    }

    /// The named set, or the default one for an empty name.
    pub fn get(&self, id: &str) -> Option<&RuleSet> {
        if id.is_empty() {
            self.sets.get(&self.default)
        } else {
            self.sets.get(id)
        }
    }

    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.sets.keys().map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_2014_rules_are_the_default_and_others_can_be_added() {
        let book = RuleBook::default();
        assert_eq!(book.get("").map(|r| r.id.as_str()), Some("cpc-2014"));
        let local = RuleSet {
            id: "qihe-2026".to_owned(),
            notice_working_days: 7,
            min_months_application_to_activist: 6,
            ..RuleSet::cpc_2014()
        };
        let book = RuleBook::new(vec![local], Some("qihe-2026".to_owned())).expect("book");
        assert_eq!(book.get("").map(|r| r.notice_working_days), Some(7));
        assert_eq!(book.get("cpc-2014").map(|r| r.notice_working_days), Some(5));
        assert!(RuleBook::new(vec![], Some("nope".into())).is_err());
        let broken = RuleSet {
            min_contacts: 3,
            ..RuleSet::cpc_2014()
        };
        assert!(RuleBook::new(vec![broken], None).is_err());
        assert!(
            RuleBook::new(vec![RuleSet::cpc_2014()], None).is_err(),
            "no redefinition"
        );
        assert!(
            RuleBook::new(vec![RuleSet::default()], None).is_err(),
            "an id is needed"
        );
        let set = RuleSet::cpc_2014();
        assert_eq!(RuleSet::from_wire(set.to_wire()), set);
    }
}
