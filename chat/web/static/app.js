// ringchat's browser client: plain JavaScript, no build step, no libraries.
//
// The wire protocol is CONTRACT.md's. In short: the page holds one WebSocket
// to /ws of its own origin, in one room at a time. The first frame is a
// welcome with the room's latest event id and its epoch; room events
// (message, me, join, leave, nick) carry consecutive ids, the same for every
// member, and our own message coming back is its acknowledgement. To
// resume, the page reconnects with since (the last id it saw in that room)
// and epoch (the welcome's epoch that id belongs to); the server replays what
// it still holds after that id, or — after a restart, when the epoch differs
// — says gap and replays everything it holds.
//
// Safety: every piece of text from the network or the user is put in the
// page with textContent or createElement, never as HTML.
'use strict';

(() => {
  // ---- Constants -----------------------------------------------------------

  const STORE_NAME = 'ringchat.name';   // the display name the user chose
  const STORE_ROOMS = 'ringchat.rooms'; // the rooms in the switcher
  const STORE_ROOM = 'ringchat.room';   // the room open last
  const STORE_SESSION = 'ringchat.session'; // this tab's session token (sessionStorage)
  const SUBPROTOCOL = 'ringchat.v1';    // JSON send frames, each answered by an ack or an error
  const DEFAULT_ROOM = 'lobby';
  const HISTORY = 100;                  // events of a room's recent history shown on a first visit
  const MAX_ITEMS = 1500;               // log lines kept per room
  const BACKOFF_FIRST_MS = 300;         // first retry after a lost connection
  const BACKOFF_MAX_MS = 10000;         // retries are never further apart
  const POLICY_WAIT_MS = 5000;          // least wait after a 1008 close
  const CONFIRM_TIMEOUT_MS = 15000;     // a sent message not echoed by then failed
  const MAX_SEND_BYTES = 65536;         // never above the server's frame limit (close 1009)
  const GROUP_WINDOW_MS = 5 * 60 * 1000; // one sender's lines within this share a header

  // Display names and rooms as the server accepts them (chat/names.go):
  // names are 1-32 letters, marks, digits, punctuation or symbols; rooms are
  // 1-32 letters, digits, '-', '_' or '.', lower case, without a leading '#'.
  const NAME_RE = /^[\p{L}\p{M}\p{N}\p{P}\p{S}]{1,32}$/u;
  const ROOM_RE = /^[\p{L}\p{Nd}_.-]{1,32}$/u;

  // ---- Elements -------------------------------------------------------------

  const $ = (id) => document.getElementById(id);
  const el = {
    app: $('app'),
    menuToggle: $('menu-toggle'),
    sidebar: $('sidebar'),
    roomTitle: $('room-title'),
    status: $('status'),
    statusText: $('status-text'),
    statusDetail: $('status-detail'),
    retry: $('retry'),
    rooms: $('rooms'),
    joinForm: $('join-form'),
    joinInput: $('join-input'),
    joinError: $('join-error'),
    people: $('people'),
    peopleCount: $('people-count'),
    peopleMore: $('people-more'),
    meName: $('me-name'),
    changeName: $('change-name'),
    logs: $('logs'),
    jump: $('jump'),
    composer: $('composer'),
    composerLabel: $('composer-label'),
    input: $('composer-input'),
    announcer: $('announcer'),
    nameDialog: $('name-dialog'),
    nameForm: $('name-form'),
    nameInput: $('name-input'),
    nameError: $('name-error'),
    nameCancel: $('name-cancel'),
  };

  // ---- Storage (localStorage may be unavailable: private modes, policies) --

  const store = {
    get(key) {
      try { return localStorage.getItem(key); } catch { return null; }
    },
    set(key, value) {
      try { localStorage.setItem(key, value); } catch { /* not remembered */ }
    },
  };

  // The session lives as long as the tab: a reload within the server's
  // two minutes keeps the name. sessionStorage is per tab, so two tabs are
  // two sessions.
  const tabStore = {
    get(key) {
      try { return sessionStorage.getItem(key); } catch { return null; }
    },
    set(key, value) {
      try { sessionStorage.setItem(key, value); } catch { /* not remembered */ }
    },
  };

  // Client ids of sends: unique within the session, which may outlive this
  // page (a reload keeps it), so each page load has a random prefix of its
  // own.
  const PAGE_ID = Array.from(crypto.getRandomValues(new Uint8Array(6)), (b) => b.toString(36).padStart(2, '0')).join('');

  // ---- State ----------------------------------------------------------------

  // Room is what the page knows of one room. lastId and epoch say where to
  // resume it: ids compare only within one epoch.
  class Room {
    constructor(name) {
      this.name = name;
      this.epoch = '';     // epoch of the welcome lastId belongs to; '' before the first visit
      this.lastId = 0;     // id of the last room event shown
      this.replayEnd = 0;  // the welcome's id: events up to it are replayed history
      this.historyUntil = 0; // on a first visit, the history before we came: not unread
      this.lastSender = ''; // for grouping consecutive lines of one sender
      this.lastTime = 0;
      this.lastDay = '';
      // Who is here: the latest /who snapshot, and the member events (join,
      // leave, nick) seen live since the welcome, applied on top of it in id
      // order. The last event about a name decides, whenever the snapshot
      // was taken, so the order in which the server's /who answer and the
      // live events arrive does not matter.
      this.snapshot = null;
      this.snapshotCount = 0;
      this.memberEvents = [];
      // The room's view: its log and, below it, our messages not yet echoed.
      this.view = document.createElement('div');
      this.view.className = 'room-view';
      this.view.hidden = true;
      this.log = document.createElement('ol');
      this.log.className = 'log';
      this.pendingList = document.createElement('ol');
      this.pendingList.className = 'log pending-list';
      this.view.append(this.log, this.pendingList);
      el.logs.append(this.view);
    }
  }

  const state = {
    name: '',            // the name the user chose (asked for on connect)
    me: '',              // the name the server gave us in the current room
    room: DEFAULT_ROOM,  // the room shown
    rooms: new Map(),    // name → Room, in switcher order
    conn: null,          // the current connection, see connect()
    gen: 0,              // counts connections
    attempt: 0,          // failed attempts since the last welcome
    retryTimer: 0,
    retryAt: 0,
    countdownTimer: 0,
    minWait: 0,          // a floor for the next retry (after a 1008 close)
    myNames: new Set(),  // every name the server gave us: our messages come back under them
    pending: [],         // our messages not yet answered or shown: {room, kind, text, cid, sent, gen, sentAt, ackId, retryAt, el, note}
    session: tabStore.get(STORE_SESSION) || '', // the session token the server gave us
    cidSeq: 0,           // numbers client ids
    pace: { rate: 0, burst: 0, tokens: 0, last: 0 }, // the welcome's limits, as a token bucket
    pumpTimer: 0,
    unread: 0,           // messages that arrived while the tab was hidden
    announceQueue: [],
    announceTimer: 0,
  };

  function roomState(name) {
    let r = state.rooms.get(name);
    if (!r) {
      r = new Room(name);
      state.rooms.set(name, r);
      saveRooms();
      renderRooms();
    }
    return r;
  }

  function saveRooms() {
    store.set(STORE_ROOMS, JSON.stringify([...state.rooms.keys()]));
    store.set(STORE_ROOM, state.room);
  }

  // cleanRoom returns the canonical room name, as the server makes it, or ''.
  function cleanRoom(s) {
    const room = s.trim().replace(/^#/, '').toLowerCase();
    return ROOM_RE.test(room) ? room : '';
  }

  function cleanName(s) {
    const name = s.trim();
    return NAME_RE.test(name) ? name : '';
  }

  // ---- Connection -----------------------------------------------------------

  // connect opens a connection to the shown room, resuming it: with the
  // room's last id and epoch when the page has seen it before, or, on a
  // first visit, asking for the room's last HISTORY events — the recent
  // conversation, shown as scrollback, as a chat page is expected to show.
  function connect() {
    clearTimeout(state.retryTimer);
    clearInterval(state.countdownTimer);
    state.retryTimer = 0;
    if (state.conn) {
      const old = state.conn;
      state.conn = null;
      // Closing a socket still connecting makes Chromium log an error;
      // close it as soon as it opens instead.
      if (old.ws.readyState === WebSocket.CONNECTING) {
        old.ws.addEventListener('open', () => old.ws.close(1000, 'switching rooms'));
      } else {
        old.ws.close(1000, 'switching rooms');
      }
    }
    if (!state.name) return;
    const room = roomState(state.room);
    const q = new URLSearchParams({ name: state.name, room: room.name });
    if (state.session) q.set('session', state.session);
    if (room.epoch) {
      q.set('since', String(room.lastId));
      q.set('epoch', room.epoch);
    } else {
      q.set('history', String(HISTORY));
    }
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    let ws;
    try {
      ws = new WebSocket(`${scheme}//${location.host}/ws?${q}`, [SUBPROTOCOL]);
    } catch (err) {
      addNotice(room, `Cannot connect: ${err.message}`, 'error');
      scheduleRetry();
      return;
    }
    // silentWho counts the /who requests the page made itself on this
    // connection: their answers update the sidebar and stay out of the log.
    const conn = { ws, gen: ++state.gen, room: room.name, welcomed: false, silentWho: 0 };
    state.conn = conn;
    setStatus(state.attempt === 0 ? 'connecting' : 'reconnecting');
    // Handlers ignore a connection that is no longer the current one: after
    // a change of room the old one's close must not trigger a retry.
    ws.addEventListener('open', () => {
      if (state.conn !== conn) return;
      // What the server took of the browser's offers: permessage-deflate
      // when it compresses long events. Shown in the indicator's tooltip,
      // and read by the browser test.
      el.status.dataset.extensions = ws.extensions;
      el.status.title = ws.extensions ? `WebSocket extensions: ${ws.extensions}` : 'No WebSocket extensions';
    });
    ws.addEventListener('message', (ev) => {
      if (state.conn !== conn || typeof ev.data !== 'string') return;
      let e;
      try { e = JSON.parse(ev.data); } catch { return; }
      if (e && typeof e.type === 'string') handleEvent(conn, e);
    });
    ws.addEventListener('close', (ev) => {
      if (state.conn !== conn) return;
      state.conn = null;
      lost(conn, ev);
    });
  }

  // lost handles the end of the current connection: explain it if the
  // server said why, then retry.
  function lost(conn, ev) {
    const room = state.rooms.get(conn.room);
    switch (ev.code) {
      case 1008: // policy: rate limit, too slow, too many unread replies
        if (room) addNotice(room, `Disconnected by the server: ${ev.reason || 'policy violation'}.`, 'error');
        state.minWait = POLICY_WAIT_MS;
        break;
      case 1003: // binary or too large: sending the same again would repeat it
      case 1009:
        if (room) addNotice(room, `Disconnected by the server: ${ev.reason || 'unsupported data'}.`, 'error');
        for (const p of state.pending.filter((q) => q.sent && q.gen === conn.gen)) failPending(p, 'refused by the server');
        state.minWait = POLICY_WAIT_MS;
        break;
      case 1001: // going away: the server is restarting; come back soon
      default:
        break;
    }
    if (conn.welcomed && room) room.snapshot = null;
    renderPeople();
    scheduleRetry();
  }

  // scheduleRetry waits, with exponential backoff and jitter, before the
  // next attempt: from BACKOFF_FIRST_MS doubling up to BACKOFF_MAX_MS, each
  // wait drawn between half and all of that, so that many pages dropped at
  // once by a restarting server do not come back all at once.
  function scheduleRetry() {
    clearTimeout(state.retryTimer);
    const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** state.attempt);
    let wait = ceiling / 2 + Math.random() * ceiling / 2;
    wait = Math.max(wait, state.minWait);
    state.minWait = 0;
    state.attempt++;
    state.retryAt = Date.now() + wait;
    state.retryTimer = setTimeout(connect, wait);
    setStatus(navigator.onLine === false ? 'offline' : 'reconnecting');
    clearInterval(state.countdownTimer);
    state.countdownTimer = setInterval(updateCountdown, 1000);
    updateCountdown();
  }

  function retryNow() {
    if (state.conn) return;
    connect();
  }

  // ---- Connection indicator ------------------------------------------------

  const STATUS_TEXT = {
    idle: 'Not connected',
    connecting: 'Connecting…',
    connected: 'Connected',
    reconnecting: 'Reconnecting…',
    offline: 'Offline',
  };

  // setStatus shows the connection state. Only the state word is in the live
  // region (role=status); the countdown beside it is not, so screen readers
  // hear a change of state and not every second.
  function setStatus(s) {
    el.status.dataset.state = s;
    if (el.statusText.textContent !== STATUS_TEXT[s]) el.statusText.textContent = STATUS_TEXT[s];
    const waiting = (s === 'reconnecting' || s === 'offline') && state.retryTimer !== 0;
    el.retry.hidden = !waiting;
    if (!waiting) {
      el.statusDetail.textContent = '';
      clearInterval(state.countdownTimer);
    }
  }

  function updateCountdown() {
    if (!state.retryTimer) return;
    const secs = Math.max(0, Math.ceil((state.retryAt - Date.now()) / 1000));
    const where = navigator.onLine === false ? 'no network; ' : '';
    el.statusDetail.textContent = secs > 0 ? `(${where}retry in ${secs} s)` : `(${where}trying…)`;
  }

  // ---- Events from the server ---------------------------------------------

  function handleEvent(conn, e) {
    switch (e.type) {
      case 'welcome': return welcome(conn, e);
      case 'message':
      case 'me':
      case 'join':
      case 'leave':
      case 'nick': return roomEvent(conn, e);
      case 'who': return who(conn, e);
      case 'gap': return gap(e);
      case 'error': return serverError(conn, e);
      case 'ack': return ack(conn, e);
      case 'help': return addNotice(currentRoom(), String(e.text || ''), 'help');
      default: return; // a newer server's event: ignore
    }
  }

  // welcome starts (or resumes) a room. If the epoch differs from the one
  // our lastId belongs to, the server restarted and its ids began again:
  // everything it replays is new to us, so lastId goes back to 0. On a first
  // visit we asked for the recent history, so the same holds.
  function welcome(conn, e) {
    const name = String(e.room || conn.room);
    if (name !== conn.room) {
      // The server spelled the room differently (its canonical form): use
      // its name, and drop ours if we never saw anything under it.
      const asked = conn.room;
      conn.room = name;
      state.room = name;
      showRoom(name);
      const r = state.rooms.get(asked);
      if (r && !r.epoch) forgetRoom(asked);
    }
    const room = roomState(name);
    room.historyUntil = room.epoch ? 0 : Number(e.id) || 0;
    // A lastId beyond the room's latest id cannot be of this epoch either
    // (the server then replays everything too): showing an event twice is
    // better than hiding new ones.
    if (room.epoch !== e.epoch || room.lastId > (Number(e.id) || 0)) room.lastId = 0;
    room.epoch = String(e.epoch || '');
    room.replayEnd = Number(e.id) || 0;
    room.snapshot = null;
    room.memberEvents = [];
    conn.welcomed = true;
    state.attempt = 0;
    if (e.session) {
      state.session = String(e.session);
      tabStore.set(STORE_SESSION, state.session);
    }
    setPace(e.limits);
    state.me = String(e.name || state.name);
    state.myNames.add(state.me);
    el.meName.textContent = state.me;
    setStatus('connected');
    // Ask who is here; the answer fills the sidebar, not the log.
    conn.silentWho++;
    send(conn, '/who');
    // Our messages not yet answered — typed while offline, or written to an
    // earlier connection — go again, with their client ids: the server
    // answers those it has already taken without publishing them twice.
    for (const p of state.pending) {
      if (p.room === room.name && !p.ackId) p.sent = false;
    }
    pump();
    renderPeople();
  }

  // roomEvent shows a room event once: ids are consecutive per room and
  // epoch, so anything at or below lastId was shown already (a replay that
  // overlaps what we saw before the connection dropped).
  function roomEvent(conn, e) {
    const room = roomState(String(e.room || conn.room));
    const id = Number(e.id) || 0;
    if (id > 0 && id <= room.lastId) return;
    if (id > 0) room.lastId = id;
    shown(room);
    const live = id > room.replayEnd;
    const from = String(e.from || '');
    const text = String(e.text || '');
    switch (e.type) {
      case 'message':
      case 'me':
        addMessage(room, e, live);
        if (!state.myNames.has(from) && id > room.historyUntil) noteUnread(room, e.type === 'me' ? `${from} ${text}` : `${from}: ${text}`, live);
        break;
      case 'join':
        addNotice(room, `${from} joined #${room.name}`, 'join', e);
        break;
      case 'leave':
        addNotice(room, `${from} left #${room.name}`, 'leave', e);
        break;
      case 'nick': {
        const to = String(e.name || '');
        addNotice(room, `${from} is now known as ${to}`, 'nick', e);
        if (from === state.me) {
          state.me = to;
          state.myNames.add(to);
          state.name = to;
          store.set(STORE_NAME, to);
          el.meName.textContent = to;
        }
        break;
      }
    }
    if (live && (e.type === 'join' || e.type === 'leave' || e.type === 'nick')) {
      room.memberEvents.push({ type: e.type, from, to: String(e.name || '') });
      if (room.name === state.room) renderPeople();
    }
  }

  function who(conn, e) {
    const room = state.rooms.get(String(e.room || ''));
    const names = Array.isArray(e.names) ? e.names.map(String) : [];
    const count = Number(e.count) || names.length;
    if (room) {
      room.snapshot = names;
      room.snapshotCount = count;
      if (room.name === state.room) renderPeople();
    }
    if (conn.silentWho > 0) {
      conn.silentWho--;
      return;
    }
    const more = count > names.length ? ` and ${count - names.length} more` : '';
    addNotice(room || currentRoom(), `In #${e.room} (${count}): ${names.join(', ')}${more}`, 'who');
  }

  // gap: events we can no longer get. missed > 0 counts them; 0 means the
  // room's history began again (a new epoch: the server lost its data, or
  // keeps its history in memory and restarted) and it replays what it kept.
  function gap(e) {
    const room = state.rooms.get(String(e.room || '')) || currentRoom();
    const missed = Number(e.missed) || 0;
    if (missed > 0 && room.log.childElementCount === 0) {
      addNotice(room, 'Earlier messages are no longer kept by the server.', 'gap');
    } else if (missed > 0) {
      addNotice(room, `${missed} event${missed === 1 ? '' : 's'} missed: the server no longer has them.`, 'gap');
    } else if (room.log.childElementCount > 0) {
      addNotice(room, `The history of #${room.name} began again on the server (it lost what it kept). Messages since then follow.`, 'gap');
    }
  }

  // serverError shows a refusal. One that answers a message of ours (by
  // its client id) marks it: rate limited, it goes again by itself after
  // the wait the server names; refused otherwise, it fails, with the reason.
  function serverError(conn, e) {
    const text = String(e.text || 'error');
    const cid = String(e.cid || '');
    const p = cid && state.pending.find((q) => q.cid === cid);
    if (p && e.reason === 'rate_limited') {
      const wait = Math.max(50, Number(e.retry_after_ms) || 1000);
      p.sent = false;
      p.retryAt = Date.now() + wait;
      p.note.textContent = `Not sent yet: rate limited, retrying in ${(wait / 1000).toFixed(1)} s`;
      schedulePump(wait);
      return;
    }
    if (p) failPending(p, text.replace(/;? ?not sent$/, ''));
    else addNotice(currentRoom(), text, 'error');
    announce(text);
  }

  // ack: the server took one of our sends. A message stays shown as
  // pending until its event is in the log (the ack may come first).
  function ack(conn, e) {
    const p = state.pending.find((q) => q.cid === String(e.cid || ''));
    if (!p) return;
    p.ackId = Number(e.id) || 0;
    const room = state.rooms.get(p.room);
    if (room) shown(room);
  }

  // shown takes off the pending list our messages whose events the room
  // has shown.
  function shown(room) {
    for (const p of [...state.pending]) {
      if (p.room === room.name && p.ackId > 0 && p.ackId <= room.lastId) {
        p.el.remove();
        state.pending.splice(state.pending.indexOf(p), 1);
      }
    }
  }

  // ---- Sending --------------------------------------------------------------

  // send writes one line as a ringchat.v1 send frame, with a new client id
  // or the one given, and returns the id ('' when not connected).
  function send(conn, text, cid) {
    if (!conn || conn.ws.readyState !== WebSocket.OPEN) return '';
    cid = cid || `${PAGE_ID}-${++state.cidSeq}`;
    conn.ws.send(JSON.stringify({ type: 'send', cid, text }));
    return cid;
  }

  // setPace takes the limits a welcome advertises: the page keeps its sends
  // within them, so that the server has no reason to refuse them.
  // A little under the server's own: the two buckets' clocks differ by the
  // time a frame takes to arrive, and a refusal costs a round trip.
  function setPace(limits) {
    const rate = (Number(limits && limits.rate) || 0) * 0.95;
    const burst = Math.max((Number(limits && limits.burst) || 0) - 1, 1);
    if (rate !== state.pace.rate || burst !== state.pace.burst) {
      state.pace = { rate, burst, tokens: burst, last: Date.now() };
    }
  }

  // takeToken takes a token of the pace at now, or returns how many
  // milliseconds until there is one.
  function takeToken(now) {
    const p = state.pace;
    if (p.rate <= 0) return 0;
    p.tokens = Math.min(p.burst, p.tokens + (now - p.last) / 1000 * p.rate);
    p.last = now;
    if (p.tokens >= 1) {
      p.tokens--;
      return 0;
    }
    return Math.ceil((1 - p.tokens) / p.rate * 1000);
  }

  // pump sends our pending messages for the current room that are not on
  // the current connection yet, in the order typed, as fast as the pace and
  // any rate-limit wait allow.
  function pump() {
    const conn = state.conn;
    if (!conn || !conn.welcomed) return;
    const now = Date.now();
    for (const p of state.pending) {
      if (p.sent || p.ackId || p.room !== conn.room) continue;
      if (p.retryAt > now) return schedulePump(p.retryAt - now);
      const wait = takeToken(now);
      if (wait > 0) return schedulePump(wait);
      sendPending(conn, p);
    }
  }

  function schedulePump(ms) {
    clearTimeout(state.pumpTimer);
    state.pumpTimer = setTimeout(pump, ms);
  }

  // submitInput acts on what the user typed: commands the page handles
  // itself (/join switches rooms by reconnecting, so the room resumes where
  // we left it), messages with an acknowledgement, other commands as they are.
  function submitInput(raw) {
    if (raw.trim() === '') return true;
    if (raw.startsWith('/') && !raw.startsWith('//')) {
      const m = /^\/(\S*)\s*([\s\S]*)$/.exec(raw);
      const cmd = m[1].toLowerCase();
      const arg = m[2].trim();
      switch (cmd) {
        case 'join': {
          const room = cleanRoom(arg);
          if (!room) {
            addNotice(currentRoom(), arg ? `Cannot join "${arg}": room names use letters, digits, '-', '_' and '.' (up to 32).` : 'usage: /join ROOM', 'error');
            return false;
          }
          switchRoom(room);
          return true;
        }
        case 'nick': {
          const name = cleanName(arg);
          if (!name) {
            addNotice(currentRoom(), arg ? `"${arg}" cannot be a name: up to 32 characters, no spaces.` : 'usage: /nick NAME', 'error');
            return false;
          }
          return sendCommand(`/nick ${name}`);
        }
        case 'me':
          if (!arg) {
            addNotice(currentRoom(), 'usage: /me ACTION', 'error');
            return false;
          }
          return queueMessage('me', arg);
        default:
          return sendCommand(raw);
      }
    }
    return queueMessage('message', raw.startsWith('//') ? raw.slice(1) : raw);
  }

  function sendCommand(text) {
    if (state.conn && state.conn.welcomed && takeToken(Date.now()) === 0 && send(state.conn, text)) return true;
    const why = state.conn && state.conn.welcomed ? 'Not sent: too fast; wait a moment.' : 'Not connected: the command was not sent.';
    addNotice(currentRoom(), why, 'error');
    return false;
  }

  // queueMessage shows a message as pending and sends it when connected.
  // It stays pending until the server has answered it and its event is in
  // the log. It returns false if the message cannot be sent at all.
  function queueMessage(kind, text) {
    const room = currentRoom();
    if (new TextEncoder().encode(text).length > MAX_SEND_BYTES) {
      addNotice(room, `Not sent: the message is longer than ${MAX_SEND_BYTES / 1024} KiB.`, 'error');
      return false;
    }
    const item = document.createElement('li');
    item.className = `item pending ${kind === 'me' ? 'me' : 'msg'}`;
    const body = document.createElement('p');
    body.className = 'text';
    body.textContent = kind === 'me' ? `* ${state.me || state.name} ${text}` : text;
    const note = document.createElement('span');
    note.className = 'pending-note';
    note.textContent = 'sending…';
    item.append(body, note);
    room.pendingList.append(item);
    const p = { room: room.name, kind, text, cid: `${PAGE_ID}-${++state.cidSeq}`, sent: false, gen: 0, sentAt: 0, ackId: 0, retryAt: 0, el: item, note };
    state.pending.push(p);
    const conn = state.conn;
    if (conn && conn.welcomed && conn.room === room.name) pump();
    else if (!(conn && conn.welcomed)) note.textContent = 'will send when connected';
    scrollToEnd();
    return true;
  }

  // sendPending writes a pending message: /me as a command, and a message
  // that starts with '/' escaped as '//' so the server does not read it as one.
  function sendPending(conn, p) {
    const wire = p.kind === 'me' ? `/me ${p.text}` : (p.text.startsWith('/') ? `/${p.text}` : p.text);
    if (!send(conn, wire, p.cid)) return;
    p.sent = true;
    p.gen = conn.gen;
    p.sentAt = Date.now();
    p.note.textContent = 'sending…';
  }

  // failPending gives up on a message: it moves into the log, where it was
  // refused, marked as not sent, with a button that puts it back in the
  // message box so the text is not lost.
  function failPending(p, why) {
    const i = state.pending.indexOf(p);
    if (i >= 0) state.pending.splice(i, 1);
    const room = state.rooms.get(p.room);
    p.el.classList.remove('pending');
    p.el.classList.add('failed');
    p.note.textContent = `Not sent: ${why}`;
    const body = p.el.querySelector('.text');
    if (body.textContent.length > 300) body.textContent = `${body.textContent.slice(0, 300)}…`;
    const edit = document.createElement('button');
    edit.type = 'button';
    edit.className = 'secondary small';
    edit.textContent = 'Edit and resend';
    edit.addEventListener('click', () => {
      el.input.value = p.kind === 'me' ? `/me ${p.text}` : (p.text.startsWith('/') ? `/${p.text}` : p.text);
      resizeInput();
      el.input.focus();
    });
    p.el.append(edit);
    if (room) {
      room.lastSender = '';
      append(room, p.el, new Date());
    }
  }

  // A sent message the server did not answer in time on a connection that
  // is still up: say so rather than spin.
  setInterval(() => {
    const now = Date.now();
    for (const p of [...state.pending]) {
      const c = state.conn;
      if (p.sent && !p.ackId && c && c.gen === p.gen && c.welcomed && now - p.sentAt > CONFIRM_TIMEOUT_MS) {
        failPending(p, 'the server did not answer');
      }
    }
  }, 5000);

  // ---- Rooms ---------------------------------------------------------------

  function currentRoom() {
    return roomState(state.room);
  }

  function switchRoom(name) {
    roomState(name);
    if (name === state.room && (state.conn || state.retryTimer)) {
      showRoom(name);
      return;
    }
    state.room = name;
    saveRooms();
    showRoom(name);
    state.attempt = 0;
    connect();
  }

  // showRoom makes name the visible room.
  function showRoom(name) {
    const room = roomState(name);
    for (const r of state.rooms.values()) r.view.hidden = r !== room;
    el.roomTitle.textContent = `#${name}`;
    el.composerLabel.textContent = `Message #${name}`;
    el.input.placeholder = `Message #${name}`;
    if (location.hash !== `#${name}`) history.replaceState(null, '', `#${name}`);
    updateTitle();
    renderRooms();
    renderPeople();
    scrollToEnd();
  }

  function forgetRoom(name) {
    const room = state.rooms.get(name);
    if (!room || name === state.room) return;
    room.view.remove();
    state.rooms.delete(name);
    for (const p of state.pending.filter((q) => q.room === name)) failPending(p, 'left the room');
    saveRooms();
    renderRooms();
  }

  function renderRooms() {
    const items = [];
    for (const room of state.rooms.values()) {
      const li = document.createElement('li');
      const b = document.createElement('button');
      b.type = 'button';
      b.className = 'room-button';
      b.textContent = `#${room.name}`;
      if (room.name === state.room) b.setAttribute('aria-current', 'true');
      b.addEventListener('click', () => {
        switchRoom(room.name);
        closeMenu();
        el.input.focus();
      });
      li.append(b);
      if (room.name !== state.room) {
        const x = document.createElement('button');
        x.type = 'button';
        x.className = 'forget';
        x.textContent = '×';
        x.setAttribute('aria-label', `Remove #${room.name} from the list`);
        x.title = `Remove #${room.name} from the list`;
        x.addEventListener('click', () => {
          const next = li.nextElementSibling || li.previousElementSibling;
          forgetRoom(room.name);
          const target = next && next.querySelector('button');
          (target && target.isConnected ? target : el.joinInput).focus();
        });
        li.append(x);
      }
      items.push(li);
    }
    el.rooms.replaceChildren(...items);
  }

  // renderPeople lists who is in the shown room: the /who snapshot with the
  // live join, leave and nick events since applied in order.
  function renderPeople() {
    const room = state.rooms.get(state.room);
    if (!room || !state.conn || !state.conn.welcomed || room.snapshot === null) {
      el.people.replaceChildren();
      el.peopleCount.textContent = '';
      el.peopleMore.hidden = false;
      el.peopleMore.textContent = state.conn && state.conn.welcomed ? 'Asking…' : 'Shown when connected.';
      return;
    }
    const names = new Set(room.snapshot);
    let count = room.snapshotCount;
    for (const ev of room.memberEvents) {
      if (ev.type === 'join' && !names.has(ev.from)) { names.add(ev.from); count++; }
      if (ev.type === 'leave' && names.delete(ev.from)) count--;
      if (ev.type === 'nick' && names.delete(ev.from)) names.add(ev.to);
    }
    const sorted = [...names].sort((a, b) => a.localeCompare(b));
    el.people.replaceChildren(...sorted.map((n) => {
      const li = document.createElement('li');
      li.textContent = n;
      if (n === state.me) {
        li.className = 'self';
        const you = document.createElement('span');
        you.className = 'muted';
        you.textContent = ' (you)';
        li.append(you);
      }
      return li;
    }));
    count = Math.max(count, sorted.length);
    el.peopleCount.textContent = `(${count})`;
    el.peopleMore.hidden = count <= sorted.length;
    el.peopleMore.textContent = `and ${count - sorted.length} more`;
  }

  // ---- The log ---------------------------------------------------------------

  const timeFormat = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });
  const fullFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'full', timeStyle: 'medium' });
  const dayFormat = new Intl.DateTimeFormat(undefined, { weekday: 'long', month: 'long', day: 'numeric' });

  function parseTime(t) {
    const d = new Date(typeof t === 'string' ? t : NaN);
    return Number.isNaN(d.getTime()) ? new Date() : d;
  }

  function timeElement(d) {
    const t = document.createElement('time');
    t.dateTime = d.toISOString();
    t.title = fullFormat.format(d);
    t.textContent = timeFormat.format(d);
    return t;
  }

  // append adds a line to a room's log, keeping the view at the newest line
  // unless the user scrolled up to read, and the log at most MAX_ITEMS long.
  function append(room, item, d) {
    const day = d.toDateString();
    const visible = room.name === state.room;
    const stick = !visible || isAtEnd();
    if (day !== room.lastDay) {
      const sep = document.createElement('li');
      sep.className = 'day';
      sep.setAttribute('role', 'separator');
      sep.textContent = day === new Date().toDateString() ? 'Today' : dayFormat.format(d);
      room.log.append(sep);
      room.lastDay = day;
    }
    room.log.append(item);
    while (room.log.childElementCount > MAX_ITEMS) room.log.firstElementChild.remove();
    if (visible) {
      if (stick) scrollToEnd();
      else el.jump.hidden = false;
    }
  }

  function addMessage(room, e, live) {
    const d = parseTime(e.time);
    const from = String(e.from || '');
    const text = String(e.text || '');
    const item = document.createElement('li');
    item.dataset.id = String(e.id);
    item.dataset.epoch = room.epoch;
    const own = state.myNames.has(from);
    if (e.type === 'me') {
      item.className = 'item me';
      const body = document.createElement('p');
      body.className = 'text';
      const who = document.createElement('span');
      who.className = 'from';
      who.textContent = from;
      body.append('* ', who, ` ${text}`);
      item.append(timeElement(d), body);
      room.lastSender = '';
    } else {
      // Lines of one sender within a few minutes share one header; the name
      // stays for screen readers.
      const grouped = room.lastSender === from && d - room.lastTime < GROUP_WINDOW_MS;
      item.className = grouped ? 'item msg grouped' : 'item msg';
      const head = document.createElement('p');
      head.className = 'meta';
      const who = document.createElement('span');
      who.className = 'from';
      who.textContent = from;
      const sep = document.createElement('span');
      sep.className = 'sr-only';
      sep.textContent = ': ';
      head.append(who, ' ', timeElement(d), sep);
      const body = document.createElement('p');
      body.className = 'text';
      body.textContent = text;
      item.append(head, body);
      room.lastSender = from;
    }
    room.lastTime = d.getTime();
    if (own) item.classList.add('own');
    else if (state.me && mentions(text, state.me)) item.classList.add('mention');
    if (!live) item.classList.add('replayed');
    append(room, item, d);
  }

  function mentions(text, name) {
    const i = text.toLowerCase().indexOf(name.toLowerCase());
    if (i < 0) return false;
    const before = text[i - 1];
    const after = text[i + name.length];
    const word = /[\p{L}\p{N}_]/u;
    return !(before && word.test(before)) && !(after && word.test(after));
  }

  // addNotice adds a line from the room (join, leave, nick) or the page
  // (gap, error, help, who) to a room's log.
  function addNotice(room, text, kind, e) {
    const d = parseTime(e && e.time);
    const item = document.createElement('li');
    item.className = `item notice ${kind}`;
    if (e && e.id) {
      item.dataset.id = String(e.id);
      item.dataset.epoch = room.epoch;
    }
    const body = document.createElement('p');
    body.className = 'text';
    body.textContent = text;
    item.append(timeElement(d), body);
    room.lastSender = '';
    append(room, item, d);
  }

  function isAtEnd() {
    const l = el.logs;
    return l.scrollHeight - l.scrollTop - l.clientHeight < 48;
  }

  function scrollToEnd() {
    el.logs.scrollTop = el.logs.scrollHeight;
    el.jump.hidden = true;
  }

  // ---- Unread count and announcements ---------------------------------------

  function updateTitle() {
    const base = `#${state.room} · ringchat`;
    document.title = state.unread > 0 ? `(${state.unread}) ${base}` : base;
  }

  // noteUnread counts a message from someone else while the tab is hidden,
  // and has screen readers announce live ones.
  function noteUnread(room, line, live) {
    if (room.name !== state.room) return;
    if (document.hidden) {
      state.unread++;
      updateTitle();
    }
    if (live) announce(line);
  }

  // announce speaks a line through the polite live region, coalescing a
  // burst into one summary so a busy room does not flood a screen reader.
  function announce(line) {
    state.announceQueue.push(line.length > 200 ? `${line.slice(0, 200)}…` : line);
    if (state.announceTimer) return;
    state.announceTimer = setTimeout(() => {
      const q = state.announceQueue;
      el.announcer.textContent = q.length <= 2 ? q.join('. ') : `${q.length} new messages. Latest: ${q[q.length - 1]}`;
      state.announceQueue = [];
      state.announceTimer = 0;
    }, 700);
  }

  // ---- Name dialog ----------------------------------------------------------

  function askName() {
    el.nameInput.value = state.name;
    el.nameError.textContent = '';
    el.nameCancel.hidden = !state.name;
    el.nameDialog.showModal();
    el.nameInput.focus();
    el.nameInput.select();
  }

  el.nameForm.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const name = cleanName(el.nameInput.value);
    if (!name) {
      el.nameError.textContent = el.nameInput.value.trim() === ''
        ? 'Please enter a name.'
        : 'Use up to 32 letters, digits or symbols, without spaces.';
      el.nameInput.focus();
      return;
    }
    const first = !state.name;
    state.name = name;
    store.set(STORE_NAME, name);
    el.meName.textContent = name;
    el.nameDialog.close();
    if (first || !state.conn) {
      connect();
    } else if (name !== state.me && state.conn.welcomed) {
      send(state.conn, `/nick ${name}`);
    }
    el.input.focus();
  });

  el.nameCancel.addEventListener('click', () => el.nameDialog.close());
  el.nameDialog.addEventListener('cancel', (ev) => {
    if (!state.name) ev.preventDefault(); // a name is needed to chat
  });
  el.changeName.addEventListener('click', askName);

  // ---- Composer and controls ------------------------------------------------

  function resizeInput() {
    el.input.style.height = 'auto';
    el.input.style.height = `${Math.min(el.input.scrollHeight, 200)}px`;
  }

  el.input.addEventListener('input', resizeInput);

  // Enter sends, Shift+Enter inserts a new line; an IME composition's Enter
  // only ends the composition.
  el.input.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing && ev.keyCode !== 229) {
      ev.preventDefault();
      el.composer.requestSubmit();
    }
  });

  el.composer.addEventListener('submit', (ev) => {
    ev.preventDefault();
    if (!state.name) { askName(); return; }
    if (submitInput(el.input.value)) {
      el.input.value = '';
      resizeInput();
    }
    el.input.focus();
  });

  el.joinForm.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const room = cleanRoom(el.joinInput.value);
    if (!room) {
      el.joinError.textContent = "Room names use letters, digits, '-', '_' and '.' (up to 32).";
      return;
    }
    el.joinError.textContent = '';
    el.joinInput.value = '';
    switchRoom(room);
    closeMenu();
    el.input.focus();
  });

  el.retry.addEventListener('click', retryNow);

  el.jump.addEventListener('click', () => {
    scrollToEnd();
    el.input.focus();
  });

  el.logs.addEventListener('scroll', () => {
    if (isAtEnd()) el.jump.hidden = true;
  });

  // The sidebar is a drawer on narrow screens.
  function closeMenu() {
    el.app.classList.remove('menu-open');
    el.menuToggle.setAttribute('aria-expanded', 'false');
  }

  el.menuToggle.addEventListener('click', () => {
    const open = !el.app.classList.contains('menu-open');
    el.app.classList.toggle('menu-open', open);
    el.menuToggle.setAttribute('aria-expanded', String(open));
    if (open) (el.sidebar.querySelector('[aria-current]') || el.joinInput).focus();
  });

  // A tap on the chat beside the open drawer closes it.
  document.getElementById('chat').addEventListener('click', () => {
    if (el.app.classList.contains('menu-open')) closeMenu();
  });

  document.addEventListener('keydown', (ev) => {
    if (ev.key === 'Escape' && el.app.classList.contains('menu-open')) {
      closeMenu();
      el.menuToggle.focus();
    }
  });

  // Back in view: clear the unread count, and do not wait out a long backoff.
  document.addEventListener('visibilitychange', () => {
    if (!document.hidden) {
      state.unread = 0;
      updateTitle();
      if (!state.conn && state.retryTimer) retryNow();
    }
  });

  window.addEventListener('online', () => {
    if (!state.conn && state.retryTimer) retryNow();
  });
  window.addEventListener('offline', () => {
    if (!state.conn) setStatus('offline');
  });

  // A room named in the address (#rust) opens it; so does going back.
  function roomFromHash() {
    try { return cleanRoom(decodeURIComponent(location.hash.slice(1))); } catch { return ''; }
  }

  window.addEventListener('hashchange', () => {
    const room = roomFromHash();
    if (room && room !== state.room) switchRoom(room);
  });

  // The skip link moves focus without touching the address, whose #part
  // names the room.
  document.querySelector('.skip-link').addEventListener('click', (ev) => {
    ev.preventDefault();
    el.input.focus();
  });

  // ---- Start ------------------------------------------------------------------

  function start() {
    state.name = cleanName(store.get(STORE_NAME) || '');
    let saved = [];
    try { saved = JSON.parse(store.get(STORE_ROOMS) || '[]'); } catch { saved = []; }
    const names = (Array.isArray(saved) ? saved : []).map((r) => cleanRoom(String(r))).filter(Boolean);
    const fromHash = roomFromHash();
    state.room = fromHash || cleanRoom(store.get(STORE_ROOM) || '') || DEFAULT_ROOM;
    for (const n of [DEFAULT_ROOM, ...names, state.room]) roomState(n);
    saveRooms();
    showRoom(state.room);
    el.meName.textContent = state.name || '…';
    if (state.name) {
      connect();
      el.input.focus();
    } else {
      setStatus('idle');
      askName();
    }
  }

  start();
})();
