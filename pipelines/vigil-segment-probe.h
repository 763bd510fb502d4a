/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Reads a segment file to its end with GStreamer (demux and parse, no
 * decoding) to learn what it really holds: how many frames, how long, in
 * which codec. Crash recovery uses it on files whose segment was being
 * written when vigild died. Also a cheap header check for whole-archive
 * checks. Blocking: call it from a worker thread or before the main loop
 * runs. Never modifies the file. */
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

typedef struct {
  GstClockTime  first_pts;           /* of the first video frame */
  gint64        media_duration_ns;   /* first frame to the end of the last one */
  guint64       frames, keyframes;   /* video */
  gchar        *codec;               /* "h264", "h265", "+aac" etc. for audio */
  gboolean      truncated;           /* the file ended mid-stream (cut by a crash) */
} VigilSegmentProbe;

void vigil_segment_probe_clear (VigilSegmentProbe *probe);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (VigilSegmentProbe, vigil_segment_probe_clear)

/* Fills @out; fails with VIGIL_PIPELINE_ERROR_UNREADABLE when the file
 * holds no decodable video frame at all. */
gboolean vigil_segment_probe_file (const gchar        *path,
                                   VigilSegmentProbe  *out,
                                   GError            **error);

/* The cheap check, for looking at every file of an archive: reads a few
 * kilobytes of @path's element headers, without GStreamer, and wants an
 * EBML header with DocType "matroska" or "webm", a Segment, and in it a
 * Cluster holding a block that starts inside the file. It catches what a
 * full disk, a crash before the first cluster or a foreign file leave; it
 * does not see damage inside clusters (vigil_segment_probe_file() does, at
 * the cost of reading the whole file). Fails with
 * VIGIL_PIPELINE_ERROR_UNREADABLE saying what is missing, or a G_IO_ERROR
 * when the file cannot be read. */
gboolean vigil_segment_probe_quick (const gchar  *path,
                                    GError      **error);

G_END_DECLS
