//! Broadcast operators in the spirit of socket.io's `to().except().emit()`: a selection of
//! sockets in one namespace, resolved by its RoomManager; the packet is encoded once.

use std::{sync::Arc, time::Duration};

use futures_util::future::join_all;
use serde::Serialize;

use crate::socket::{
    cluster::{Adapter, ClusterError, RemoteSocket, Selection},
    error::{AckError, EmitError},
    namespace::Namespace,
    packet::RESERVED_EVENTS,
    payload::Payload,
    rooms::{Join, Leave, Room, Selector},
    socket::Socket,
};

/// How long `emit_with_ack` on an operator waits when no `timeout` was set.
const DEFAULT_ACK_TIMEOUT: Duration = Duration::from_secs(10);

/// One room or several: `"lobby"`, `String`, `vec!["a", "b"]`, `["a", "b"]`, `&[..]`.
pub trait IntoRooms {
    /// The room names.
    fn into_rooms(self) -> Vec<Room>;
}

impl IntoRooms for &str {
    fn into_rooms(self) -> Vec<Room> {
        vec![Arc::from(self)]
    }
}

impl IntoRooms for String {
    fn into_rooms(self) -> Vec<Room> {
        vec![Arc::from(self)]
    }
}

impl IntoRooms for &String {
    fn into_rooms(self) -> Vec<Room> {
        vec![Arc::from(self.as_str())]
    }
}

impl<T: AsRef<str>> IntoRooms for Vec<T> {
    fn into_rooms(self) -> Vec<Room> {
        self.iter().map(|r| Arc::from(r.as_ref())).collect()
    }
}

impl<T: AsRef<str>> IntoRooms for &[T] {
    fn into_rooms(self) -> Vec<Room> {
        self.iter().map(|r| Arc::from(r.as_ref())).collect()
    }
}

impl<T: AsRef<str>, const N: usize> IntoRooms for [T; N] {
    fn into_rooms(self) -> Vec<Room> {
        self.iter().map(|r| Arc::from(r.as_ref())).collect()
    }
}

/// A selection of sockets in one namespace: build it with `to`, `except`, `volatile`,
/// `timeout`, then `emit`, `emit_with_ack`, `fetch_sockets`, `sockets_join`...
#[derive(Clone)]
pub struct BroadcastOperator {
    ns: Namespace,
    selector: Selector,
    volatile: bool,
    timeout: Option<Duration>,
    local: bool,
}

impl BroadcastOperator {
    pub(crate) fn new(ns: Namespace) -> Self {
        BroadcastOperator {
            ns,
            selector: Selector::default(),
            volatile: false,
            timeout: None,
            local: false,
        }
    }

    /// The selection as nodes tell each other (excluded socket ids are rooms too).
    fn selection(&self) -> Selection {
        let names = |rooms: &[Room]| rooms.iter().map(|r| r.to_string()).collect::<Vec<_>>();
        let mut except = names(&self.selector.except_rooms);
        except.extend(self.selector.except_ids.iter().map(|id| id.to_string()));
        Selection {
            rooms: names(&self.selector.rooms),
            except,
        }
    }

    /// The cluster adapter, unless this operation stays on this node.
    fn cluster(&self) -> Option<&Arc<dyn Adapter>> {
        if self.local {
            return None;
        }
        self.ns.adapter()
    }

    pub(crate) fn excluding_socket(mut self, id: Arc<str>) -> Self {
        self.selector.except_ids.push(id);
        self
    }

    /// Adds rooms to target (their union; no room at all means the whole namespace).
    pub fn to(mut self, rooms: impl IntoRooms) -> Self {
        self.selector.rooms.extend(rooms.into_rooms());
        self
    }

    /// Excludes the members of these rooms.
    pub fn except(mut self, rooms: impl IntoRooms) -> Self {
        self.selector.except_rooms.extend(rooms.into_rooms());
        self
    }

    /// Lets a recipient whose connection is busy (a slow consumer) miss this packet.
    pub fn volatile(mut self) -> Self {
        self.volatile = true;
        self
    }

    /// Keeps the operation on this node: other nodes of a cluster are not involved.
    pub fn local(mut self) -> Self {
        self.local = true;
        self
    }

    /// How long `emit_with_ack` waits for the answers.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Emits an event with one argument to every selected socket.
    pub fn emit<T: Serialize + ?Sized>(&self, event: &str, data: &T) -> Result<(), EmitError> {
        self.emit_payload(event, Payload::new().arg(data)?)
    }

    /// Emits an event with any arguments to every selected socket (on every node, with an
    /// adapter); encoded once for all of this node's.
    pub fn emit_payload(&self, event: &str, payload: Payload) -> Result<(), EmitError> {
        if RESERVED_EVENTS.contains(&event) {
            return Err(EmitError::ReservedEvent(event.to_owned()));
        }
        if let Some(adapter) = self.cluster() {
            adapter.broadcast(
                self.ns.name(),
                &self.selection(),
                event,
                &payload,
                self.volatile,
            );
        }
        self.ns
            .broadcast_here(self.selector.clone(), event, payload, self.volatile);
        Ok(())
    }

    /// Emits to every selected socket and collects each one's acknowledgement (or why none came
    /// within the timeout), as `(socket id, answer)` pairs. With an adapter, the sockets of the
    /// other nodes answer too: their pairs come after this node's, with an empty id (the
    /// adapter protocol does not carry it) and only the first argument of each answer.
    pub async fn emit_with_ack<T: Serialize + ?Sized>(
        &self,
        event: &str,
        data: &T,
    ) -> Result<Vec<(String, Result<Payload, AckError>)>, EmitError> {
        let payload = Payload::new().arg(data)?;
        self.emit_payload_with_ack(event, payload).await
    }

    /// `emit_with_ack` with any arguments.
    pub async fn emit_payload_with_ack(
        &self,
        event: &str,
        payload: Payload,
    ) -> Result<Vec<(String, Result<Payload, AckError>)>, EmitError> {
        if RESERVED_EVENTS.contains(&event) {
            return Err(EmitError::ReservedEvent(event.to_owned()));
        }
        let timeout = self.timeout.unwrap_or(DEFAULT_ACK_TIMEOUT);
        let remote = self.cluster().map(|adapter| {
            adapter.broadcast_with_ack(self.ns.name(), &self.selection(), event, &payload, timeout)
        });
        let sockets = self.fetch_sockets().await;
        let local = join_all(
            sockets
                .iter()
                .map(|socket| socket.emit_payload_with_ack(event, payload.clone(), timeout)),
        );
        let (answers, remote) = match remote {
            Some(remote) => {
                let (answers, remote) = futures_util::future::join(local, remote).await;
                (answers, Some(remote))
            }
            None => (local.await, None),
        };
        let mut out: Vec<(String, Result<Payload, AckError>)> = sockets
            .iter()
            .map(|s| s.id().to_owned())
            .zip(answers)
            .collect();
        if let Some(remote) = remote {
            if remote.silent_nodes > 0 {
                log::warn!(
                    "emit_with_ack({event:?}): {} node(s) did not answer in time",
                    remote.silent_nodes
                );
            }
            out.extend(remote.answers.into_iter().map(|a| (String::new(), a)));
        }
        Ok(out)
    }

    /// The selected sockets across the cluster (this node's included, with their local
    /// handle): id, rooms, data and handshake as each node reports them
    /// (`io.fetchSockets()` in Node). Without an adapter, this node's sockets.
    pub async fn fetch_remote_sockets(&self) -> Result<Vec<RemoteSocket>, ClusterError> {
        let remote = self
            .cluster()
            .map(|adapter| adapter.fetch_sockets(&self.ns, &self.selection()));
        let mut out: Vec<RemoteSocket> = self
            .fetch_sockets()
            .await
            .into_iter()
            .map(RemoteSocket::local)
            .collect();
        if let Some(remote) = remote {
            out.extend(remote.await?);
        }
        Ok(out)
    }

    /// Handles of the selected sockets on this node (with their ids, rooms and data); see
    /// [`BroadcastOperator::fetch_remote_sockets`] for the whole cluster.
    pub async fn fetch_sockets(&self) -> Vec<Socket> {
        self.ns.shards().fetch(self.selector.clone()).await
    }

    /// Makes every selected socket (on every node, with an adapter) join these rooms.
    pub fn sockets_join(&self, rooms: impl IntoRooms) {
        let rooms = rooms.into_rooms();
        if let Some(adapter) = self.cluster() {
            let names: Vec<String> = rooms.iter().map(|r| r.to_string()).collect();
            adapter.add_sockets(self.ns.name(), &self.selection(), &names);
        }
        self.ns.shards().do_send_all(Join {
            selector: self.selector.clone(),
            rooms,
        });
    }

    /// Makes every selected socket (on every node, with an adapter) leave these rooms.
    pub fn sockets_leave(&self, rooms: impl IntoRooms) {
        let rooms = rooms.into_rooms();
        if let Some(adapter) = self.cluster() {
            let names: Vec<String> = rooms.iter().map(|r| r.to_string()).collect();
            adapter.del_sockets(self.ns.name(), &self.selection(), &names);
        }
        self.ns.shards().do_send_all(Leave {
            selector: self.selector.clone(),
            rooms,
        });
    }

    /// Disconnects every selected socket (on every node, with an adapter) from the namespace;
    /// with `close`, each one's client is disconnected from every namespace and its connection
    /// closed (socket.io's `disconnectSockets(true)`).
    pub async fn disconnect_sockets(&self, close: bool) {
        if let Some(adapter) = self.cluster() {
            adapter.disconnect_sockets(self.ns.name(), &self.selection(), close);
        }
        disconnect_each(self.fetch_sockets().await, close);
    }
}

/// `disconnect` (or, with `close`, `disconnect_and_close`) for each of these sockets.
pub(crate) fn disconnect_each(sockets: Vec<Socket>, close: bool) {
    for socket in sockets {
        if close {
            socket.disconnect_and_close();
        } else {
            socket.disconnect();
        }
    }
}
