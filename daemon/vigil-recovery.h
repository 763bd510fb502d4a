/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Crash recovery, run at every start before any camera records: brings
 * back into agreement what a crash can have left half done, and only
 * that, so that start-up costs the same with ten segments or ten million.
 *  - a segment row left 'writing' is probed: readable → 'recovered' with
 *    its real end; unreadable → file to quarantine, row removed;
 *    file gone → row removed;
 *  - a row left 'deleting' has its file unlinked and the row removed;
 *  - runs left open are ended with reason "crash";
 *  - a segment file the catalog lacks, among each camera's files newer
 *    than its newest complete or recovered segment (the only files a crash
 *    can leave without a row: rows are written before their files, and a
 *    lost transaction loses the newest rows), is probed and adopted, or
 *    quarantined when unreadable. Only the day folders that can hold such
 *    files are read; older ones are the catalog check's (vigil-fsck.h).
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
  guint folders_read;   /* folders listed while looking for files without a row */
  guint files_checked;  /* files newer than their camera's newest segment, looked up in the catalog */
} VigilRecoveryReport;

gboolean vigil_recovery_run (VigilStore          *store,
                             VigilRecoveryReport *report,
                             GError             **error);

/* What became of a file the catalog lacked. */
typedef enum {
  VIGIL_RECOVERY_LEFT_ALONE,   /* not named like a segment: not vigil's */
  VIGIL_RECOVERY_ADOPTED,      /* it plays: cataloged as 'recovered' */
  VIGIL_RECOVERY_QUARANTINED,  /* it does not: moved to the quarantine folder */
} VigilRecoveryOutcome;

/* Takes in @relative_path, a file under the store's root that has no row:
 * probes it (blocking) and adopts or quarantines it. @who names the caller
 * in the log ("recovery", "fsck"). Shared with the catalog check. */
gboolean vigil_recovery_take_in_file  (VigilStore           *store,
                                       const gchar          *relative_path,
                                       const gchar          *who,
                                       VigilRecoveryOutcome *out_outcome,
                                       GError              **error);
/* Moves @relative_path to ROOT/.quarantine/<same path> (never deletes)
 * and logs a warning saying @why. */
gboolean vigil_recovery_quarantine    (VigilStore  *store,
                                       const gchar *relative_path,
                                       const gchar *who,
                                       const gchar *why,
                                       GError     **error);

G_END_DECLS
