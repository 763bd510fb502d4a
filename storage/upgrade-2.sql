-- SPDX-License-Identifier: GPL-2.0-or-later
-- vigil catalog, upgrade from schema version 1 to 2: incidents, evidence
-- locks and the audit log. Same conventions as schema.sql (times in µs
-- since the Unix epoch, UTC). uid columns hold the Unix uid of the D-Bus
-- caller who acted, -1 for vigild itself; user is that uid's login name at
-- the time (kept, because accounts get renamed and deleted).

-- An incident an operator marked: what happened, when, on which cameras.
-- It stays open (end_us null) until closed. Its evidence lock holds until
-- it is released (released_us) by a supervisor or lapses at expires_us.
create table incidents (
  id              integer primary key,
  title           text not null check (length(title) between 1 and 200),
  description     text not null default '',
  start_us        integer not null,
  end_us          integer,                               -- null while open
  pre_roll_us     integer not null check (pre_roll_us between 0 and 3600000000),
  post_roll_us    integer not null check (post_roll_us between 0 and 3600000000),
  created_us      integer not null,
  created_uid     integer not null,
  created_user    text not null,
  closed_us       integer,                               -- when Close was called
  released_us     integer,                               -- lock released (Release or expiry)
  release_reason  text,
  expires_us      integer,                               -- the lock lapses then; null: only Release ends it
  check (end_us is null or end_us >= start_us),
  check ((released_us is null) = (release_reason is null))
);
create index incidents_start on incidents (start_us);

create table incident_cameras (
  incident_id  integer not null references incidents (id),
  camera_id    integer not null references cameras (id),
  primary key (incident_id, camera_id)
) without rowid;

create table incident_tags (
  incident_id  integer not null references incidents (id),
  tag          text not null check (length(tag) between 1 and 64),
  primary key (incident_id, tag)
) without rowid;
create index incident_tags_tag on incident_tags (tag);

create table incident_notes (
  id           integer primary key,
  incident_id  integer not null references incidents (id),
  time_us      integer not null,
  uid          integer not null,
  user         text not null,
  text         text not null check (length(text) between 1 and 4000)
);
create index incident_notes_incident on incident_notes (incident_id);

-- Evidence locks: no segment of camera_id that overlaps [from_us, to_us)
-- may be deleted by retention or the storage watchdog, even on a full
-- disk. to_us is null while the incident is open (the lock grows with the
-- recording). One row per camera of an unreleased incident; the rows go
-- when the incident is released, in the same transaction.
create table locks (
  id           integer primary key,
  incident_id  integer not null references incidents (id),
  camera_id    integer not null references cameras (id),
  from_us      integer not null,                          -- incident start - pre-roll
  to_us        integer,                                   -- incident end + post-roll; null while open
  expires_us   integer,                                   -- copy of the incident's; the lock is void after it
  unique (incident_id, camera_id),
  check (to_us is null or to_us >= from_us)
);
create index locks_camera on locks (camera_id, from_us);

-- The audit log: every operator action, append-only. Each row's sha256 is
-- SHA-256 over prev_sha256 and the row's own fields (storage/vigil-audit.c
-- defines the encoding), and prev_sha256 is the previous row's sha256 (64
-- zeros for row 1), so removing or editing a row breaks the chain. ids
-- are 1, 2, 3... without holes. The triggers stop accidents; the chain
-- catches deliberate edits.
create table audit (
  id           integer primary key,
  time_us      integer not null,
  uid          integer not null,
  user         text not null,
  action       text not null,                             -- e.g. 'incident-create', 'export'
  target       text not null,                             -- e.g. 'incident 12', 'camera cam1'; '' for none
  details      text not null,                             -- a JSON object
  prev_sha256  text not null check (length(prev_sha256) = 64),
  sha256       text not null check (length(sha256) = 64)
);
create trigger audit_no_update before update on audit
  begin select raise(abort, 'the audit log is append-only'); end;
create trigger audit_no_delete before delete on audit
  begin select raise(abort, 'the audit log is append-only'); end;
