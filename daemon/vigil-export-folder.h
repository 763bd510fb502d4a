/* SPDX-License-Identifier: GPL-2.0-or-later */
/* One export job's work folder inside the caller's destination, worked on
 * only through descriptors. vigild is root and the destination belongs to
 * the caller, who can rename, replace or plant anything in it at any
 * moment; so nothing here resolves a path through it. The folder is made
 * with a fresh random name (mkdirat, never over a name that exists),
 * opened without following a link and checked to be the empty root-only
 * folder just made, so that nobody else can put anything inside it while
 * the job works. Files are created in it with O_EXCL|O_NOFOLLOW and
 * remembered by name, device and inode. Publishing hands them and the
 * folder to the caller and renames the folder to its final name, never
 * over anything and only while its name still leads to it; discarding
 * removes only what this folder created, and the folder only while its
 * name still leads to it. Blocking file I/O: the export's worker thread. */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

typedef struct _VigilExportFolder VigilExportFolder;

/* Makes ".vigil-export-RANDOM" (0700) in the folder open as
 * @destination_fd, which must stay open while the folder is used. Errors
 * are G_IO_ERROR; the message names no path. */
VigilExportFolder *vigil_export_folder_new         (int          destination_fd,
                                                    GError     **error);
/* Closes the folder; neither publishes nor discards it. */
void               vigil_export_folder_free        (VigilExportFolder *folder);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (VigilExportFolder, vigil_export_folder_free)

/* Its name in the destination: ".vigil-export-…" while working, the final
 * name once published. */
const gchar       *vigil_export_folder_get_name    (VigilExportFolder *folder);

/* Creates the file @name (one path component) in the folder, mode 0644,
 * and returns it open for reading and writing, for the caller to close;
 * -1 with G_IO_ERROR (EXISTS if the name is taken). */
int                vigil_export_folder_create_file (VigilExportFolder *folder,
                                                    const gchar       *name,
                                                    GError           **error);
/* Creates @name holding @size bytes of @data, fsync'ed and closed. */
gboolean           vigil_export_folder_write_file  (VigilExportFolder *folder,
                                                    const gchar       *name,
                                                    const void        *data,
                                                    gsize              size,
                                                    GError           **error);

/* When vigild runs as root and @uid > 0, gives every file this folder
 * created, then the folder itself (mode 0750), to @uid; fsyncs the folder;
 * renames it to @final_name in the destination without replacing
 * anything (RENAME_NOREPLACE); fsyncs the destination. Fails, without
 * renaming, when the folder's name no longer leads to it (the caller moved
 * or replaced it), and when @final_name exists. The caller then
 * discards it. */
gboolean           vigil_export_folder_publish     (VigilExportFolder *folder,
                                                    const gchar       *final_name,
                                                    gint64             uid,
                                                    GError           **error);

/* Unless published: unlinks each file this folder created that its name
 * in the folder still leads to, then removes the folder if its name in
 * the destination still leads to it and it is empty. Never follows a link
 * and never removes anything else. */
void               vigil_export_folder_discard     (VigilExportFolder *folder);

G_END_DECLS
