/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Crash recovery, run at every start before any camera records: brings
 * the catalog and the files under the storage root back into agreement.
 *  - a segment row left 'writing' is probed: readable → 'recovered' with
 *    its real end; unreadable → file to quarantine, row removed;
 *    file gone → row removed;
 *  - a row left 'deleting' has its file unlinked and the row removed;
 *  - runs left open are ended with reason "crash";
 *  - a segment file the catalog lacks is probed and adopted, or
 *    quarantined when unreadable.
 * Nothing is ever deleted except a 'deleting' row's file. Idempotent: a
 * second run finds nothing to do. Blocking (probes files): runs before
 * the main loop starts. */
#pragma once

#include "vigil-store.h"

G_BEGIN_DECLS

/* Folder under the storage root for files recovery could not read. */
#define VIGIL_QUARANTINE_FOLDER ".quarantine"

typedef struct {
  guint recovered;      /* 'writing' rows probed and kept */
  guint adopted;        /* files found without a row, now cataloged */
  guint quarantined;    /* unreadable files moved aside */
  guint dropped_rows;   /* rows whose file never existed */
  guint deleted;        /* half-done deletions finished */
  guint runs_closed;    /* runs left open by a crash */
} VigilRecoveryReport;

gboolean vigil_recovery_run (VigilStore          *store,
                             VigilRecoveryReport *report,
                             GError             **error);

G_END_DECLS
