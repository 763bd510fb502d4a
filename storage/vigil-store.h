/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The recordings catalog: which segment files exist under the storage root,
 * for which camera, covering which wall-clock span, and the runs (unbroken
 * connections) they belong to, indexed in SQLite (WAL mode).
 *
 * One VigilStore owns one SQLite connection and is used by one thread:
 * the daemon's on the main thread, the storage watchdog's own on its
 * worker thread (WAL lets the two share the file; busy waits are bounded).
 * It never touches GStreamer and never deletes a segment file (retention
 * removes a row's file only after marking the row 'deleting'). */
#pragma once

#include <glib-object.h>

G_BEGIN_DECLS

#define VIGIL_STORE_ERROR (vigil_store_error_quark ())
typedef enum {
  VIGIL_STORE_ERROR_FAILED,     /* SQLite or I/O failure; see message */
  VIGIL_STORE_ERROR_NOT_FOUND,  /* no such camera, run or segment */
  VIGIL_STORE_ERROR_VERSION,    /* catalog written by a newer vigil */
  VIGIL_STORE_ERROR_INVALID,    /* argument out of range (e.g. end before start) */
  VIGIL_STORE_ERROR_TAMPERED,   /* the audit log's hash chain is broken */
  VIGIL_STORE_ERROR_FULL,       /* the catalog's file system is full (SQLITE_FULL): free space, then retry */
} VigilStoreError;
GQuark vigil_store_error_quark (void);

typedef enum {
  VIGIL_SEGMENT_WRITING,    /* file open, still being written */
  VIGIL_SEGMENT_COMPLETE,   /* closed, fsync'ed; end and counts are final */
  VIGIL_SEGMENT_RECOVERED,  /* was writing at a crash; end found by probing the file */
  VIGIL_SEGMENT_DELETING,   /* file being unlinked by retention */
} VigilSegmentState;

const gchar *vigil_segment_state_to_string (VigilSegmentState state);

typedef struct {                /* one segment file and its catalog row */
  gint64    id;
  gchar    *camera;             /* camera name */
  gint64    run_id;             /* 0 for files adopted by recovery */
  gchar    *path;               /* relative to the storage root */
  gint64    start_us, end_us;   /* wall clock: first frame, end of last frame */
  gint64    media_duration_ns;  /* from the stream's timestamps */
  guint64   size_bytes;
  guint64   frames, keyframes;  /* video frames */
  gchar    *codec;              /* "h264", "h265", "+aac" etc. appended for audio; may be NULL */
  VigilSegmentState state;
} VigilSegment;

VigilSegment *vigil_segment_copy (const VigilSegment *segment);
void vigil_segment_free (VigilSegment *segment);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (VigilSegment, vigil_segment_free)

typedef struct {                /* a span with no recording */
  gint64  start_us, end_us;
  gchar  *reason;               /* the end reason of the run before the gap, or one of VIGIL_GAP_* */
} VigilGap;

/* Gap reasons that are not a run's end reason. */
#define VIGIL_GAP_NOT_RECORDING   "not recorded: vigild was not recording this camera"
#define VIGIL_GAP_STILL_RECORDING "still being recorded: after the last complete segment"
#define VIGIL_GAP_NOT_CATALOGED   "recorded, but no longer in the catalog (deleted, or lost in a crash)"
#define VIGIL_GAP_NO_REASON       "recording ended without a reason (vigild did not stop cleanly)"

void vigil_gap_free (VigilGap *gap);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (VigilGap, vigil_gap_free)

/* Holes shorter than this between consecutive segments are not gaps: the
 * wall-clock ends of segments in one run meet exactly, and this absorbs
 * rounding in recovered or adopted files. */
#define VIGIL_STORE_GAP_TOLERANCE_US (G_USEC_PER_SEC / 2)

#define VIGIL_TYPE_STORE (vigil_store_get_type ())
G_DECLARE_FINAL_TYPE (VigilStore, vigil_store, VIGIL, STORE, GObject)

/* Opens (creating or upgrading) the catalog at @catalog_path for segment
 * files under @root. Both folders must exist. */
VigilStore  *vigil_store_new               (const gchar *catalog_path,
                                            const gchar *root,
                                            GError     **error);
const gchar *vigil_store_get_root          (VigilStore *self);
gchar       *vigil_store_get_absolute_path (VigilStore  *self,
                                            const gchar *relative_path);
/* The catalog file, absolute: for a worker thread's own VigilStore. */
const gchar *vigil_store_get_catalog_path  (VigilStore *self);
/* Work SQLite did on this connection since it was opened: steps through
 * full scans of a table or an index (a query that reads everything it
 * could have looked up), and virtual machine steps in all. For tests and
 * benchmarks that show a path reads only what it must. */
void         vigil_store_get_work          (VigilStore *self,
                                            guint64    *out_full_scan_steps,
                                            guint64    *out_vm_steps);

gboolean     vigil_store_add_camera        (VigilStore  *self,
                                            const gchar *camera,
                                            GError     **error);
/* Names of every camera ever cataloged, sorted. */
GStrv        vigil_store_list_cameras      (VigilStore *self,
                                            GError    **error);

/* Returns the new run's id, or 0 with @error set. */
gint64       vigil_store_start_run         (VigilStore  *self,
                                            const gchar *camera,
                                            gint64       start_us,
                                            GError     **error);
gboolean     vigil_store_end_run           (VigilStore  *self,
                                            gint64       run_id,
                                            gint64       end_us,
                                            const gchar *reason,
                                            GError     **error);
/* Ends every open run (after a crash): its end is the end of its last
 * segment, or its start when it has none. Returns how many it closed. */
gint         vigil_store_end_open_runs     (VigilStore  *self,
                                            const gchar *reason,
                                            GError     **error);

/* Catalogs a segment whose file was just opened: state 'writing', end =
 * start. Returns the row id, or 0 with @error set. */
gint64       vigil_store_add_segment       (VigilStore  *self,
                                            const gchar *camera,
                                            gint64       run_id,
                                            const gchar *relative_path,
                                            gint64       start_us,
                                            GError     **error);
/* Adds a row for a closed file found on disk (recovery), in @segment->state. */
gint64       vigil_store_adopt_segment     (VigilStore         *self,
                                            const VigilSegment *segment,
                                            GError            **error);
/* Sets the final end, duration, size, counts, codec and state of row
 * @segment->id. Call only once the file and its folder are fsync'ed. */
gboolean     vigil_store_finish_segment    (VigilStore         *self,
                                            const VigilSegment *segment,
                                            GError            **error);
/* First step of deleting a segment: its row says 'deleting' before the
 * file goes, so a crash in between is finished by recovery. */
gboolean     vigil_store_mark_segment_deleting (VigilStore *self,
                                                gint64      segment_id,
                                                GError    **error);
gboolean     vigil_store_remove_segment    (VigilStore *self,
                                            gint64      segment_id,
                                            GError    **error);

/* Segments of @camera overlapping [from_us, to_us) that are complete or
 * recovered, oldest first; element type VigilSegment. */
GPtrArray   *vigil_store_list_segments     (VigilStore  *self,
                                            const gchar *camera,
                                            gint64       from_us,
                                            gint64       to_us,
                                            GError     **error);
/* The parts of [from_us, to_us) that no complete or recovered segment of
 * @camera covers, oldest first; element type VigilGap. */
GPtrArray   *vigil_store_list_gaps         (VigilStore  *self,
                                            const gchar *camera,
                                            gint64       from_us,
                                            gint64       to_us,
                                            GError     **error);
/* Every segment in @state (any camera), oldest first; for recovery. An
 * indexed lookup for 'writing' and 'deleting', a full scan otherwise. */
GPtrArray   *vigil_store_list_segments_in_state (VigilStore        *self,
                                                 VigilSegmentState  state,
                                                 GError           **error);
/* The complete or recovered segment of @camera that starts last, in
 * @out_segment; NULL there (and TRUE) when the camera has none or is not
 * in the catalog. Files newer than it are what a crash can have left
 * without a row: recovery looks for those and no others. */
gboolean     vigil_store_get_newest_segment (VigilStore    *self,
                                             const gchar   *camera,
                                             VigilSegment **out_segment,
                                             GError       **error);
/* Whether a row (in any state) names @relative_path; an indexed lookup. */
gboolean     vigil_store_has_segment_path  (VigilStore  *self,
                                            const gchar *relative_path,
                                            gboolean    *out_has,
                                            GError     **error);
/* The cataloged paths (any state) that begin with @prefix, sorted as
 * strcmp() sorts them: one folder's rows at a time, for the catalog
 * check (@prefix a folder ending in "/"); a range of the path index. */
GPtrArray   *vigil_store_list_paths_under  (VigilStore  *self,
                                            const gchar *prefix,
                                            GError     **error);
/* Row @segment_id, in any state; NOT_FOUND when there is none. */
VigilSegment *vigil_store_get_segment      (VigilStore *self,
                                            gint64      segment_id,
                                            GError    **error);
/* Up to @limit rows (any state) with ids above @after_id, by id: walks the
 * whole catalog a batch at a time, without a long read transaction and in
 * constant memory (the catalog check). */
GPtrArray   *vigil_store_list_segments_after (VigilStore *self,
                                              gint64      after_id,
                                              guint       limit,
                                              GError    **error);
/* Up to @limit complete or recovered segments, oldest first, of @camera
 * or of all cameras when NULL; for retention. */
GPtrArray   *vigil_store_list_oldest_segments (VigilStore  *self,
                                               const gchar *camera,
                                               guint        limit,
                                               GError     **error);
/* Every cataloged relative path, as a set. Reads every row and holds them
 * all: for tests on small catalogs, never for the daemon. */
GHashTable  *vigil_store_list_paths        (VigilStore *self,
                                            GError    **error);

typedef struct {
  guint64  segments;            /* rows, in any state */
  guint64  size_bytes;          /* the sum of their size_bytes */
} VigilStoreTotals;
/* Totals over @camera's segments, or every camera's when NULL. Running
 * totals kept by the catalog itself as rows come and go, so this costs a
 * lookup however many segments there are. */
gboolean     vigil_store_get_totals        (VigilStore       *self,
                                            const gchar      *camera,
                                            VigilStoreTotals *out_totals,
                                            GError          **error);
/* Bytes of all segments of @camera (from the running totals). */
gboolean     vigil_store_get_camera_bytes  (VigilStore  *self,
                                            const gchar *camera,
                                            guint64     *out_bytes,
                                            GError     **error);
/* Runs of @camera, newest first, up to @limit: for status and tests.
 * Element type VigilRun. */
typedef struct {
  gint64  id;
  gint64  start_us, end_us;     /* end_us is 0 while open */
  gchar  *end_reason;           /* NULL while open */
} VigilRun;
void vigil_run_free (VigilRun *run);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (VigilRun, vigil_run_free)
GPtrArray   *vigil_store_list_runs         (VigilStore  *self,
                                            const gchar *camera,
                                            guint        limit,
                                            GError     **error);

G_END_DECLS
