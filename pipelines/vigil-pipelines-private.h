/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Helpers of pipelines/ that its tests reach into; not public API and
 * never used outside pipelines/ and tests/. */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* Moves the moov box of the MP4 at @path, written with the moov after the
 * media data (mp4mux without faststart), in front of the media data, in
 * place: the data is shifted within the same file, as ffmpeg's
 * -movflags +faststart does, so no second file is ever written. Every
 * chunk offset is rewritten; 32-bit tables become 64-bit ones when the
 * shift would overflow them, or always with @force_co64 (for tests).
 * Unless @creation_time_us is G_MININT64, it becomes the creation time of
 * the movie and its tracks (the modification time is kept). Does nothing
 * to a file whose moov already comes first. @progress (may be NULL) is
 * called from the calling thread with 0..1. */
gboolean vigil_mp4_move_moov_to_front (const gchar   *path,
                                       gint64         creation_time_us,
                                       gboolean       force_co64,
                                       void         (*progress) (gdouble fraction, gpointer user_data),
                                       gpointer       user_data,
                                       GCancellable  *cancellable,
                                       GError       **error);

G_END_DECLS
