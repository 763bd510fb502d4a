/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Clips from an encoder that is not ours: ffmpeg's libx264 or libx265,
 * made at test time from ffmpeg's synthetic sources and filters (nothing is
 * committed), shaped as IP cameras send video: 25 fps, a keyframe every
 * second, no B-frames, closed GOPs, a capped bitrate. A clip is an
 * elementary stream (Annex B) that the simulated camera serves with
 * VigilSimcamOptions.clip_file. Clips are kept in $VIGIL_TEST_CLIP_DIR
 * (the build's tests/clips, set by meson) under a name that includes a hash
 * of the whole ffmpeg command, so a changed recipe is made afresh and an
 * unchanged one only once per build folder. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef enum {
  VIGIL_TEST_X264,
  VIGIL_TEST_X265,
} VigilTestEncoder;

typedef struct {
  const gchar      *name;     /* a short, file-name-safe label */
  VigilTestEncoder  encoder;
  guint             kbps;     /* target and cap */
  /* The picture: an ffmpeg lavfi graph making raw video of the clip's size
   * at 25 fps, e.g. "testsrc2=s=640x360:r=25,noise=alls=4:allf=t".
   * VIGIL_TEST_CLOCK appended draws a running clock overlay. */
  const gchar      *graph;
} VigilTestClip;

/* A camera's clock overlay, white figures at the bottom right, changing
 * every second: append to a graph after ",". */
#define VIGIL_TEST_CLOCK \
  "drawtext=fontfile=/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf:text='%{pts\\:hms}'" \
  ":x=w-tw-10:y=h-th-10:fontsize=20:fontcolor=white:box=1:boxcolor=black@0.6"

/* Whether ffmpeg with libx264 and libx265 and the clock's font are
 * installed; if not, @why says what is missing. */
gboolean vigil_test_have_clip_maker (gchar **why);

/* Makes @clip, @seconds long (or finds it made already), and returns its
 * path. Fails with ffmpeg's own message. */
gchar   *vigil_test_make_clip       (const VigilTestClip *clip,
                                     guint                seconds,
                                     GError             **error);

G_END_DECLS
