//! The parser actor: turns downloaded bytes into store-ready messages with their summaries
//! and content hashes, on blocking threads so parsing never stalls the network work on the
//! async threads.

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};

use crate::parse::Summary;
use crate::store::NewMessage;

/// A downloaded message on its way to the store.
#[derive(Debug)]
pub struct Downloaded {
    /// The account it was downloaded for.
    pub account: String,
    /// Its dedup key in the store.
    pub server_key: String,
    /// The size the server listed.
    pub listed_size: u64,
    /// The exact bytes.
    pub raw: Vec<u8>,
    /// Whether a delete is owed once it is stored.
    pub delete_after: bool,
}

/// Messages of the parser actor.
pub enum ParserMsg {
    /// Parse a batch; the reply carries the same messages, in order, with summaries.
    Parse(Vec<Downloaded>, RpcReplyPort<Vec<NewMessage>>),
}

/// The parser actor (see the module documentation).
pub struct ParserActor;

impl Actor for ParserActor {
    type Msg = ParserMsg;
    type State = ();
    type Arguments = ();

    async fn pre_start(
        &self,
        _myself: ActorRef<ParserMsg>,
        _: (),
    ) -> Result<(), ActorProcessingErr> {
        Ok(())
    }

    async fn handle(
        &self,
        _myself: ActorRef<ParserMsg>,
        msg: ParserMsg,
        _state: &mut (),
    ) -> Result<(), ActorProcessingErr> {
        let ParserMsg::Parse(batch, reply) = msg;
        // Each batch parses on its own blocking thread, so batches of several accounts
        // (and the next batch of the same account) parse in parallel.
        tokio::spawn(async move {
            if let Ok(parsed) = tokio::task::spawn_blocking(move || parse_all(batch)).await {
                let _ = reply.send(parsed);
            }
        });
        Ok(())
    }
}

/// Parses and hashes every message of a batch.
pub fn parse_all(batch: Vec<Downloaded>) -> Vec<NewMessage> {
    batch.into_iter().map(parse_one).collect()
}

fn parse_one(d: Downloaded) -> NewMessage {
    let summary = Summary::of(&d.raw);
    if !summary.parsed {
        metrics::counter!(crate::metrics::MESSAGES, "account" => d.account.clone(), "outcome" => "unparseable").increment(1);
    }
    NewMessage {
        content_hash: *blake3::hash(&d.raw).as_bytes(),
        summary,
        account: d.account,
        server_key: d.server_key,
        listed_size: d.listed_size,
        raw: d.raw,
        delete_after: d.delete_after,
    }
}
