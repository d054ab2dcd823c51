//! `Party`: a group membership with change notification.

use std::sync::{Arc, Mutex};

use aiozk::path::join;
use aiozk::{Client, Error, EventType, Result, SessionState};
use tokio::sync::watch;

use crate::support::across_expiry::{
    create_plain, create_unique, delete_quietly, persist, reclaim, OrphanGuard, SessionWatch,
};
use crate::support::naming::{label_of, new_guid, sorted_sequential};
use crate::support::task::TaskGuard;
use crate::Layout;

/// A party (group membership): members [`join`](Party::join) under a common base path,
/// and each sees the current [`members`](Party::members) and can
/// [`wait_for_change`](Party::wait_for_change).
///
/// # Znode layout (the same as aiozk)
/// `<base>/<name>-<guid>-<10-digit sequence>`: one ephemeral sequential node per joined
/// member (`guid`: 32 hex digits, one per `Party` value). Members are reported by name, in
/// the order they joined (sequence number). Names must not contain `/`. Two members may
/// use the same name; the name is then listed twice.
///
/// # kazoo's layout
/// With [`Party::with_layout`]`(`[`Layout::Kazoo`]`)` the party is kazoo's `Party`:
/// `<base>/<uuid hex>__party__`, an ephemeral node (not sequential) whose data is the
/// member's name (kazoo's identifier). The members are the data of the children whose
/// names hold `__party__`, in the order of the node names.
///
/// With [`Party::shallow`] it is kazoo's `ShallowParty` instead: `<base>/<uuid hex>-<name>`,
/// an ephemeral node (data: the name too, as kazoo writes it), so the member list is one
/// `getChildren`: every child of the base path is a member, named by what follows the first
/// `-` of its node name, in the order of the node names. Names must then be valid in a node
/// name (they already exclude `/`).
///
/// # Guarantees
/// [`members`](Party::members) is the latest list read from the server; every change of
/// the list is observed, though changes in quick succession may be coalesced into one.
///
/// # Connection loss and session expiry
/// The member node survives reconnects, and the list is re-read after every reconnect.
/// When the session expires the node is gone; the party joins again, with a new node, as
/// soon as the new session is established (other members see a leave and a join). A node
/// deleted by someone else while the session is alive is not re-created (the member was
/// removed on purpose).
///
/// # Cancellation safety
/// Dropping [`join`](Party::join) half-way leaves no node behind. Dropping the `Party`
/// stops watching but does not delete the node (it goes with the session); call
/// [`leave`](Party::leave).
///
/// # Examples
/// ```no_run
/// # async fn example(zk: aiozk::Client) -> aiozk::Result<()> {
/// use aiozk_recipes::Party;
///
/// let party = Party::new(&zk, "/parties/workers", "worker-1")?;
/// party.join().await?;
/// println!("members: {:?}", party.members());
/// let members = party.wait_for_change().await?;
/// println!("now: {members:?}");
/// party.leave().await?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Party {
    client: Client,
    base: String,
    name: String,
    guid: String,
    layout: Layout,
    shallow: bool,
    shared: Arc<Shared>,
    task: Mutex<Option<TaskGuard>>,
}

#[derive(Debug)]
struct Shared {
    /// The member names, by sequence.
    members: watch::Sender<Vec<String>>,
    /// The full path of our node while joined.
    own: Mutex<Option<String>>,
}

impl Shared {
    fn own(&self) -> Option<String> {
        self.own.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn set_own(&self, node: Option<String>) {
        *self.own.lock().unwrap_or_else(|e| e.into_inner()) = node;
    }
}

impl Party {
    /// A party member called `name` under `base_path`.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when `name` is empty or contains `/`.
    pub fn new(client: &Client, base_path: &str, name: &str) -> Result<Self> {
        if name.is_empty() || name.contains('/') {
            return Err(Error::InvalidArgument(format!(
                "party member name {name:?} must be non-empty and without '/'"
            )));
        }
        Ok(Self {
            client: client.clone(),
            base: base_path.to_owned(),
            name: name.to_owned(),
            guid: new_guid(),
            layout: Layout::Aiozk,
            shallow: false,
            shared: Arc::new(Shared {
                members: watch::channel(Vec::new()).0,
                own: Mutex::new(None),
            }),
            task: Mutex::new(None),
        })
    }

    /// Uses `layout`'s nodes: aiozk's (the default) or kazoo's (see
    /// [kazoo's layout](#kazoos-layout)); Curator has no party, so [`Layout::Curator`]
    /// keeps aiozk's.
    pub fn with_layout(mut self, layout: Layout) -> Self {
        self.layout = layout;
        self
    }

    /// Uses kazoo's `ShallowParty` nodes, the name in the node name (see
    /// [kazoo's layout](#kazoos-layout)); implies [`Layout::Kazoo`].
    pub fn shallow(mut self) -> Self {
        self.layout = Layout::Kazoo;
        self.shallow = true;
        self
    }

    /// The base path.
    pub fn base_path(&self) -> &str {
        &self.base
    }

    /// This member's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// This member's node while joined.
    pub fn own_node(&self) -> Option<String> {
        self.shared.own()
    }

    /// Joins the party (creating the base path if needed) and starts following the member
    /// list. Joining twice is a no-op. Must be called within a tokio runtime.
    ///
    /// # Errors
    /// [`Error::NoAuth`]; [`Error::Closed`] and other errors that end the session.
    ///
    /// # Cancellation safety
    /// Dropping the future leaves no member node behind.
    pub async fn join(&self) -> Result<()> {
        if self.shared.own().is_some() {
            return Ok(());
        }
        let me = Member {
            client: self.client.clone(),
            base: self.base.clone(),
            name: self.name.clone(),
            guid: self.guid.clone(),
            style: self.style(),
        };
        let mut guard = OrphanGuard::new(&self.client, &self.base, me.prefix());
        let node = me.create().await?;
        self.shared.set_own(Some(node));
        let children = persist(&self.client, || self.client.get_children(&self.base)).await?;
        publish(&self.shared, me.names(children).await?);
        let task = tokio::spawn(follow(me, self.shared.clone()));
        *self.task.lock().unwrap_or_else(|e| e.into_inner()) = Some(TaskGuard(task));
        guard.disarm();
        Ok(())
    }

    /// Leaves the party: stops following and deletes this member's node.
    ///
    /// # Errors
    /// [`Error::Closed`] and other errors that end the session.
    pub async fn leave(&self) -> Result<()> {
        drop(self.task.lock().unwrap_or_else(|e| e.into_inner()).take());
        if self.shared.own().is_none() {
            return Ok(());
        }
        self.shared.set_own(None);
        // Sweep by prefix: the follower task may have been re-joining when it was stopped.
        let prefix = self.style().prefix(&self.name, &self.guid);
        let children = match persist(&self.client, || self.client.get_children(&self.base)).await {
            Ok(c) => c,
            Err(Error::NoNode) => return Ok(()),
            Err(e) => return Err(e),
        };
        for c in children.iter().filter(|c| c.starts_with(&prefix)) {
            delete_quietly(&self.client, &join(&self.base, c)).await?;
        }
        Ok(())
    }

    fn style(&self) -> Style {
        match (self.layout, self.shallow) {
            (Layout::Kazoo, true) => Style::KazooShallow,
            (Layout::Kazoo, false) => Style::Kazoo,
            _ => Style::Aiozk,
        }
    }

    /// The member names as last read, in joining order (empty before [`join`](Party::join)).
    pub fn members(&self) -> Vec<String> {
        self.shared.members.borrow().clone()
    }

    /// Waits for the member list to change and returns the new list.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when the party was not joined.
    ///
    /// # Cancellation safety
    /// Cancel safe.
    pub async fn wait_for_change(&self) -> Result<Vec<String>> {
        let mut rx = self.members_watch()?;
        rx.borrow_and_update();
        rx.changed().await.map_err(|_| Error::Closed)?;
        let members = rx.borrow().clone();
        Ok(members)
    }

    /// A receiver of the member list, for callers that must not miss a change between two
    /// waits.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when the party was not joined.
    pub fn members_watch(&self) -> Result<watch::Receiver<Vec<String>>> {
        if self.shared.own().is_none() {
            return Err(Error::InvalidArgument("the party was not joined".into()));
        }
        Ok(self.shared.members.subscribe())
    }
}

/// kazoo's name part of a party member's node.
const KAZOO_PARTY: &str = "__party__";

/// Whose party nodes a member uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Style {
    /// `<name>-<guid>-<seq>`, empty.
    Aiozk,
    /// kazoo's `Party`: `<guid>__party__`, the name as data.
    Kazoo,
    /// kazoo's `ShallowParty`: `<guid>-<name>`, the name as data too.
    KazooShallow,
}

impl Style {
    /// The start of a member's node names (the whole name in kazoo's layouts).
    fn prefix(self, name: &str, guid: &str) -> String {
        match self {
            Style::Aiozk => format!("{name}-{guid}-"),
            Style::Kazoo => format!("{guid}{KAZOO_PARTY}"),
            Style::KazooShallow => format!("{guid}-{name}"),
        }
    }
}

/// What the follower task needs to know about this member.
struct Member {
    client: Client,
    base: String,
    name: String,
    guid: String,
    style: Style,
}

impl Member {
    /// The start of this member's node names.
    fn prefix(&self) -> String {
        self.style.prefix(&self.name, &self.guid)
    }

    async fn create(&self) -> Result<String> {
        if self.style != Style::Aiozk {
            create_plain(
                &self.client,
                &self.base,
                &self.prefix(),
                self.name.as_bytes(),
                &aiozk::CreateOptions::new(),
            )
            .await
        } else {
            create_unique(&self.client, &self.base, &self.name, &self.guid, b"").await
        }
    }

    /// After a new session: this member's node, created again if it went with the old one.
    async fn reclaim(&self, node: &str) -> Result<String> {
        if self.style == Style::Aiozk {
            return reclaim(&self.client, &self.base, &self.name, &self.guid, node).await;
        }
        let stat = persist(&self.client, || self.client.exists(node)).await?;
        if stat.is_some_and(|s| s.ephemeral_owner == self.client.session_id()) {
            return Ok(node.to_owned());
        }
        self.create().await
    }

    /// The member names of `children`: their labels (aiozk), what follows the first `-`
    /// (kazoo's shallow party), or the data of kazoo's member nodes (read now; a node gone
    /// meanwhile is left out).
    async fn names(&self, mut children: Vec<String>) -> Result<Vec<String>> {
        match self.style {
            Style::Aiozk => {
                return Ok(sorted_sequential(children)
                    .iter()
                    .map(|c| label_of(c).to_owned())
                    .collect())
            }
            Style::KazooShallow => {
                children.sort();
                return Ok(children
                    .iter()
                    .map(|c| c.split_once('-').map_or(c.as_str(), |(_, n)| n).to_owned())
                    .collect());
            }
            Style::Kazoo => {}
        }
        let mut members: Vec<String> = children
            .into_iter()
            .filter(|c| c.contains(KAZOO_PARTY))
            .collect();
        members.sort();
        let mut names = Vec::with_capacity(members.len());
        for m in members {
            let path = join(&self.base, &m);
            match persist(&self.client, || self.client.get_data(&path)).await {
                Ok((data, _)) => names.push(String::from_utf8_lossy(&data).into_owned()),
                Err(Error::NoNode) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(names)
    }
}

/// Publishes the member names if they changed.
fn publish(shared: &Shared, names: Vec<String>) {
    shared.members.send_if_modified(|m| {
        if *m == names {
            false
        } else {
            *m = names;
            true
        }
    });
}

/// Follows the member list, and joins again after a session expiry.
async fn follow(me: Member, shared: Arc<Shared>) {
    let (client, base) = (me.client.clone(), me.base.clone());
    let mut session = SessionWatch::new(&client);
    let mut session_id = client.session_id();
    loop {
        let read = persist(&client, || client.get_children_watched(&base)).await;
        let watcher = match read {
            Ok((children, _, w)) => {
                match me.names(children).await {
                    Ok(names) => publish(&shared, names),
                    Err(_) => return,
                }
                Some(w)
            }
            Err(Error::NoNode) => {
                publish(&shared, Vec::new());
                None
            }
            Err(_) => return,
        };
        if client.session_id() != session_id && client.state().is_connected() {
            session_id = client.session_id();
            if let Some(node) = shared.own() {
                match me.reclaim(&node).await {
                    Ok(new) if new == node => {}
                    Ok(new) => {
                        shared.set_own(Some(new));
                        continue;
                    }
                    Err(_) => return,
                }
            }
        }
        let watcher = match watcher {
            Some(w) => w,
            None => match persist(&client, || client.exists_watched(&base)).await {
                Ok((Some(_), _)) => continue,
                Ok((None, w)) => w,
                Err(_) => return,
            },
        };
        tokio::select! {
            ev = watcher => {
                if ev.event_type == EventType::None && ev.state == SessionState::Closed {
                    return;
                }
            }
            r = session.next() => {
                if r.is_none() {
                    return;
                }
            }
        }
    }
}
