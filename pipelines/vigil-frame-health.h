/* SPDX-License-Identifier: GPL-2.0-or-later */
/* VigilFrameHealth judges one camera's picture, one sample at a time: is
 * it black, white, frozen, blurred, covered, or looking somewhere else
 * than it used to? Pure C on 8-bit luma (GRAY8, or the Y plane of any
 * planar YUV picture): no GStreamer elements, no I/O, no clock of its own.
 *
 * Each sample gets its metrics and verdict flags (VigilFrameSample). The
 * verdicts are per sample; how long a condition must hold before anyone is
 * alerted is the caller's business. Baselines (the camera's normal
 * sharpness and contrast, and a reference of its view) are learned from
 * the first healthy samples and then follow slow changes; BLURRED, COVERED
 * and MOVED are only judged once they are learned. A picture with any
 * verdict is never learned, so a re-aimed camera stays MOVED until
 * vigil_frame_health_relearn_reference(); but a camera that is already
 * covered or re-aimed while the baselines are learned is taken as normal.
 *
 * It must never allocate per sample (only on the first one and when the
 * picture size changes) and never take a lock shared with other cameras.
 * vigil_frame_health_analyze() runs on one thread at a time (the
 * recorder's analysis thread); the request functions below may be called
 * from any thread meanwhile. */
#pragma once

#include <glib-object.h>

G_BEGIN_DECLS

typedef enum {
  VIGIL_FRAME_VERDICT_NONE    = 0,
  VIGIL_FRAME_VERDICT_BLACK   = 1 << 0,  /* dark and one colour: no signal, lens cap */
  VIGIL_FRAME_VERDICT_WHITE   = 1 << 1,  /* bright and one colour: white-out, blinding light */
  VIGIL_FRAME_VERDICT_FROZEN  = 1 << 2,  /* no change for frozen_samples samples in a row
                                          * while frames keep arriving */
  VIGIL_FRAME_VERDICT_BLURRED = 1 << 3,  /* sharpness far below the learned baseline */
  VIGIL_FRAME_VERDICT_COVERED = 1 << 4,  /* contrast and sharpness collapsed together, or
                                          * most of a normally varied picture is one colour */
  VIGIL_FRAME_VERDICT_MOVED   = 1 << 5,  /* the view differs from the learned reference
                                          * while the picture is otherwise healthy */
} VigilFrameVerdict;

#define VIGIL_TYPE_FRAME_VERDICT (vigil_frame_verdict_get_type ())
GType vigil_frame_verdict_get_type (void);
/* "none", or the set flags' nicks joined by '|': "black|frozen". */
gchar *vigil_frame_verdict_to_string (VigilFrameVerdict verdicts);

/* Thresholds. vigil_frame_health_settings_init() fills in defaults that
 * suit the simulated camera and typical scenes; per-camera configuration
 * overrides single fields. Luma levels are 0..255: the recorder hands over
 * full-range GRAY8 (black 0, white 255); the Y plane of limited-range video
 * (16..235) works with the same defaults. The "working picture" is the input
 * box-averaged to at most WORKING_WIDTH (320) pixels wide, keeping its
 * aspect ratio: all pixel measures below refer to it, which makes them
 * independent of the camera's resolution. */
typedef struct {
  guint   learning_samples;      /* healthy samples averaged into the baselines and the
                                  * reference before BLURRED, COVERED and MOVED are judged
                                  * (30: half a minute at one sample a second) */
  guint   relearn_samples;       /* time constant, in healthy samples, with which baselines
                                  * and reference follow slow changes such as daylight
                                  * (1800: half an hour at one sample a second) */
  guint   band_luma;             /* width of the luma band for "one colour", levels (16) */
  gdouble uniform_fraction;      /* the picture is "one colour" when at least this fraction
                                  * of its pixels lies in one band (0.85; a clock or logo
                                  * overlay takes a few per cent) */
  gdouble black_luma;            /* BLACK: one colour with a mean luma at most this (40) */
  gdouble white_luma;            /* WHITE: one colour with a mean luma at least this (215) */
  gdouble frozen_identical_fraction; /* "no change" needs at least this fraction of the
                                      * textured blocks of the fine picture bit-identical to
                                      * the previous sample or one of the few before it
                                      * (0.12: a live scene's sensor noise leaves at most
                                      * about 0.06 unchanged, a camera re-encoding one stuck
                                      * picture at least about 0.2, docs/design/health.md) */
  gdouble frozen_moving_fraction;    /* ... and at most this fraction of all blocks changed
                                      * by VIGIL_FRAME_HEALTH_MOVING_LUMA or more on average
                                      * (0.05: a running clock overlay, not a passer-by) */
  guint   frozen_samples;        /* FROZEN after this many unchanged samples in a row (3) */
  gdouble blurred_ratio;         /* BLURRED: relative sharpness at most this (0.4) */
  gdouble collapse_ratio;        /* COVERED: tile contrast and sharpness both at most this
                                  * fraction of their baselines (0.2) */
  gdouble uniform_margin;        /* COVERED by "one colour" only on cameras whose learned
                                  * one-colour fraction is below uniform_fraction minus
                                  * this (0.15), so a plain scene is not taken as covered */
  gdouble moved_difference;      /* MOVED: scene difference at least this (0.6; 0 is the
                                  * reference itself, 1 unrelated, 2 its negative) */
  gdouble min_contrast;          /* tiles with less contrast (std dev) do not count for
                                  * relative sharpness, and pictures with less are not
                                  * judged MOVED, luma levels (4) */
} VigilFrameHealthSettings;

void vigil_frame_health_settings_init (VigilFrameHealthSettings *settings);

/* The input is box-averaged to at most this many pixels wide. */
#define VIGIL_FRAME_HEALTH_WORKING_WIDTH 320
/* The "fine picture" is the input point-sampled (not averaged: sensor noise
 * must survive) on a grid at most this many pixels wide, in blocks of
 * VIGIL_FRAME_HEALTH_FINE_BLOCK x VIGIL_FRAME_HEALTH_FINE_BLOCK of its
 * pixels; "no change" is judged on it. */
#define VIGIL_FRAME_HEALTH_FINE_WIDTH 320
#define VIGIL_FRAME_HEALTH_FINE_BLOCK 16
/* A block of the fine picture whose mean absolute change is at least this
 * many luma levels is "moving". */
#define VIGIL_FRAME_HEALTH_MOVING_LUMA 3

typedef struct {                  /* one analysed picture; plain data */
  gint64             wall_us;             /* wall clock of the frame, µs since the epoch */
  guint              width, height;       /* of the analysed picture, pixels */
  gdouble            mean_luma;           /* 0..255 */
  gdouble            contrast;            /* standard deviation of luma, levels */
  gdouble            tile_contrast;       /* the same per tile of an 8x6 grid, 75th percentile:
                                           * the contrast where the picture has some, which a
                                           * bright overlay on a covered lens does not keep up */
  gdouble            sharpness;           /* RMS of the 4-neighbour Laplacian of the working
                                           * picture in 8x6 tiles, the 75th percentile of the
                                           * tiles (so an overlay or a flat sky does not
                                           * decide), levels */
  gdouble            relative_sharpness;  /* the median, over the tiles with at least
                                           * min_contrast, of Laplacian RMS / standard
                                           * deviation, over the baseline's, so light changes
                                           * cancel; 1 is as learned, -1 while learning or
                                           * when too few tiles have contrast */
  gdouble            uniform_fraction;    /* fraction of pixels in the most populated band of
                                           * band_luma levels, 0..1 */
  gdouble            diff_previous;       /* mean absolute difference of the fine picture to
                                           * the previous sample's, levels; -1 for the first */
  gdouble            identical_fraction;  /* of the fine picture's textured blocks (some luma
                                           * spread), the fraction bit-identical to the previous
                                           * sample or one of the few before it, 0..1; -1 for
                                           * the first, or with too few textured blocks */
  gdouble            moving_fraction;     /* of the fine picture's blocks, the fraction changed
                                           * by MOVING_LUMA or more on average since the
                                           * previous sample, 0..1; -1 for the first */
  gdouble            scene_difference;    /* 1 - rank correlation (Spearman's) of the cell
                                           * means on a 32-wide grid with the reference view;
                                           * 0..2, -1 while the reference is being learned or
                                           * for a flat picture */
  guint              unchanged_samples;   /* samples in a row, this one included, without
                                           * change (see frozen_identical_fraction) */
  gboolean           is_learning;         /* baselines not learned yet */
  VigilFrameVerdict  verdicts;
} VigilFrameSample;

#define VIGIL_TYPE_FRAME_SAMPLE (vigil_frame_sample_get_type ())
GType vigil_frame_sample_get_type (void);
VigilFrameSample *vigil_frame_sample_copy (const VigilFrameSample *sample);
void vigil_frame_sample_free (VigilFrameSample *sample);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (VigilFrameSample, vigil_frame_sample_free)

#define VIGIL_TYPE_FRAME_HEALTH (vigil_frame_health_get_type ())
G_DECLARE_FINAL_TYPE (VigilFrameHealth, vigil_frame_health, VIGIL, FRAME_HEALTH, GObject)

/* @settings: NULL for the defaults; copied. */
VigilFrameHealth *vigil_frame_health_new (const VigilFrameHealthSettings *settings);
const VigilFrameHealthSettings *vigil_frame_health_get_settings (VigilFrameHealth *self);

/* Analyses one picture: @width x @height luma bytes, rows @stride bytes
 * apart, taken at @wall_us. Fills @out. A picture of another size than the
 * previous one starts everything afresh, baselines included. One thread at
 * a time; allocates only when the size changes. */
void vigil_frame_health_analyze (VigilFrameHealth *self,
                                 const guint8     *luma,
                                 guint             width,
                                 guint             height,
                                 gsize             stride,
                                 gint64            wall_us,
                                 VigilFrameSample *out);

/* Requests, safe from any thread; they take effect at the next sample. */

/* Learns the reference view afresh over the next learning_samples healthy
 * samples (after a PTZ move, or when an operator accepts a new view);
 * MOVED is not judged meanwhile. Sharpness and contrast baselines stay. */
void vigil_frame_health_relearn_reference   (VigilFrameHealth *self);
/* No MOVED verdict for frames before @until_us (wall clock, µs), e.g.
 * while a PTZ camera moves; 0 lifts it. */
void vigil_frame_health_suppress_moved      (VigilFrameHealth *self,
                                             gint64            until_us);
/* Forgets the previous sample, so the next one is not compared with it:
 * for a new connection to the camera. Baselines stay. */
void vigil_frame_health_forget_previous     (VigilFrameHealth *self);

G_END_DECLS
