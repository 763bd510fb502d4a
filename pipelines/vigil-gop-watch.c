/* SPDX-License-Identifier: GPL-2.0-or-later */
/* VigilGopWatch: frame sizes against the stream's own norm; see the header.
 * Never allocates, never locks: it runs for every frame of every camera. */
#include "vigil-gop-watch.h"

#include <string.h>

void
vigil_gop_watch_init (VigilGopWatch *self)
{
  memset (self, 0, sizeof *self);
}

static gboolean
is_judged (const VigilGopWatch *self)
{
  return self->gops >= VIGIL_GOP_WATCH_WARMUP && self->norm_key_bytes > 0;
}

/* Folds the GOP that just ended into the norms. */
static void
close_gop (VigilGopWatch *self)
{
  gdouble delta_mean = self->deltas > 0 ? (gdouble) self->delta_bytes / self->deltas : -1;
  gboolean collapsed = self->key_small || self->deltas_empty;
  gdouble weight = self->gops == 0 ? 1.0 : collapsed ? 1.0 / 32 : 1.0 / 8;

  if (self->key_bytes == 0)
    return;   /* no keyframe seen yet: not a GOP */
  self->norm_key_bytes += weight * ((gdouble) self->key_bytes - self->norm_key_bytes);
  /* A stream of keyframes only has no delta norm to keep. */
  if (delta_mean >= 0)
    self->norm_delta_bytes = self->norm_delta_bytes > 0
                               ? self->norm_delta_bytes + weight * (delta_mean - self->norm_delta_bytes)
                               : delta_mean;
  self->gops++;
  self->collapsed = collapsed;
}

VigilGopSignal
vigil_gop_watch_observe (VigilGopWatch *self, gsize size_bytes, gboolean is_keyframe)
{
  if (is_keyframe)
    {
      close_gop (self);
      self->key_bytes = MAX (size_bytes, 1);
      self->delta_bytes = 0;
      self->deltas = 0;
      self->deltas_empty = FALSE;
      self->key_small = is_judged (self) && size_bytes <= VIGIL_GOP_WATCH_COLLAPSE * self->norm_key_bytes;
      return self->key_small ? VIGIL_GOP_SIGNAL_SMALL_KEYFRAME : VIGIL_GOP_SIGNAL_NONE;
    }
  if (self->key_bytes == 0)
    return VIGIL_GOP_SIGNAL_NONE;
  self->delta_bytes += size_bytes;
  self->deltas++;
  if (self->deltas == VIGIL_GOP_WATCH_DELTAS && is_judged (self) && self->norm_delta_bytes > 0
      && self->delta_bytes <= VIGIL_GOP_WATCH_COLLAPSE * self->norm_delta_bytes * self->deltas)
    {
      self->deltas_empty = TRUE;
      return VIGIL_GOP_SIGNAL_EMPTY_DELTAS;
    }
  return VIGIL_GOP_SIGNAL_NONE;
}

gboolean
vigil_gop_watch_is_suspect (const VigilGopWatch *self)
{
  return self->collapsed || self->key_small || self->deltas_empty;
}
