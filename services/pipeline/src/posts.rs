//! The mobile-member cloud platform 流动党员云平台: daily news and Party
//! history posts, workers' weekly reflections 微感悟 and micro-wishes 微心愿.
//! A micro-wish's `PostPublished` event is what the care service takes up.

use chrono::{DateTime, NaiveDate, Utc};
use hongxin_domain::text::text_violations;
use hongxin_domain::time::{beijing_today, format_day, parse_day};
use hongxin_domain::{CommandError, Decider, DecodeError, DomainEvent, FieldViolation};
use hongxin_proto::pipeline::v1 as pb;
use prost::Message as _;
use uuid::Uuid;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    News,
    History,
    Reflection,
    MicroWish,
}

impl Kind {
    pub fn from_wire(raw: i32) -> Option<Self> {
        match pb::PostKind::try_from(raw).ok()? {
            pb::PostKind::News => Some(Self::News),
            pb::PostKind::History => Some(Self::History),
            pb::PostKind::Reflection => Some(Self::Reflection),
            pb::PostKind::MicroWish => Some(Self::MicroWish),
            pb::PostKind::Unspecified => None,
        }
    }

    pub fn to_wire(self) -> pb::PostKind {
        match self {
            Self::News => pb::PostKind::News,
            Self::History => pb::PostKind::History,
            Self::Reflection => pb::PostKind::Reflection,
            Self::MicroWish => pb::PostKind::MicroWish,
        }
    }

    /// Reflections and wishes are workers' own posts.
    pub fn by_worker(self) -> bool {
        matches!(self, Self::Reflection | Self::MicroWish)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Post {
    pub post_id: Uuid,
    pub kind: Kind,
    pub author: Option<Uuid>,
    pub title: String,
    pub body: String,
    pub published_on: NaiveDate,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Publish(pub Post);

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Published(pub Post);

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct State(pub Option<Post>);

#[derive(Clone, Copy, Debug, Default)]
pub struct PostDecider;

impl Decider for PostDecider {
    type State = State;
    type Command = Publish;
    type Event = Published;
    const CATEGORY: &'static str = "post";

    fn decide(
        &self,
        state: &State,
        Publish(post): &Publish,
        now: DateTime<Utc>,
    ) -> Result<Vec<Published>, CommandError> {
        let mut v = text_violations("title", &post.title, 100);
        v.extend(text_violations("body", &post.body, 5000));
        match (post.kind.by_worker(), post.author) {
            (true, None) => v.push(FieldViolation::new(
                "author_person_id",
                "a reflection or micro-wish is a worker's own",
            )),
            (false, Some(_)) => v.push(FieldViolation::new(
                "author_person_id",
                "news and history posts come from the platform, not a worker",
            )),
            _ => {}
        }
        if post.published_on > beijing_today(now) {
            v.push(FieldViolation::new(
                "published_on",
                "must not be in the future",
            ));
        }
        if !v.is_empty() {
            return Err(CommandError::Invalid(v));
        }
        let clean = Post {
            title: post.title.trim().to_owned(),
            body: post.body.trim().to_owned(),
            ..post.clone()
        };
        match &state.0 {
            None => Ok(vec![Published(clean)]),
            Some(p) if *p == clean => Ok(vec![]),
            Some(_) => Err(CommandError::rejected(format!(
                "post {} is already published differently",
                post.post_id
            ))),
        }
    }

    fn evolve(&self, _state: State, Published(post): &Published) -> State {
        State(Some(post.clone()))
    }
}

impl Post {
    pub fn to_wire(&self, version: u64) -> pb::Post {
        pb::Post {
            post_id: self.post_id.to_string(),
            kind: self.kind.to_wire() as i32,
            author_person_id: self.author.map(|a| a.to_string()).unwrap_or_default(),
            title: self.title.clone(),
            body: self.body.clone(),
            published_on: format_day(self.published_on),
            version,
        }
    }
}

impl DomainEvent for Published {
    fn event_type(&self) -> &'static str {
        "PostPublished"
    }

    fn encode(&self) -> Vec<u8> {
        let p = &self.0;
        pb::PostPublished {
            post_id: p.post_id.to_string(),
            kind: p.kind.to_wire() as i32,
            author_person_id: p.author.map(|a| a.to_string()).unwrap_or_default(),
            title: p.title.clone(),
            body: p.body.clone(),
            published_on: format_day(p.published_on),
        }
        .encode_to_vec()
    }

    fn decode(event_type: &str, schema_version: u32, payload: &[u8]) -> Result<Self, DecodeError> {
        if (event_type, schema_version) != ("PostPublished", 1) {
            return Err(DecodeError::unknown(event_type, schema_version));
        }
        let e = pb::PostPublished::decode(payload)
            .map_err(|e| DecodeError::malformed(event_type, e))?;
        let id = |raw: &str| {
            Uuid::parse_str(raw).map_err(|_| DecodeError::malformed(event_type, "not a UUID"))
        };
        Ok(Self(Post {
            post_id: id(&e.post_id)?,
            kind: Kind::from_wire(e.kind)
                .ok_or_else(|| DecodeError::malformed(event_type, "unknown kind"))?,
            author: if e.author_person_id.is_empty() {
                None
            } else {
                Some(id(&e.author_person_id)?)
            },
            published_on: parse_day(&e.published_on)
                .ok_or_else(|| DecodeError::malformed(event_type, "not a day"))?,
            title: e.title,
            body: e.body,
        }))
    }
}

#[cfg(test)]
mod tests {
    use hongxin_testkit::given::given;

    use super::*;

    fn wish() -> Post {
        Post {
            post_id: Uuid::from_u128(1),
            kind: Kind::MicroWish,
            author: Some(Uuid::from_u128(2)),
            title: "希望孩子暑假有地方学习".into(),
            body: "暑期跑单忙，孩子无人照看。".into(),
            published_on: NaiveDate::from_ymd_opt(2022, 5, 1).unwrap_or_default(),
        }
    }

    #[test]
    fn a_wish_is_a_workers_own_and_published_once() {
        given(PostDecider, [])
            .when(Publish(wish()))
            .then([Published(wish())]);
        given(PostDecider, [Published(wish())])
            .when(Publish(wish()))
            .then([]);
        given(PostDecider, [])
            .when(Publish(Post {
                author: None,
                ..wish()
            }))
            .then_invalid("author_person_id");
        given(PostDecider, [])
            .when(Publish(Post {
                kind: Kind::News,
                ..wish()
            }))
            .then_invalid("author_person_id");
        given(PostDecider, [Published(wish())])
            .when(Publish(Post {
                body: "另一个心愿".into(),
                ..wish()
            }))
            .then_rejected("already published differently");
    }
}
