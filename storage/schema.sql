-- SPDX-License-Identifier: GPL-2.0-or-later
-- vigil catalog, schema version 1.
--
-- Times are wall-clock UTC in microseconds since the Unix epoch (columns
-- ending in _us); media durations are nanoseconds (columns ending in _ns),
-- from the stream's own timestamps. docs/design/time.md defines both.
-- Paths are relative to the storage root, so the root can be moved.
--
-- Upgrades: this file is version 1 and is never edited; each later
-- version is a storage/upgrade-N.sql listed in vigil-store.c's upgrades[],
-- and a new catalog runs them all in order.

create table version (
  version integer not null check (version > 0)
);
insert into version (version) values (1);

-- One row per configured camera, ever. Never deleted: runs and segments
-- refer to it. name is the config group's NAME ([camera NAME]).
create table cameras (
  id          integer primary key,
  name        text not null unique check (length(name) > 0),
  created_us  integer not null
);

-- A run is one uninterrupted connection to a camera: it starts when the
-- first frame arrives and ends when the stream stops for any reason. The
-- time between two runs of a camera is a gap.
create table runs (
  id          integer primary key,
  camera_id   integer not null references cameras (id),
  start_us    integer not null,             -- wall clock of the first frame
  end_us      integer,                      -- null while the run is open
  end_reason  text,                         -- 'stopped', 'eos', 'error: ...', 'stalled', 'crash'; null while open
  check (end_us is null or end_us >= start_us)
);
create index runs_camera_start on runs (camera_id, start_us);

-- One row per segment file. A row is inserted as 'writing' when its file
-- is opened and becomes 'complete' only after the file and its folder
-- were fsync'ed, so a 'complete' row always names a durable file.
-- 'recovered' rows were 'writing' at a crash and were probed at start-up
-- to find their real end. 'deleting' marks a row whose file is being
-- unlinked (retention); start-up recovery finishes such deletions.
create table segments (
  id                 integer primary key,
  camera_id          integer not null references cameras (id),
  run_id             integer references runs (id),  -- null for files adopted by recovery
  path               text not null unique,          -- relative to the storage root
  start_us           integer not null,              -- wall clock of the first frame
  end_us             integer not null,              -- wall clock at the end of the last frame; = start_us while writing
  media_duration_ns  integer not null default 0 check (media_duration_ns >= 0),
  size_bytes         integer not null default 0 check (size_bytes >= 0),
  frames             integer not null default 0 check (frames >= 0),     -- video frames
  keyframes          integer not null default 0 check (keyframes >= 0),
  codec              text,                          -- 'h264', 'h265'; audio appended as 'h264+aac'
  state              text not null check (state in ('writing', 'complete', 'recovered', 'deleting')),
  check (end_us >= start_us)
);
create index segments_camera_start on segments (camera_id, start_us);
create index segments_start on segments (start_us);
