/* SPDX-License-Identifier: GPL-2.0-or-later */
/* MP4 faststart in place: a finished MP4 whose moov box follows its media
 * data (mp4mux without faststart) is rewritten so that the moov comes
 * first and a player can start before it has read the whole file, as
 * ffmpeg's -movflags +faststart does, but within the same file. GLib only;
 * it never writes a second file and never changes the media data. */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* Called from the calling thread with 0..1 while the media data moves. */
typedef void (*VigilMp4ProgressFunc) (gdouble fraction, gpointer user_data);

/* Moves the moov box of the MP4 at @path in front of the media data: what
 * lies between ftyp and moov is shifted up by the moov's size and every
 * chunk offset is rewritten; 32-bit tables (stco) become 64-bit ones (co64)
 * when the shift would overflow them, or always with @force_co64 (for
 * tests). Unless @creation_time_us is G_MININT64, it becomes the creation
 * time of the movie and its tracks (the modification time is kept). Does
 * nothing to a file whose moov already comes first. @progress may be NULL.
 * Errors are G_IO_ERROR: INVALID_DATA when the file is not an MP4 it can
 * parse (truncated or oversized boxes, no moov, an mdat after the moov,
 * a table that does not fit its box), found before anything is written;
 * CANCELLED or an I/O error while the data moves leave the file unusable,
 * for the caller to delete. Blocking. */
gboolean vigil_mp4_move_moov_to_front (const gchar          *path,
                                       gint64                creation_time_us,
                                       gboolean              force_co64,
                                       VigilMp4ProgressFunc  progress,
                                       gpointer              user_data,
                                       GCancellable         *cancellable,
                                       GError              **error);
/* The same on the open file @fd (readable and writable; its file offset is
 * neither used nor changed), for a caller that must not reopen the file
 * by path. @name is what messages call it. @fd stays open. */
gboolean vigil_mp4_move_moov_to_front_fd (int                   fd,
                                          const gchar          *name,
                                          gint64                creation_time_us,
                                          gboolean              force_co64,
                                          VigilMp4ProgressFunc  progress,
                                          gpointer              user_data,
                                          GCancellable         *cancellable,
                                          GError              **error);

G_END_DECLS
