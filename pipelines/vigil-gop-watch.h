/* SPDX-License-Identifier: GPL-2.0-or-later */
/* VigilGopWatch reads what an encoded stream's frame sizes say about its
 * picture, for free: the recorder sees every frame's size anyway. A stuck
 * encoder, or one fed a frozen picture, sends near-empty delta frames; a
 * clean white, black or covered picture makes a tiny keyframe (a noisy one
 * need not: rate control spends the bits on the noise). Either, against
 * the camera's own running norm, marks the picture suspect so that frame
 * health looks at it now rather than at its next scheduled sample. It only
 * suggests: the verdicts stay VigilFrameHealth's.
 *
 * Plain data, one per stream, used from that stream's streaming thread
 * only; vigil_gop_watch_observe() is called for every frame and must never
 * allocate or lock. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef enum {
  VIGIL_GOP_SIGNAL_NONE,
  VIGIL_GOP_SIGNAL_SMALL_KEYFRAME,    /* this keyframe is far below the norm: judge it now */
  VIGIL_GOP_SIGNAL_EMPTY_DELTAS,      /* the first delta frames of this GOP are far below the norm:
                                       * judge the GOP's keyframe now (once per GOP) */
} VigilGopSignal;

/* A size at most this fraction of the norm is a collapse. Measured on the
 * simulated camera (docs/design/health.md): a frozen picture's delta frames
 * are 2 % of the live scene's, a white picture's 13 % (its keyframes 30 %),
 * while a still scene, night or noisy black stay at 1-3x the norm. */
#define VIGIL_GOP_WATCH_COLLAPSE 0.25
/* Delta frames judged at the start of a GOP before it is called empty. */
#define VIGIL_GOP_WATCH_DELTAS 4
/* GOPs averaged before anything is judged. */
#define VIGIL_GOP_WATCH_WARMUP 3

typedef struct {
  /* The GOP in progress. */
  guint64  key_bytes;
  guint64  delta_bytes;
  guint    deltas;
  gboolean key_small, deltas_empty;
  /* Norms, exponentially weighted over GOPs (1/8 for normal GOPs, 1/32 for
   * collapsed ones, so that a scene that merely became still is the norm
   * again within a minute or two). */
  gdouble  norm_key_bytes, norm_delta_bytes;
  guint    gops;
  gboolean collapsed;               /* the last complete GOP was small or empty */
} VigilGopWatch;

void           vigil_gop_watch_init    (VigilGopWatch *self);
/* One frame of @size_bytes, a keyframe or not, in decoding order. */
VigilGopSignal vigil_gop_watch_observe (VigilGopWatch *self,
                                        gsize          size_bytes,
                                        gboolean       is_keyframe);
/* Whether the stream looks faulty now: the last GOP, or the one in
 * progress, collapsed. */
gboolean       vigil_gop_watch_is_suspect (const VigilGopWatch *self);

G_END_DECLS
