/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Whether a folder a caller handed vigild as an open descriptor may
 * receive that caller's export. vigild runs as root and the caller does
 * not: the kernel checked the caller's own right to open the folder when
 * they opened it (vigilctl does, as the user), and this checks, by the
 * descriptor alone, that the caller could also create entries in it, and
 * that it is neither a system folder nor vigil's own storage. It never
 * resolves a path the caller gave or could change, and its refusals say
 * nothing about anything but the folder the caller already holds. Main
 * thread (the group lookup may block on NSS, once per export). */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Refuses with VIGIL_ERROR_NOT_WRITABLE a descriptor that is not an open
 * folder (a file, an O_PATH descriptor, which the kernel hands out without
 * checking read rights); a folder @uid could not create an entry in; "/",
 * a system folder (/etc, /usr, /var/lib, ...) or anything inside one; a
 * folder that is, holds or lies inside one of @private_folders (vigil's
 * storage and state); a read-only mount; and a folder vigild itself
 * could not write into (when it does not run as root). Folders are
 * compared by device and inode, walking up "..", never by name. @uid must
 * be known (>= 0): root may write anywhere; anyone else is judged as the
 * kernel would judge a process of that user with the groups the user
 * database gives it (getgrouplist): owner, else group, else other bits.
 * Access control lists are not evaluated: a folder that carries one
 * (POSIX or NFSv4) is refused unless the caller owns it, so the emulation
 * fails closed. */
gboolean vigil_export_check_destination (int                 destination_fd,
                                         gint64              uid,
                                         const gchar *const *private_folders,
                                         GError            **error);

/* Where the folder open as @fd is, as the kernel names it now
 * (/proc/self/fd), for logs and replies only: never to act on. */
gchar   *vigil_export_describe_folder  (int fd);

G_END_DECLS
