-- SPDX-License-Identifier: GPL-2.0-or-later
-- vigil catalog, upgrade from schema version 3 to 4: the audit log's
-- signed head.

-- The newest audit row's id and hash, signed with vigild's export signing
-- key (raw Ed25519 over the text "vigil-audit-head-1\nID\nSHA256\n")
-- whenever a row is appended, in the same transaction. Editing rows and
-- recomputing the later hashes, or removing rows at the end, leaves a head
-- whose signature only the key's holder could remake. One row at most.
create table audit_anchor (
  only        integer primary key check (only = 1),
  head_id     integer not null check (head_id >= 0),
  head_sha256 text not null check (length(head_sha256) = 64),
  signature   blob not null
);
