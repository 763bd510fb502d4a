/* SPDX-License-Identifier: GPL-2.0-or-later */
/* VigilSalvage finishes, for one camera and while vigild runs, what a
 * failed write left half done, so that the catalog and the disk agree
 * without waiting for the next start's recovery:
 *
 *  - a segment that closed (durable) but whose row the catalog could not
 *    write, because the disk was full: the row is finished, or added;
 *  - a segment that never closed (a write failed and cut it off): its
 *    file is read to its end off the main thread; if it holds video it is
 *    fsync'ed and cataloged 'recovered' with its real end and counts
 *    (playable up to what fitted), otherwise it is deleted and then its
 *    'writing' row (a crash in between leaves a row without a file, which
 *    start-up recovery drops).
 *
 * Items are worked through in order. A step the catalog refuses for want
 * of space is emitted as ::catalog-full and waits for vigil_salvage_retry()
 * (the storage watchdog frees space); any other failure leaves the item
 * to start-up recovery, which handles exactly these rows. Main thread API;
 * reading and syncing files happen in worker threads. */
#pragma once

#include <glib-object.h>

#include "vigil-store.h"

G_BEGIN_DECLS

#define VIGIL_TYPE_SALVAGE (vigil_salvage_get_type ())
G_DECLARE_FINAL_TYPE (VigilSalvage, vigil_salvage, VIGIL, SALVAGE, GObject)

VigilSalvage *vigil_salvage_new        (VigilStore *store);
/* @segment closed and was fsync'ed: its row @segment->id is finished (or,
 * with id 0, added) as @segment says. */
void          vigil_salvage_add_closed (VigilSalvage       *self,
                                        const VigilSegment *segment);
/* The segment file at @path (relative to the root) of @camera, whose
 * first frame was at @start_us, never closed and nothing writes it any
 * more; @row_id is its 'writing' row, or 0 when it has none; @run_id its
 * run, or 0. */
void          vigil_salvage_add_cut    (VigilSalvage *self,
                                        const gchar  *camera,
                                        const gchar  *path,
                                        gint64        start_us,
                                        gint64        row_id,
                                        gint64        run_id);
/* Goes on with what waited for space. */
void          vigil_salvage_retry      (VigilSalvage *self);
/* Items not yet done (for tests and status). */
guint         vigil_salvage_get_pending (VigilSalvage *self);

G_END_DECLS
