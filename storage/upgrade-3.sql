-- SPDX-License-Identifier: GPL-2.0-or-later
-- vigil catalog, upgrade from schema version 2 to 3: alerts.

-- A recording-health, picture or storage problem, raised after its
-- condition held for a while and cleared after it was healthy for a while
-- (daemon/vigil-alerts.c). At most one open alert per kind and subject,
-- so the timeline can say "offline 02:14:05-02:31:40".
create table alerts (
  id          integer primary key,
  kind        text not null check (length(kind) > 0),   -- e.g. 'offline', 'frozen', 'disk-low'
  severity    text not null check (severity in ('warning', 'critical')),
  subject     text not null check (length(subject) > 0),-- 'camera NAME' or 'storage ROOT'
  raised_us   integer not null,
  cleared_us  integer,                                   -- null while open
  details     text not null default '',                  -- one human line: what was measured
  check (cleared_us is null or cleared_us >= raised_us)
);
create unique index alerts_one_open on alerts (kind, subject) where cleared_us is null;
create index alerts_raised on alerts (raised_us);
