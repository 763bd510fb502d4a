/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The catalog check (vigilctl fsck, the Manager's Fsck method): every
 * catalog row against its file and every segment file under the storage
 * root against the catalog. It reports rows whose file is gone, files
 * without a row and files that do not play; with repair it removes the
 * rows whose files are gone, adopts the files without a row that play and
 * quarantines those that do not (as recovery does), and moves unplayable
 * cataloged files to the quarantine folder with their rows removed. It
 * never touches a segment under an evidence lock: it reports it, saying
 * so. Nothing is ever deleted.
 *
 * This is the part of crash recovery whose cost grows with the archive,
 * so it runs only when asked: in a thread of its own at idle I/O priority
 * (vigil_fsck_run_async()), cancellable between any two files, in
 * memory that does not grow with the archive (rows are read a batch at a
 * time, files a day folder at a time against that folder's rows). It leaves alone what a running vigild is writing or
 * deleting: rows in those states, and files without a row changed less
 * than VIGIL_FSCK_SETTLE_S ago (a segment is opened a moment before its
 * row is written). */
#pragma once

#include <gio/gio.h>

#include "vigil-store.h"

G_BEGIN_DECLS

/* Files without a row younger than this are taken to be being written. */
#define VIGIL_FSCK_SETTLE_S   300
/* Problems listed one by one in a report; the rest are only counted. */
#define VIGIL_FSCK_MAX_LISTED 100

typedef enum {
  VIGIL_FSCK_MISSING,      /* a complete or recovered row whose file is gone */
  VIGIL_FSCK_ORPHAN,       /* a segment file without a row, that plays */
  VIGIL_FSCK_UNPLAYABLE,   /* a segment file that does not play, with or without a row */
} VigilFsckKind;

/* "missing", "orphan", "unplayable". */
const gchar *vigil_fsck_kind_to_string (VigilFsckKind kind);

typedef struct {
  VigilFsckKind  kind;
  gchar         *path;     /* relative to the storage root */
  gchar         *detail;   /* one line: why, and what repair did or would do */
} VigilFsckProblem;

typedef struct {
  guint64    rows_checked;    /* complete or recovered rows whose file was looked at */
  guint64    files_checked;   /* segment files found under the root */
  guint64    skipped;         /* left alone as in flight: rows writing or deleting, young files */
  guint64    missing;         /* found: rows whose file is gone */
  guint64    orphans;         /* found: files without a row (playable or not) */
  guint64    unplayable;      /* found: files that do not play (with a row or not) */
  guint64    adopted;         /* repaired: files without a row, now cataloged */
  guint64    quarantined;     /* repaired: unplayable files moved to the quarantine folder */
  guint64    rows_removed;    /* repaired: rows whose file was gone, or was moved aside */
  guint64    locked;          /* problems left alone because an evidence lock holds them */
  guint64    found;           /* problems found: a row or a file counts once */
  guint64    unresolved;      /* of those, not repaired (all of them without repair) */
  GPtrArray *problems;        /* VigilFsckProblem, the first VIGIL_FSCK_MAX_LISTED found */
} VigilFsckReport;

VigilFsckReport *vigil_fsck_report_new  (void);
void             vigil_fsck_report_free (VigilFsckReport *report);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (VigilFsckReport, vigil_fsck_report_free)

/* Checks (and with @repair, repairs) the catalog of @store against its
 * root, filling @report as it goes; blocking, in the calling thread,
 * which must be the only one using @store. Fails with G_IO_ERROR_CANCELLED
 * when @cancellable is (@report then says how far it got), or on a
 * catalog or file system error. */
gboolean vigil_fsck_run (VigilStore       *store,
                         gboolean          repair,
                         GCancellable     *cancellable,
                         VigilFsckReport  *report,
                         GError          **error);

/* Runs vigil_fsck_run() in a new thread of its own at idle I/O and CPU
 * priority, with its own VigilStore on @catalog and @root. */
void             vigil_fsck_run_async  (const gchar         *catalog,
                                        const gchar         *root,
                                        gboolean             repair,
                                        GCancellable        *cancellable,
                                        GAsyncReadyCallback  callback,
                                        gpointer             user_data);
VigilFsckReport *vigil_fsck_run_finish (GAsyncResult  *result,
                                        GError       **error);

/* Puts the calling thread at idle I/O priority (the disk serves it only
 * when nothing else asks: recording never waits behind a check) and at
 * the lowest CPU priority. For a thread that does nothing else afterwards:
 * the priority cannot always be raised again. */
void             vigil_fsck_lower_priority (void);

G_END_DECLS
