/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Exports a stretch of recorded video as one MP4 for an evidence bundle:
 * the video of consecutive segment files is copied as it was recorded
 * (never decoded or re-encoded), gaps between recording runs are collapsed,
 * the wall-clock time of the frames is written into a text track and the
 * file's metadata, and the clip's first frame is saved as a JPEG. It never
 * transcodes video (nor AAC audio; G.711 audio, which MP4 cannot hold, is
 * stored losslessly), never modifies a segment file, and never writes
 * anything but the two open files it is given (no temporary files: the
 * moov box is moved to the front in place; no output is opened, created or
 * removed by path, so a caller working in a folder someone else controls
 * keeps every name decision to itself). Blocking: it runs its pipelines
 * from the calling thread, which must be a worker thread, never the main
 * loop. */
#pragma once

#include <gio/gio.h>
#include <gst/gst.h>

G_BEGIN_DECLS

/* Cancellation is not a code of this domain: a cancelled export fails with
 * G_IO_ERROR_CANCELLED, as GIO's own operations do. */
#define VIGIL_CLIP_ERROR (vigil_clip_error_quark ())
typedef enum {
  VIGIL_CLIP_ERROR_FAILED,      /* pipeline or I/O error; the message names the file */
  VIGIL_CLIP_ERROR_NO_VIDEO,    /* no video frame in [from_us, to_us) */
} VigilClipError;
GQuark vigil_clip_error_quark (void);

typedef struct {
  const gchar *path;       /* absolute path of a segment file */
  gint64       start_us;   /* wall clock of its first frame */
  gint64       end_us;     /* wall clock at the end of its last frame */
} VigilClipPart;

/* An output file, open for reading and writing (O_RDWR: the MP4's moov is
 * moved in place through it); borrowed, never closed here. */
typedef struct {
  int          fd;
  const gchar *name;       /* what messages call it, e.g. "cam0.mp4" */
} VigilClipOutput;

typedef struct {
  gint64        first_frame_us;    /* wall clock of the clip's first frame: the keyframe at or before from_us */
  gint64        end_us;            /* wall clock at the end of its last frame */
  guint64       video_frames;
  GstClockTime  duration_ns;       /* of the MP4's video track */
  gboolean      has_audio;
  /* MP4 cannot hold PCMA/PCMU (G.711): such audio is expanded to 16-bit
   * PCM and stored as Apple Lossless (ALAC), sample for sample the same
   * sound, in sync, but a different codec than recorded. FALSE for AAC,
   * which is copied as recorded. */
  gboolean      audio_transcoded;
  guint         n_parts_used;      /* parts that contributed frames */
} VigilClipResult;

/* Called from the thread that runs vigil_clip_write(), at least once per
 * part and then about every 50 ms; @fraction only grows, 1.0 at the end. */
typedef void (*VigilClipProgressFunc) (gdouble fraction, gpointer user_data);

/* Writes the video (and audio) of @parts (oldest first, non-overlapping)
 * covering [@from_us, @to_us) into @mp4 and a JPEG of the clip's first
 * frame into @jpeg (two different files); whatever they held is replaced.
 * The clip starts on the keyframe at or before @from_us and ends before the
 * first frame at or after @to_us; parts are joined without their gaps.
 * Parts must share one format (codec, size, codec data, audio or not):
 * mp4mux 1.22 cannot change it within a track, so such a range fails and
 * is exported as two clips; so does one whose audio stops for more than
 * a few seconds while the video goes on. Blocking. On any error or
 * cancellation both output files are left empty (the caller, who named
 * them, removes them) and @result is left untouched. */
gboolean vigil_clip_write (const VigilClipPart    *parts,
                           guint                   n_parts,
                           gint64                  from_us,
                           gint64                  to_us,
                           const VigilClipOutput  *mp4,
                           const VigilClipOutput  *jpeg,
                           VigilClipProgressFunc   progress,
                           gpointer                user_data,
                           GCancellable           *cancellable,
                           VigilClipResult        *result,
                           GError                **error);

G_END_DECLS
