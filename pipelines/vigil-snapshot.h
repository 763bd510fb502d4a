/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Snapshots: one keyframe decoded to a JPEG, either a keyframe in hand
 * (the recorder's latest) or the keyframe at or before a time in a
 * recorded segment file (complete, or still being written). Exactly one
 * frame is decoded, by a pipeline of its own that lives for the one call:
 * parser → avdec (one thread) → videoconvert → jpegenc → appsink; a
 * file's keyframe is first found by a demuxing-only pass (see the .c
 * file). It never touches a recording
 * pipeline, the catalog or the network, and it never decodes a delta
 * frame (a snapshot is as old as its GOP's keyframe; that is the price of
 * decoding one frame instead of a GOP).
 *
 * Both functions block, bounded by their timeout: call them from a worker
 * thread, never from a main loop. Errors are VIGIL_PIPELINE_ERROR:
 * MISSING (no parser, decoder or encoder for the codec; the message names
 * the element), UNREADABLE (the file cannot be opened or holds no video),
 * OUT_OF_RANGE (the offset is past the file's end), TIMED_OUT, TOO_LARGE
 * (the JPEG exceeds the size bound), FAILED (the decoder refused the
 * frame; the message says what it said). */
#pragma once

#include <gst/gst.h>

#include "vigil-recorder.h"

G_BEGIN_DECLS

typedef struct {
  guint         quality;         /* jpegenc quality 1-100; 0 for VIGIL_SNAPSHOT_DEFAULT_QUALITY */
  gsize         max_size_bytes;  /* refuse a bigger JPEG; 0 for VIGIL_SNAPSHOT_DEFAULT_MAX_BYTES */
  guint         timeout_ms;      /* the whole call; 0 for VIGIL_SNAPSHOT_DEFAULT_TIMEOUT_MS */
} VigilSnapshotOptions;

#define VIGIL_SNAPSHOT_DEFAULT_QUALITY    85
/* A 4K keyframe at quality 85 is about 2 MiB; a bigger JPEG means
 * something is wrong (or a quality of 100 on a noisy 8K picture). */
#define VIGIL_SNAPSHOT_DEFAULT_MAX_BYTES  (16 * 1024 * 1024)
/* One 1080p keyframe takes about 0.05 s (docs/design/live.md); this
 * leaves room for a loaded machine, not for a hung decoder. */
#define VIGIL_SNAPSHOT_DEFAULT_TIMEOUT_MS 10000

/* Blocks: call from a worker thread. @keyframe (a frame that decodes on
 * its own, with its parameter sets in-band or in @caps' codec_data) and
 * @caps (video/x-h264 or video/x-h265, as the recorder's parser gives
 * them; image/jpeg is returned as it is) are only read. */
GBytes *vigil_snapshot_from_keyframe (GstCaps                    *caps,
                                      GstBuffer                  *keyframe,
                                      const VigilSnapshotOptions *options,
                                      GError                    **error);

/* Blocks: call from a worker thread. The keyframe at or before @offset
 * (file time: a segment file's timestamps start at 0) of the Matroska
 * file at @path, found with a KEY_UNIT|SNAP_BEFORE seek; only that frame
 * is decoded. @out_pts (may be NULL) is the keyframe's file time, at most
 * @offset. */
GBytes *vigil_snapshot_from_file     (const gchar                *path,
                                      GstClockTime                offset,
                                      const VigilSnapshotOptions *options,
                                      GstClockTime               *out_pts,
                                      GError                    **error);

G_END_DECLS
