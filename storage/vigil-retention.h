/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Retention: deleting old segments, never a locked one.
 *
 * Only segments that vigil_store_list_deletable_segments() offers are
 * deleted, so evidence locks hold even on a full disk. Each deletion
 * keeps the catalog true at every step: the row is marked 'deleting', the
 * file unlinked, its folder fsync'ed, then the row removed; start-up
 * recovery finishes a deletion a crash interrupted. Blocking file-system
 * work on the store's thread: the storage watchdog (daemon/) decides when
 * and how much. */
#pragma once

#include "vigil-store.h"

G_BEGIN_DECLS

/* Deletes the unlocked segments of @camera (NULL: all cameras) that end
 * at or before @before_us, oldest first. Sets how many files and bytes
 * went. */
gboolean vigil_retention_delete_before (VigilStore  *store,
                                        const gchar *camera,
                                        gint64       before_us,
                                        gint64       now_us,
                                        guint       *out_deleted,
                                        guint64     *out_bytes,
                                        GError     **error);

/* Deletes one segment (by the steps above), locked or not: the caller
 * has checked. */
gboolean vigil_retention_delete_segment (VigilStore         *store,
                                         const VigilSegment *segment,
                                         GError            **error);

G_END_DECLS
