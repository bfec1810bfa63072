//! Counts what an operation sends to MongoDB, with the driver's own
//! monitoring: every `CommandStartedEvent` (with its command document, kept
//! for `explain`), when it ended, and the connections the pool opened.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use mongodb::bson::{Bson, Document};
use mongodb::event::cmap::CmapEvent;
use mongodb::event::command::CommandEvent;
use mongodb::event::EventHandler;
use mongodb::options::ClientOptions;

#[derive(Clone, Debug)]
pub struct Command {
    pub name: String,
    /// The collection, for the commands that name one.
    pub collection: Option<String>,
    pub document: Document,
    request_id: i32,
    started: Instant,
    ended: Option<Instant>,
}

impl Command {
    /// `find users`, `commitTransaction`.
    pub fn label(&self) -> String {
        match &self.collection {
            Some(collection) => format!("{} {collection}", self.name),
            None => self.name.clone(),
        }
    }
}

/// What one stretch of work sent.
#[derive(Clone, Debug, Default)]
pub struct Recorded {
    pub commands: Vec<Command>,
    pub connections_opened: usize,
}

impl Recorded {
    /// The commands grouped by round trip: a command's round trip is one
    /// more than the latest of those that had answered before it started
    /// (it may have waited for them), so commands sent in parallel share one,
    /// and the number of groups is the longest chain of waits.
    pub fn round_trips(&self) -> Vec<Vec<&Command>> {
        let mut depths: Vec<usize> = Vec::with_capacity(self.commands.len());
        for (i, command) in self.commands.iter().enumerate() {
            let depth = self.commands[..i]
                .iter()
                .zip(&depths)
                .filter(|(before, _)| before.ended.is_some_and(|end| end <= command.started))
                .map(|(_, depth)| depth + 1)
                .max()
                .unwrap_or(1);
            depths.push(depth);
        }
        let trips = depths.iter().max().copied().unwrap_or(0);
        (1..=trips)
            .map(|trip| {
                self.commands
                    .iter()
                    .zip(&depths)
                    .filter(|(_, depth)| **depth == trip)
                    .map(|(command, _)| command)
                    .collect()
            })
            .collect()
    }

    /// `insert login_attempts + find users → delete login_attempts + insert sessions`.
    pub fn sequence(&self) -> String {
        self.round_trips()
            .iter()
            .map(|trip| {
                trip.iter()
                    .map(|command| command.label())
                    .collect::<Vec<_>>()
                    .join(" + ")
            })
            .collect::<Vec<_>>()
            .join(" → ")
    }
}

/// Installed into a client's options; `take` returns what was sent since the last `take`.
#[derive(Clone, Default)]
pub struct CommandLog(Arc<Mutex<Recorded>>);

impl CommandLog {
    pub fn install(&self, options: &mut ClientOptions) {
        let log = self.clone();
        options.command_event_handler = Some(EventHandler::callback(move |event| {
            let now = Instant::now();
            let mut recorded = log.0.lock().expect("command log lock");
            match event {
                CommandEvent::Started(started) => {
                    let collection =
                        started
                            .command
                            .iter()
                            .next()
                            .and_then(|(_, value)| match value {
                                Bson::String(collection) => Some(collection.clone()),
                                _ => None,
                            });
                    recorded.commands.push(Command {
                        name: started.command_name,
                        collection,
                        document: started.command,
                        request_id: started.request_id,
                        started: now,
                        ended: None,
                    });
                }
                CommandEvent::Succeeded(succeeded) => {
                    end(&mut recorded, succeeded.request_id, now);
                }
                CommandEvent::Failed(failed) => end(&mut recorded, failed.request_id, now),
                _ => {}
            }
        }));
        let log = self.clone();
        options.cmap_event_handler = Some(EventHandler::callback(move |event| {
            if let CmapEvent::ConnectionCreated(_) = event {
                log.0.lock().expect("command log lock").connections_opened += 1;
            }
        }));
    }

    pub fn take(&self) -> Recorded {
        std::mem::take(&mut *self.0.lock().expect("command log lock"))
    }
}

fn end(recorded: &mut Recorded, request_id: i32, at: Instant) {
    if let Some(command) = recorded
        .commands
        .iter_mut()
        .rev()
        .find(|command| command.request_id == request_id)
    {
        command.ended = Some(at);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use mongodb::bson::doc;

    use super::*;

    fn command(name: &str, started: Instant, took_ms: u64) -> Command {
        Command {
            name: name.to_string(),
            collection: Some("c".into()),
            document: doc! {},
            request_id: 0,
            started,
            ended: Some(started + Duration::from_millis(took_ms)),
        }
    }

    #[test]
    fn parallel_commands_share_a_round_trip() {
        let t = Instant::now();
        let ms = Duration::from_millis;
        let recorded = Recorded {
            commands: vec![
                command("insert", t, 2),
                command("find", t + ms(1), 2),
                command("delete", t + ms(3), 1),
                command("insert", t + ms(3), 1),
                command("commitTransaction", t + ms(5), 1),
            ],
            connections_opened: 0,
        };
        assert_eq!(
            recorded.sequence(),
            "insert c + find c → delete c + insert c → commitTransaction c"
        );
        assert_eq!(recorded.round_trips().len(), 3);
    }

    #[test]
    fn a_command_that_waited_for_another_is_a_round_trip_later_even_beside_a_slow_one() {
        let t = Instant::now();
        let ms = Duration::from_millis;
        // login: two in parallel; then two more, one slow; the third waits
        // for the quick one only.
        let recorded = Recorded {
            commands: vec![
                command("find", t, 2),
                command("insert", t, 2),
                command("insert", t + ms(2), 1),
                command("delete", t + ms(2), 5),
                command("update", t + ms(3), 1),
            ],
            connections_opened: 0,
        };
        assert_eq!(
            recorded.sequence(),
            "find c + insert c → insert c + delete c → update c"
        );
    }
}
