-- SPDX-License-Identifier: GPL-2.0-or-later
-- vigil catalog, upgrade from schema version 4 to 5: running totals and
-- the indexes that keep start-up independent of the archive's size.
--
-- Start-up (crash recovery, each camera's stored bytes) and a span query
-- must never read the segments table from end to end: at 10 million rows
-- that is seconds of I/O and, worse, memory the process keeps. Whatever
-- they need is either an indexed lookup or a running total kept here.
-- This upgrade itself reads the segments table once, to seed the totals.

-- Per camera: running totals over its rows in segments, whatever their
-- state, kept by the triggers below in the same statement (so in the same
-- transaction) as every insert, update and delete of a segment row.
create table camera_totals (
  camera_id   integer primary key references cameras (id),
  segments    integer not null default 0 check (segments >= 0),    -- rows
  size_bytes  integer not null default 0 check (size_bytes >= 0),  -- sum of their size_bytes
  -- The longest end_us - start_us any of its segments ever had (µs). It
  -- only grows: a span query looks back this far before its start for a
  -- segment reaching into it, so it may be too large, never too small.
  longest_us  integer not null default 0 check (longest_us >= 0)
);

-- One pass over the table in its own order: through the camera index it
-- would read the same rows in random order (13 s against 39 s at 10 M).
insert into camera_totals (camera_id, segments, size_bytes, longest_us)
  select camera_id, count(*), sum(size_bytes), max(end_us - start_us) from segments not indexed group by camera_id;
insert or ignore into camera_totals (camera_id) select id from cameras;

create trigger cameras_totals_insert after insert on cameras
  begin insert into camera_totals (camera_id) values (new.id); end;

create trigger segments_totals_insert after insert on segments
  begin
    update camera_totals set segments = segments + 1, size_bytes = size_bytes + new.size_bytes,
                             longest_us = max(longest_us, new.end_us - new.start_us)
      where camera_id = new.camera_id;
  end;

-- Rows never move between cameras; the two statements keep the totals
-- right even if one did.
create trigger segments_totals_update after update of camera_id, size_bytes, start_us, end_us on segments
  begin
    update camera_totals set segments = segments - 1, size_bytes = size_bytes - old.size_bytes
      where camera_id = old.camera_id;
    update camera_totals set segments = segments + 1, size_bytes = size_bytes + new.size_bytes,
                             longest_us = max(longest_us, new.end_us - new.start_us)
      where camera_id = new.camera_id;
  end;

create trigger segments_totals_delete after delete on segments
  begin
    update camera_totals set segments = segments - 1, size_bytes = size_bytes - old.size_bytes
      where camera_id = old.camera_id;
  end;

-- Crash recovery's rows: those a crash can leave behind. Partial, so it
-- holds a handful of rows however large the archive; a query uses it when
-- it names one of the two states literally (state = 'writing').
create index segments_in_flight on segments (state) where state = 'writing' or state = 'deleting';

-- Runs a crash left open, for the same reason.
create index runs_open on runs (camera_id) where end_us is null;
