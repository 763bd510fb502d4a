/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The polkit sandbox of vigil-test-polkit.h. */
#define _GNU_SOURCE /* unshare() */
#include "vigil-test-polkit.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/mount.h>
#include <unistd.h>

#include "vigil-test-util.h"

#define POLKITD "/usr/lib/polkit-1/polkitd"

const VigilTestUser vigil_test_operator = { "vigil-test-op", VIGIL_TEST_OPERATOR_UID, "vigil-operators" };
const VigilTestUser vigil_test_supervisor = { "vigil-test-sup", VIGIL_TEST_SUPERVISOR_UID, "vigil-supervisors" };
const VigilTestUser vigil_test_admin = { "vigil-test-adm", VIGIL_TEST_ADMIN_UID, "vigil-admins" };

static gchar *sandbox;

static gboolean
bind_mount (const gchar *source, const gchar *target, GError **error)
{
  if (mount (source, target, NULL, MS_BIND, NULL) == 0)
    return TRUE;
  g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errno), "bind-mounting %s on %s: %s", source, target,
               g_strerror (errno));
  return FALSE;
}

static gboolean
write_file (const gchar *path, const gchar *text, GError **error)
{
  return g_file_set_contents_full (path, text, -1, G_FILE_SET_CONTENTS_NONE, 0644, error);
}

/* /etc/passwd and /etc/group with the test's users and the vigil groups
 * added; polkit's folders holding only vigil's action and rules files. */
gboolean
vigil_test_polkit_enter_sandbox (GError **error)
{
  const VigilTestUser *users[] = { &vigil_test_operator, &vigil_test_supervisor, &vigil_test_admin };
  g_autofree gchar *passwd = NULL;
  g_autofree gchar *group = NULL;
  g_autoptr(GString) more_passwd = g_string_new (NULL);
  g_autoptr(GString) more_group = g_string_new (NULL);
  const gchar *polkit_dir = g_getenv ("VIGIL_POLKIT_DIR");
  g_autofree gchar *actions = NULL, *rules = NULL, *empty = NULL, *passwd_copy = NULL, *group_copy = NULL;
  g_autofree gchar *policy = NULL, *rules_text = NULL;

  if (getuid () != 0)
    return g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED,
                                "needs root (to run polkitd and callers as other users)"), FALSE;
  if (!g_file_test (POLKITD, G_FILE_TEST_IS_EXECUTABLE) || g_find_program_in_path ("setpriv") == NULL
      || g_find_program_in_path ("dbus-daemon") == NULL)
    return g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                                "needs " POLKITD ", setpriv and dbus-daemon"), FALSE;
  if (unshare (CLONE_NEWNS) != 0 || mount (NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
    return g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errno), "no mount namespace: %s",
                        g_strerror (errno)), FALSE;

  sandbox = g_dir_make_tmp ("vigil-polkit-XXXXXX", error);
  if (sandbox == NULL || g_chmod (sandbox, 0755) != 0)
    return FALSE;
  actions = g_build_filename (sandbox, "actions", NULL);
  rules = g_build_filename (sandbox, "rules", NULL);
  empty = g_build_filename (sandbox, "empty", NULL);
  passwd_copy = g_build_filename (sandbox, "passwd", NULL);
  group_copy = g_build_filename (sandbox, "group", NULL);
  g_mkdir (actions, 0755);
  g_mkdir (rules, 0755);
  g_mkdir (empty, 0755);

  for (gsize i = 0; i < G_N_ELEMENTS (users); i++)
    {
      g_string_append_printf (more_passwd, "%s:x:%u:%u::/nonexistent:/usr/sbin/nologin\n", users[i]->name,
                              users[i]->uid, users[i]->uid);
      g_string_append_printf (more_group, "%s:x:%u:\n%s:x:%u:%s\n", users[i]->name, users[i]->uid,
                              users[i]->group, users[i]->uid + 100, users[i]->name);
    }
  if (!g_file_get_contents ("/etc/passwd", &passwd, NULL, error)
      || !g_file_get_contents ("/etc/group", &group, NULL, error))
    return FALSE;
  g_string_prepend (more_passwd, passwd);
  g_string_prepend (more_group, group);

  policy = g_build_filename (polkit_dir, "org.vigil.policy", NULL);
  rules_text = g_build_filename (polkit_dir, "50-vigil.rules", NULL);
  {
    g_autofree gchar *policy_text = NULL, *rules_content = NULL;
    g_autofree gchar *policy_copy = g_build_filename (actions, "org.vigil.policy", NULL);
    g_autofree gchar *rules_copy = g_build_filename (rules, "50-vigil.rules", NULL);

    if (!g_file_get_contents (policy, &policy_text, NULL, error)
        || !g_file_get_contents (rules_text, &rules_content, NULL, error)
        || !write_file (policy_copy, policy_text, error) || !write_file (rules_copy, rules_content, error))
      return FALSE;
  }
  return write_file (passwd_copy, more_passwd->str, error) && write_file (group_copy, more_group->str, error)
         && bind_mount (passwd_copy, "/etc/passwd", error) && bind_mount (group_copy, "/etc/group", error)
         && bind_mount (actions, "/usr/share/polkit-1/actions", error)
         && bind_mount (rules, "/etc/polkit-1/rules.d", error)
         && bind_mount (empty, "/usr/share/polkit-1/rules.d", error);
}

/* ---- The bus, polkitd and vigild --------------------------------------- */

static gboolean
name_has_owner (GDBusConnection *connection, const gchar *name)
{
  g_autoptr(GVariant) reply = NULL;
  gboolean owned = FALSE;

  reply = g_dbus_connection_call_sync (connection, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                       "org.freedesktop.DBus", "NameHasOwner", g_variant_new ("(s)", name),
                                       G_VARIANT_TYPE ("(b)"), G_DBUS_CALL_FLAGS_NONE, 5000, NULL, NULL);
  if (reply != NULL)
    g_variant_get (reply, "(b)", &owned);
  return owned;
}

static gboolean
polkit_is_up (gpointer data)
{
  return name_has_owner (data, "org.freedesktop.PolicyKit1");
}

static gboolean
socket_exists (gpointer data)
{
  return g_file_test (data, G_FILE_TEST_EXISTS);
}

/* In the child: it ends when the test does. (polkitd drops this when it
 * changes user, but it ends when its bus does.) */
static void
end_with_the_test (gpointer unused)
{
  prctl (PR_SET_PDEATHSIG, SIGTERM);
}

/* A launcher whose programs write into @dir/daemons.log, not the test's
 * output: a helper left running must not hold meson's pipe open. */
static GSubprocessLauncher *
quiet_launcher (const gchar *dir)
{
  g_autofree gchar *log = g_build_filename (dir, "daemons.log", NULL);
  GSubprocessLauncher *launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_NONE);

  g_subprocess_launcher_set_stdout_file_path (launcher, log);
  g_subprocess_launcher_set_stderr_file_path (launcher, log);
  g_subprocess_launcher_set_child_setup (launcher, end_with_the_test, NULL, NULL);
  return launcher;
}

/* A bus with the system bus's default policy (deny by default, services
 * punch holes), polkit's policy and vigil's, as installed. */
static void
start_system_like_bus (VigilTestPolkit *p, const gchar *dir)
{
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree gchar *socket_path = g_build_filename (dir, "system_bus_socket", NULL);
  g_autofree gchar *conf_path = g_build_filename (dir, "bus.conf", NULL);
  g_autofree gchar *conf_arg = g_strdup_printf ("--config-file=%s", conf_path);
  g_autofree gchar *conf = g_strdup_printf (
    "<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN\"\n"
    " \"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n"
    "<busconfig>\n"
    "  <type>system</type>\n"
    "  <auth>EXTERNAL</auth>\n"
    "  <listen>unix:path=%s</listen>\n"
    "  <policy context=\"default\">\n"
    "    <allow user=\"*\"/>\n"
    "    <deny own=\"*\"/>\n"
    "    <deny send_type=\"method_call\"/>\n"
    "    <allow send_type=\"signal\"/>\n"
    "    <allow send_requested_reply=\"true\" send_type=\"method_return\"/>\n"
    "    <allow send_requested_reply=\"true\" send_type=\"error\"/>\n"
    "    <allow receive_type=\"method_call\"/>\n"
    "    <allow receive_type=\"method_return\"/>\n"
    "    <allow receive_type=\"error\"/>\n"
    "    <allow receive_type=\"signal\"/>\n"
    "    <allow send_destination=\"org.freedesktop.DBus\" send_interface=\"org.freedesktop.DBus\"/>\n"
    "    <allow send_destination=\"org.freedesktop.DBus\" send_interface=\"org.freedesktop.DBus.Introspectable\"/>\n"
    "  </policy>\n"
    "  <includedir>/usr/share/dbus-1/system.d</includedir>\n"
    "  <include>%s</include>\n"
    "</busconfig>\n",
    socket_path, g_getenv ("VIGIL_DBUS_POLICY"));

  g_assert_true (g_file_set_contents (conf_path, conf, -1, NULL));
  p->address = g_strdup_printf ("unix:path=%s", socket_path);
  launcher = quiet_launcher (dir);
  p->bus = g_subprocess_launcher_spawn (launcher, &error, "dbus-daemon", conf_arg, "--nofork", "--nopidfile",
                                        "--nosyslog", NULL);
  g_assert_no_error (error);
  g_assert_true (vigil_test_wait_until (socket_exists, socket_path, 30));
}

void
vigil_test_polkit_leave_sandbox (void)
{
  if (sandbox != NULL)
    vigil_test_remove_tree (g_steal_pointer (&sandbox));
}

void
vigil_test_polkit_start (VigilTestPolkit *p, const gchar *dir)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autoptr(GDBusConnection) connection = NULL;

  start_system_like_bus (p, dir);
  launcher = quiet_launcher (dir);
  g_subprocess_launcher_setenv (launcher, "DBUS_SYSTEM_BUS_ADDRESS", p->address, TRUE);
  p->polkitd = g_subprocess_launcher_spawn (launcher, &error, POLKITD, "--no-debug", NULL);
  g_assert_no_error (error);
  connection = g_dbus_connection_new_for_address_sync (p->address,
                                                       G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT
                                                       | G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
                                                       NULL, NULL, &error);
  g_assert_no_error (error);
  if (!vigil_test_wait_until (polkit_is_up, connection, 60))
    g_error ("polkitd never took its name on the test bus");
  g_dbus_connection_close_sync (connection, NULL, NULL);
}

static void
end (GSubprocess **process)
{
  if (*process == NULL)
    return;
  g_subprocess_force_exit (*process);
  g_subprocess_wait (*process, NULL, NULL);
  g_clear_object (process);
}

void
vigil_test_polkit_stop (VigilTestPolkit *p)
{
  end (&p->polkitd);
  end (&p->bus);
  g_clear_pointer (&p->address, g_free);
}
