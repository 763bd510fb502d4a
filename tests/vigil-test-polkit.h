/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vigild under real polkit for end-to-end tests: a private mount namespace
 * in which /etc/passwd and /etc/group hold three test users, one per
 * vigil role group, and polkit's action and rules folders hold only
 * vigil's own files (daemon/polkit/); a dbus-daemon with the system
 * bus's deny-by-default policy plus polkit's and vigil's
 * (daemon/dbus/org.vigil.Vigil1.conf); and the real polkitd on it. The
 * machine's own files are untouched. Needs root, polkitd, dbus-daemon. */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define VIGIL_TEST_OPERATOR_UID   64101
#define VIGIL_TEST_SUPERVISOR_UID 64102
#define VIGIL_TEST_ADMIN_UID      64103

/* The test users; each one's gid is its uid. */
typedef struct {
  const gchar *name;
  guint        uid;
  const gchar *group;       /* the vigil-* group it is in */
} VigilTestUser;

extern const VigilTestUser vigil_test_operator;     /* vigil-operators */
extern const VigilTestUser vigil_test_supervisor;   /* vigil-supervisors */
extern const VigilTestUser vigil_test_admin;        /* vigil-admins */

/* Enters the namespace and sets the files up. Call first in main(),
 * before GLib or GStreamer start a thread: unshare(CLONE_NEWNS) needs a
 * single-threaded process. FALSE, with why, when it cannot (not root, no
 * polkitd, no namespaces): the caller skips its tests. */
gboolean vigil_test_polkit_enter_sandbox (GError **error);
/* Removes the sandbox's files, at the end of main(). */
void     vigil_test_polkit_leave_sandbox (void);

typedef struct {
  gchar       *address;    /* the bus's, for DBUS_SYSTEM_BUS_ADDRESS */
  GSubprocess *bus;
  GSubprocess *polkitd;
} VigilTestPolkit;

/* Starts the bus (its socket in @dir) and polkitd on it, and waits until
 * polkitd has its name. */
void     vigil_test_polkit_start (VigilTestPolkit *p,
                                  const gchar     *dir);
void     vigil_test_polkit_stop  (VigilTestPolkit *p);

G_END_DECLS
