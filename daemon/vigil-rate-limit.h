/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A token bucket per caller (keyed by uid): each may spend @burst at once,
 * and gets one back every @refill_ms. What vigild uses to keep one caller
 * from flooding the catalog with incidents or notes. At most 1024 callers
 * are remembered; when more come, those whose buckets are full again are
 * forgotten (they lose nothing). Main thread only. */
#pragma once

#include <glib-object.h>

G_BEGIN_DECLS

#define VIGIL_TYPE_RATE_LIMIT (vigil_rate_limit_get_type ())
G_DECLARE_FINAL_TYPE (VigilRateLimit, vigil_rate_limit, VIGIL, RATE_LIMIT, GObject)

VigilRateLimit *vigil_rate_limit_new  (guint           burst,
                                       guint           refill_ms);
/* Takes a token of @key's at @now_us (monotonic); FALSE when it has none
 * left, with the wait until the next one in @retry_ms (may be NULL). */
gboolean        vigil_rate_limit_take (VigilRateLimit *self,
                                       gint64          key,
                                       gint64          now_us,
                                       guint          *retry_ms);

G_END_DECLS
