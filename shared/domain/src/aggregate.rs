//! The one shape every aggregate has: `decide` turns a command into events (or refuses it) from
//! the current state, `evolve` folds one event into the state. Both are pure; the application
//! layer loads, decides and appends, and everything that rebuilds an entity uses [`fold`].

use crate::error::DomainError;
use crate::event::StreamEvent;
use crate::ids::{EntityId, OrganizationId};
use chrono::{DateTime, Utc};

/// What a stored event says besides its payload: whose entity it is, and when it happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EventHeader<Id> {
    pub id: Id,
    pub organization_id: OrganizationId,
    pub occurred_at: DateTime<Utc>,
}

pub trait Aggregate: Sized {
    type Id: EntityId;
    type Event: StreamEvent;
    type Command;
    /// What people call it, e.g. "onboarding link" (in not-found errors).
    const NAME: &'static str;

    /// The events `command` comes to, given the state (`None` before the entity exists). An
    /// empty list means the entity is already as asked.
    fn decide(state: Option<&Self>, command: &Self::Command) -> Result<Vec<Self::Event>, DomainError>;

    /// The state after `event`; `None` while the stream has not started the entity.
    fn evolve(state: Option<Self>, event: &Self::Event, header: &EventHeader<Self::Id>) -> Option<Self>;

    /// The state a command's events lead to, from the state it was decided on.
    fn evolve_all<'a>(
        state: Option<Self>,
        events: impl IntoIterator<Item = &'a Self::Event>,
        header: &EventHeader<Self::Id>,
    ) -> Option<Self>
    where
        Self::Event: 'a,
    {
        events
            .into_iter()
            .fold(state, |state, event| Self::evolve(state, event, header))
    }
}

/// Folds a stream's events, oldest first, into the entity's state.
pub fn fold<A: Aggregate>(events: impl IntoIterator<Item = (EventHeader<A::Id>, A::Event)>) -> Option<A> {
    events
        .into_iter()
        .fold(None, |state, (header, event)| A::evolve(state, &event, &header))
}

/// Given/when/then for aggregate rules: `given(events).when(command).then(events)`.
#[cfg(test)]
pub(crate) mod testing {
    use super::*;
    use std::fmt::Debug;

    pub struct Given<A: Aggregate> {
        state: Option<A>,
    }

    /// The entity after `events`, all recorded at `at` for one new entity of one organization.
    pub fn given_at<A: Aggregate>(events: impl IntoIterator<Item = A::Event>, at: DateTime<Utc>) -> Given<A> {
        let header = EventHeader {
            id: A::Id::from_uuid(uuid::Uuid::now_v7()),
            organization_id: OrganizationId::new(),
            occurred_at: at,
        };
        Given {
            state: fold(events.into_iter().map(|e| (header, e))),
        }
    }

    pub fn given<A: Aggregate>(events: impl IntoIterator<Item = A::Event>) -> Given<A> {
        given_at(events, Utc::now())
    }

    /// No entity yet.
    pub fn nothing<A: Aggregate>() -> Given<A> {
        Given { state: None }
    }

    pub struct When<A: Aggregate> {
        outcome: Result<Vec<A::Event>, DomainError>,
    }

    impl<A: Aggregate> Given<A> {
        pub fn when(self, command: A::Command) -> When<A> {
            When {
                outcome: A::decide(self.state.as_ref(), &command),
            }
        }

        pub fn state(&self) -> &A {
            self.state.as_ref().expect("the given events start the entity")
        }
    }

    impl<A: Aggregate> When<A>
    where
        A::Event: PartialEq + Debug,
    {
        #[track_caller]
        pub fn then(self, expected: impl IntoIterator<Item = A::Event>) {
            let expected: Vec<_> = expected.into_iter().collect();
            assert_eq!(self.outcome.expect("the command is accepted"), expected);
        }

        /// The command is accepted and changes nothing.
        #[track_caller]
        pub fn then_nothing(self) {
            self.then([]);
        }

        #[track_caller]
        pub fn then_error(self, expected: DomainError) {
            match self.outcome {
                Err(error) => assert_eq!(error, expected),
                Ok(events) => panic!("expected {expected:?}, the command gave {events:?}"),
            }
        }

        /// The accepted events, for tests that look at them field by field.
        #[track_caller]
        pub fn events(self) -> Vec<A::Event> {
            self.outcome.expect("the command is accepted")
        }
    }
}
