/* SPDX-License-Identifier: GPL-2.0-or-later */
/* VigilHealthPool decodes the keyframes that frame health judges, for every
 * camera of the process, on a few worker threads sized by the machine's
 * cores, not by the number of cameras: each worker makes one decoder per
 * codec (H.264, H.265) when it first needs it and decodes one keyframe at a
 * time, whichever camera it comes from. Each decoded picture's 8-bit luma
 * plane goes to that camera's VigilFrameHealth, and the result is posted as
 * an application message on the bus the submitter named:
 *   "vigil-frame-health"        sample (VigilFrameSample): one keyframe judged
 *   "vigil-frame-health-error"  reason (string): this keyframe could not be
 *                               decoded or judged; the next one is tried
 *
 * It must never hold up a recording: submitting takes a short lock, never
 * waits for a decoder, and a camera has at most one keyframe waiting (a
 * newer one replaces it); when too many cameras wait, the keyframe is
 * skipped and counted. Two keyframes of one camera are never judged at the
 * same time, since its VigilFrameHealth takes one picture at a time. */
#pragma once

#include <gst/gst.h>

#include "vigil-frame-health.h"

G_BEGIN_DECLS

#define VIGIL_TYPE_HEALTH_POOL (vigil_health_pool_get_type ())
G_DECLARE_FINAL_TYPE (VigilHealthPool, vigil_health_pool, VIGIL, HEALTH_POOL, GObject)

/* @n_workers: decoding threads; 0 for half the cores, at least one and at
 * most four. Their decoders are made when first needed. */
VigilHealthPool *vigil_health_pool_new         (guint n_workers);
/* The process's own pool, made at the first call and never freed: for
 * recorders whose owner gives none. Transfer none. */
VigilHealthPool *vigil_health_pool_get_default (void);

/* Queues @keyframe (its buffer, one H.264 or H.265 access unit that decodes
 * on its own, and its caps) of the camera whose analyser is @health, taken
 * at @wall_us, to be judged and posted on @bus; @camera names it in logs.
 * Any thread; never blocks. Replaces the camera's keyframe still waiting,
 * if any. FALSE when the keyframe was skipped: too many cameras waiting, or
 * the pool is being disposed. */
gboolean vigil_health_pool_submit          (VigilHealthPool  *self,
                                            VigilFrameHealth *health,
                                            const gchar      *camera,
                                            GstSample        *keyframe,
                                            gint64            wall_us,
                                            GstBus           *bus);

guint    vigil_health_pool_get_n_workers   (VigilHealthPool *self);
/* Decoders made so far: at most workers × codecs, whatever the number of
 * cameras. */
guint    vigil_health_pool_get_n_decoders  (VigilHealthPool *self);
/* Keyframes submitted but never judged: replaced by a newer one of the same
 * camera, or turned away while the pool was busy. */
guint64  vigil_health_pool_get_n_skipped   (VigilHealthPool *self);
/* Keyframes judged, and keyframes that could not be (decoding failed). */
guint64  vigil_health_pool_get_n_judged    (VigilHealthPool *self);
guint64  vigil_health_pool_get_n_failed    (VigilHealthPool *self);

G_END_DECLS
