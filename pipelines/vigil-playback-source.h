/* SPDX-License-Identifier: GPL-2.0-or-later */
/* VigilPlaybackSource: a source element that plays a camera's recorded
 * segment files (the recorder's Matroska) one after the other, as one
 * stream of H.264 or H.265 access units for an RTSP payloader. Gaps
 * between recordings are collapsed out of its output timestamps (the
 * first buffer after one is DISCONT), seeks land on the frame at or just
 * after the requested wall-clock instant, and a segment still being
 * written is followed as it grows. It reports the wall clock of its
 * buffers with "GstOnvifTimestamp" events, which rtponviftimestamp turns into
 * ONVIF replay timestamps. Video only: the segments' audio is not played.
 * It never writes a file and never calls into storage: the daemon hands it
 * the catalogue through a VigilPlaybackLister. */
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

#define VIGIL_PLAYBACK_ERROR (vigil_playback_error_quark ())
typedef enum {
  VIGIL_PLAYBACK_ERROR_FAILED,     /* the lister or a reader pipeline failed; see message */
  VIGIL_PLAYBACK_ERROR_NOT_FOUND,  /* no recording in the requested range */
  VIGIL_PLAYBACK_ERROR_INVALID,    /* a malformed or out-of-bounds request */
} VigilPlaybackError;
GQuark vigil_playback_error_quark (void);

/* Seconds from 1900-01-01 (NTP, and gst-rtsp-server's "clock" ranges) to
 * 1970-01-01 (vigil's wall clock). */
#define VIGIL_PLAYBACK_NTP_EPOCH_OFFSET_S G_GINT64_CONSTANT (2208988800)

typedef struct {
  gchar    *path;              /* absolute path of the file */
  gint64    start_us, end_us;  /* wall clock; end_us is the last known end while writing */
  gboolean  writing;           /* still being written */
} VigilPlaybackSegment;

VigilPlaybackSegment *vigil_playback_segment_new  (const gchar *path, gint64 start_us, gint64 end_us,
                                                   gboolean writing);
void                  vigil_playback_segment_free (VigilPlaybackSegment *segment);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (VigilPlaybackSegment, vigil_playback_segment_free)

/* Segments of @camera overlapping [@from_us, @to_us), oldest first, at
 * most @max_segments of them (the oldest ones), including one still being
 * written; element type VigilPlaybackSegment, with a free function. An
 * empty array when there are none. Called on the RTSP server's thread or
 * a streaming thread, never the caller's main thread; may block briefly
 * (the daemon hops to its main thread). */
typedef GPtrArray *(*VigilPlaybackLister) (const gchar *camera,
                                           gint64       from_us,
                                           gint64       to_us,
                                           guint        max_segments,
                                           gpointer     user_data,
                                           GError     **error);

#define VIGIL_TYPE_PLAYBACK_SOURCE (vigil_playback_source_get_type ())
G_DECLARE_FINAL_TYPE (VigilPlaybackSource, vigil_playback_source, VIGIL, PLAYBACK_SOURCE, GstElement)

/* A source playing @camera's recording from the first frame at or after
 * @start_us (0: the oldest recording) up to @end_us (G_MAXINT64: open
 * ended, following the segment being written and the ones after it).
 * Output time 0 is @start_us; an npt seek of T goes T of recorded time
 * (gaps not counted) past @start_us. A seek to a time of 1970 or later
 * counted from 1900 (gst-rtsp-server's "clock" ranges) goes to that wall
 * clock instead; no npt position of a real recording is that large.
 * @notify is called on @user_data when the source is finalized. */
VigilPlaybackSource *vigil_playback_source_new     (const gchar         *camera,
                                                    gint64               start_us,
                                                    gint64               end_us,
                                                    VigilPlaybackLister  lister,
                                                    gpointer             user_data,
                                                    GDestroyNotify       notify);
/* Opens the first segment of the range and returns the caps the source
 * will output (the payloader depends on them); fails with
 * VIGIL_PLAYBACK_ERROR_NOT_FOUND when the range holds no recording. Call
 * once, before the source goes to PAUSED. Blocking: it lists and opens a
 * file (milliseconds). */
GstCaps             *vigil_playback_source_prepare (VigilPlaybackSource *self,
                                                    GError             **error);

G_END_DECLS
