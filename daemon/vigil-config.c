/* SPDX-License-Identifier: GPL-2.0-or-later */
/* VigilConfig: load and validate vigil.conf (docs/configuration.md). */
#include "vigil-config.h"

#include <gio/gio.h>
#include <string.h>
#include <unistd.h>

#include "vigil-file.h"
#include "vigil-text.h"

G_DEFINE_QUARK (vigil-config-error-quark, vigil_config_error)

#define DEFAULT_ROOT "/var/lib/vigil/recordings"
#define DEFAULT_CATALOG "/var/lib/vigil/catalog.db"
#define DEFAULT_SEGMENT_SECONDS 60
#define DEFAULT_STALL_SECONDS 10
/* Cameras lock an account or an address after about five failed logins,
 * often for half an hour: after three, vigild waits this long. */
#define DEFAULT_LOGIN_RETRY_SECONDS 600
#define DEFAULT_BUSY_RETRY_SECONDS 60
/* Far beyond a real configuration or password; a bound, not a limit. */
#define CONFIG_MAX_BYTES (1024 * 1024)
#define PASSWORD_FILE_MAX_BYTES 4096

static const gchar *const storage_keys[] = {
  "root", "catalog", "segment_seconds", "signing_key", "watchdog_seconds", "warn_free_percent",
  "delete_free_percent", "target_free_percent", "warn_free_hours", "min_free_inodes_percent", NULL
};
static const gchar *const camera_keys[] = {
  "url", "user", "password_file", "password_env", "allow_basic_auth", "transport", "rtsp_client", "enabled",
  "stall_seconds",
  "retention_days", "min_retention_days", "frame_health", "picture_learning_samples", "picture_black_luma",
  "picture_white_luma", "picture_frozen_samples", "picture_blurred_ratio", "picture_covered_ratio",
  "picture_moved_difference", "onvif", "onvif_profile", "onvif_keep_addresses", "sub_url", "login_retry_seconds",
  "busy_retry_seconds", NULL
};
static const gchar *const live_keys[] = {
  "enabled", "address", "port", "htdigest", "max_viewers", NULL
};
static const gchar *const alerts_keys[] = {
  "raise_after_seconds", "clear_after_seconds", "command", "command_timeout_seconds", "offline_seconds",
  "reconnects_per_hour", "low_rate_fraction", "stalled_seconds", "clock_drift_seconds", NULL
};

typedef struct {
  const gchar *path;
  GKeyFile    *file;
  GPtrArray   *problems;    /* gchar*, one per problem */
} Loader;

static void camera_config_free (VigilCameraConfig *camera);

void
vigil_config_free (VigilConfig *config)
{
  if (config == NULL)
    return;
  g_free (config->path);
  g_free (config->root);
  g_free (config->catalog);
  g_free (config->signing_key);
  g_free (config->alert_command);
  g_free (config->live_address);
  g_free (config->live_htdigest);
  g_clear_pointer (&config->cameras, g_ptr_array_unref);
  g_free (config);
}

static void
camera_config_free (VigilCameraConfig *camera)
{
  g_free (camera->name);
  g_free (camera->url);
  g_free (camera->sub_url);
  g_free (camera->onvif_url);
  g_free (camera->onvif_profile);
  g_free (camera->user);
  if (camera->password != NULL)
    memset (camera->password, 0, strlen (camera->password));
  g_free (camera->password);
  g_free (camera->password_file);
  g_free (camera);
}

G_GNUC_PRINTF (4, 5)
static void
problem (Loader *loader, const gchar *group, const gchar *key, const gchar *format, ...)
{
  g_autofree gchar *what = NULL;
  va_list args;

  va_start (args, format);
  what = g_strdup_vprintf (format, args);
  va_end (args);
  if (group == NULL)
    g_ptr_array_add (loader->problems, g_strdup_printf ("%s: %s", loader->path, what));
  else if (key == NULL)
    g_ptr_array_add (loader->problems, g_strdup_printf ("%s: [%s]: %s", loader->path, group, what));
  else
    g_ptr_array_add (loader->problems, g_strdup_printf ("%s: [%s] %s: %s", loader->path, group, key, what));
}

static gchar *
get_string (Loader *loader, const gchar *group, const gchar *key, const gchar *fallback)
{
  g_autofree gchar *value = g_key_file_get_string (loader->file, group, key, NULL);

  if (value == NULL)
    return g_strdup (fallback);
  g_strstrip (value);
  if (*value == '\0')
    {
      problem (loader, group, key, "is empty");
      return g_strdup (fallback);
    }
  /* GKeyFile turns \n, \r and \t into the characters themselves: in a URL
   * they would inject an RTSP header, in a name a log line. */
  if (!g_utf8_validate (value, -1, NULL) || vigil_text_has_control_chars (value))
    {
      problem (loader, group, key, "holds control characters (such as \\r or \\n) or is not UTF-8");
      return g_strdup (fallback);
    }
  return g_steal_pointer (&value);
}

static guint
get_uint (Loader *loader, const gchar *group, const gchar *key, guint fallback, guint min, guint max)
{
  g_autofree gchar *text = g_key_file_get_string (loader->file, group, key, NULL);
  guint64 value;

  if (text == NULL)
    return fallback;
  g_strstrip (text);
  if (!g_ascii_string_to_unsigned (text, 10, min, max, &value, NULL))
    {
      problem (loader, group, key, "“%s” is not a whole number from %u to %u", text, min, max);
      return fallback;
    }
  return (guint) value;
}

static gdouble
get_double (Loader *loader, const gchar *group, const gchar *key, gdouble fallback, gdouble min, gdouble max)
{
  g_autofree gchar *text = g_key_file_get_string (loader->file, group, key, NULL);
  gchar *end = NULL;
  gdouble value;

  if (text == NULL)
    return fallback;
  g_strstrip (text);
  value = g_ascii_strtod (text, &end);
  if (end == text || *end != '\0' || !(value >= min && value <= max))
    {
      problem (loader, group, key, "“%s” is not a number from %g to %g", text, min, max);
      return fallback;
    }
  return value;
}

static gboolean
get_bool (Loader *loader, const gchar *group, const gchar *key, gboolean fallback)
{
  g_autofree gchar *text = g_key_file_get_string (loader->file, group, key, NULL);

  if (text == NULL)
    return fallback;
  g_strstrip (text);
  if (g_str_equal (text, "true"))
    return TRUE;
  if (g_str_equal (text, "false"))
    return FALSE;
  problem (loader, group, key, "“%s” is not true or false", text);
  return fallback;
}

static void
check_keys (Loader *loader, const gchar *group, const gchar *const *allowed)
{
  g_auto(GStrv) keys = g_key_file_get_keys (loader->file, group, NULL, NULL);

  for (guint i = 0; keys != NULL && keys[i] != NULL; i++)
    {
      if (g_strv_contains (allowed, keys[i]))
        continue;
      if (g_str_equal (keys[i], "password"))
        problem (loader, group, keys[i], "passwords are not written in the config; use password_file or password_env");
      else
        problem (loader, group, keys[i], "unknown key");
    }
}

/* A folder vigild must write into. */
static void
check_writable_folder (Loader *loader, const gchar *key, const gchar *folder)
{
  if (!g_file_test (folder, G_FILE_TEST_IS_DIR))
    problem (loader, "storage", key, "folder %s does not exist", folder);
  else if (access (folder, R_OK | W_OK | X_OK) != 0)
    problem (loader, "storage", key, "folder %s is not readable and writable by vigild", folder);
}

static void
load_storage (Loader *loader, VigilConfig *config)
{
  g_autofree gchar *catalog_folder = NULL;

  if (g_key_file_has_group (loader->file, "storage"))
    check_keys (loader, "storage", storage_keys);
  config->root = get_string (loader, "storage", "root", DEFAULT_ROOT);
  config->catalog = get_string (loader, "storage", "catalog", DEFAULT_CATALOG);
  config->segment_seconds = get_uint (loader, "storage", "segment_seconds", DEFAULT_SEGMENT_SECONDS, 2, 3600);
  config->watchdog_seconds = get_uint (loader, "storage", "watchdog_seconds", 30, 1, 3600);
  config->warn_free_percent = get_double (loader, "storage", "warn_free_percent", 10, 0, 100);
  config->delete_free_percent = get_double (loader, "storage", "delete_free_percent", 5, 0, 100);
  config->target_free_percent = get_double (loader, "storage", "target_free_percent", 8, 0, 100);
  config->warn_free_hours = get_double (loader, "storage", "warn_free_hours", 0, 0, 100000);
  config->min_free_inodes_percent = get_double (loader, "storage", "min_free_inodes_percent", 2, 0, 100);
  if (config->target_free_percent < config->delete_free_percent)
    problem (loader, "storage", "target_free_percent", "%g is below delete_free_percent (%g)",
             config->target_free_percent, config->delete_free_percent);

  if (!g_path_is_absolute (config->root))
    problem (loader, "storage", "root", "%s is not an absolute path", config->root);
  else
    check_writable_folder (loader, "root", config->root);
  if (!g_path_is_absolute (config->catalog))
    problem (loader, "storage", "catalog", "%s is not an absolute path", config->catalog);
  else
    {
      catalog_folder = g_path_get_dirname (config->catalog);
      check_writable_folder (loader, "catalog", catalog_folder);
    }
  /* The export signing key lives with the catalog unless told otherwise:
   * both are vigild's private state. */
  config->signing_key = g_key_file_get_string (loader->file, "storage", "signing_key", NULL);
  if (config->signing_key == NULL && catalog_folder != NULL)
    config->signing_key = g_build_filename (catalog_folder, "signing-key.pem", NULL);
  else if (config->signing_key != NULL)
    {
      g_autofree gchar *key_folder = NULL;

      g_strstrip (config->signing_key);
      if (!g_path_is_absolute (config->signing_key))
        problem (loader, "storage", "signing_key", "%s is not an absolute path", config->signing_key);
      else
        {
          key_folder = g_path_get_dirname (config->signing_key);
          check_writable_folder (loader, "signing_key", key_folder);
        }
    }
}

static gboolean
is_valid_camera_name (const gchar *name)
{
  /* It names a folder, a log field and a D-Bus object path. */
  if (*name == '\0' || strlen (name) > 64)
    return FALSE;
  for (const gchar *p = name; *p; p++)
    if (!g_ascii_isalnum (*p) && *p != '_' && *p != '-')
      return FALSE;
  return TRUE;
}

gchar *
vigil_config_read_password_file (const gchar *path, GError **error)
{
  /* Private, like the signing key: a password anyone can read is not
   * a secret (and /etc/shadow is refused for the same reason). */
  gchar *password = vigil_file_read (path, PASSWORD_FILE_MAX_BYTES, VIGIL_FILE_PRIVATE, NULL, error);

  if (password == NULL)
    return NULL;
  /* One line; the newline an editor adds is not part of it. */
  password[strcspn (password, "\r\n")] = '\0';
  return password;
}

static gchar *
read_password (Loader *loader, const gchar *group, gchar **out_file)
{
  g_autofree gchar *file = g_key_file_get_string (loader->file, group, "password_file", NULL);
  g_autofree gchar *env = g_key_file_get_string (loader->file, group, "password_env", NULL);
  g_autoptr(GError) error = NULL;
  gchar *password = NULL;

  if (file != NULL && env != NULL)
    {
      problem (loader, group, "password_env", "give password_file or password_env, not both");
      return NULL;
    }
  if (file != NULL)
    {
      g_strstrip (file);
      password = vigil_config_read_password_file (file, &error);
      if (password == NULL)
        {
          problem (loader, group, "password_file", "%s %s", file, error->message);
          return NULL;
        }
      *out_file = g_steal_pointer (&file);
      return password;
    }
  if (env != NULL)
    {
      const gchar *value;

      g_strstrip (env);
      value = g_getenv (env);
      if (value == NULL)
        problem (loader, group, "password_env", "environment variable %s is not set", env);
      return g_strdup (value);
    }
  return NULL;
}

/* rtsps:// only when @allow_rtsps (GStreamer's rtspsrc speaks it, vigil's
 * own client does not). */
static void
check_rtsp_url (Loader *loader, const gchar *group, const gchar *key, const gchar *url, gboolean allow_rtsps)
{
  g_autoptr(GUri) uri = g_uri_parse (url, G_URI_FLAGS_NONE, NULL);

  if (uri == NULL || (g_strcmp0 (g_uri_get_scheme (uri), "rtsp") != 0
                      && (!allow_rtsps || g_strcmp0 (g_uri_get_scheme (uri), "rtsps") != 0))
      || g_uri_get_host (uri) == NULL)
    problem (loader, group, key, "“%s” is not an rtsp:// URL with a host", url);
  else if (g_uri_get_userinfo (uri) != NULL)
    /* The URL is logged; a password in it would be too. */
    problem (loader, group, key, "must not carry a user or password; use user= and password_file=");
}

static void
load_camera (Loader *loader, const gchar *group, const gchar *name, VigilConfig *config)
{
  VigilCameraConfig *camera = g_new0 (VigilCameraConfig, 1);
  g_autofree gchar *transport = NULL;
  g_autofree gchar *client = NULL;

  g_ptr_array_add (config->cameras, camera);
  camera->name = g_strdup (name);
  check_keys (loader, group, camera_keys);
  if (!is_valid_camera_name (name))
    problem (loader, group, NULL, "camera name “%s” must be 1 to 64 letters, digits, - or _", name);

  camera->url = get_string (loader, group, "url", NULL);
  camera->onvif_url = get_string (loader, group, "onvif", NULL);
  camera->onvif_profile = get_string (loader, group, "onvif_profile", NULL);
  camera->onvif_keep_addresses = get_bool (loader, group, "onvif_keep_addresses", FALSE);
  if (camera->onvif_url != NULL)
    {
      g_autoptr(GUri) uri = g_uri_parse (camera->onvif_url, G_URI_FLAGS_NONE, NULL);

      if (camera->url != NULL)
        problem (loader, group, "onvif", "give url or onvif, not both");
      else if (uri == NULL || (g_strcmp0 (g_uri_get_scheme (uri), "http") != 0
                               && g_strcmp0 (g_uri_get_scheme (uri), "https") != 0)
               || g_uri_get_host (uri) == NULL)
        problem (loader, group, "onvif", "“%s” is not an http:// URL with a host, such as "
                 "http://HOST/onvif/device_service", camera->onvif_url);
      else if (g_uri_get_userinfo (uri) != NULL)
        problem (loader, group, "onvif", "must not carry a user or password; use user= and password_file=");
    }
  else if (camera->url == NULL)
    problem (loader, group, "url", "missing: every camera needs an rtsp:// url or an onvif= device address");
  else
    check_rtsp_url (loader, group, "url", camera->url, TRUE);
  /* The sub-stream judged by frame health; an ONVIF camera's second
   * profile unless given. */
  camera->sub_url = get_string (loader, group, "sub_url", NULL);
  if (camera->sub_url != NULL)
    check_rtsp_url (loader, group, "sub_url", camera->sub_url, FALSE);
  camera->user = get_string (loader, group, "user", NULL);
  camera->password = read_password (loader, group, &camera->password_file);
  if (camera->password != NULL && camera->user == NULL)
    problem (loader, group, "user", "missing: a password is given but no user");
  camera->allow_basic_auth = get_bool (loader, group, "allow_basic_auth", FALSE);

  transport = get_string (loader, group, "transport", "tcp");
  if (g_str_equal (transport, "udp"))
    camera->use_udp = TRUE;
  else if (!g_str_equal (transport, "tcp"))
    problem (loader, group, "transport", "“%s” is not tcp or udp", transport);
  client = get_string (loader, group, "rtsp_client", "vigil");
  if (g_str_equal (client, "rtspsrc"))
    camera->use_rtspsrc = TRUE;
  else if (!g_str_equal (client, "vigil"))
    problem (loader, group, "rtsp_client", "“%s” is not vigil or rtspsrc", client);
  camera->enabled = get_bool (loader, group, "enabled", TRUE);
  camera->stall_seconds = get_uint (loader, group, "stall_seconds", DEFAULT_STALL_SECONDS, 1, 3600);
  camera->login_retry_seconds = get_uint (loader, group, "login_retry_seconds", DEFAULT_LOGIN_RETRY_SECONDS, 1,
                                          86400);
  camera->busy_retry_seconds = get_uint (loader, group, "busy_retry_seconds", DEFAULT_BUSY_RETRY_SECONDS, 1, 86400);
  camera->frame_health = get_bool (loader, group, "frame_health", TRUE);
  /* Picture thresholds: defaults from vigil-frame-health.h, each overridable. */
  vigil_frame_health_settings_init (&camera->picture);
  camera->picture.learning_samples = get_uint (loader, group, "picture_learning_samples",
                                               camera->picture.learning_samples, 1, 100000);
  camera->picture.black_luma = get_double (loader, group, "picture_black_luma", camera->picture.black_luma, 0, 255);
  camera->picture.white_luma = get_double (loader, group, "picture_white_luma", camera->picture.white_luma, 0, 255);
  camera->picture.frozen_samples = get_uint (loader, group, "picture_frozen_samples", camera->picture.frozen_samples,
                                             1, 10000);
  camera->picture.blurred_ratio = get_double (loader, group, "picture_blurred_ratio", camera->picture.blurred_ratio,
                                              0, 1);
  camera->picture.collapse_ratio = get_double (loader, group, "picture_covered_ratio",
                                               camera->picture.collapse_ratio, 0, 1);
  camera->picture.moved_difference = get_double (loader, group, "picture_moved_difference",
                                                 camera->picture.moved_difference, 0, 2);
  camera->retention_days = get_uint (loader, group, "retention_days", 0, 0, 36500);
  camera->min_retention_days = get_uint (loader, group, "min_retention_days", 0, 0, 36500);
  if (camera->retention_days != 0 && camera->min_retention_days > camera->retention_days)
    problem (loader, group, "min_retention_days", "%u is more than retention_days (%u)",
             camera->min_retention_days, camera->retention_days);
}

static void
load_alerts (Loader *loader, VigilConfig *config)
{
  if (g_key_file_has_group (loader->file, "alerts"))
    check_keys (loader, "alerts", alerts_keys);
  config->alert_raise_after_s = get_uint (loader, "alerts", "raise_after_seconds", 10, 0, 3600);
  config->alert_clear_after_s = get_uint (loader, "alerts", "clear_after_seconds", 30, 0, 3600);
  config->alert_command = get_string (loader, "alerts", "command", NULL);
  config->alert_command_timeout_s = get_uint (loader, "alerts", "command_timeout_seconds", 30, 1, 3600);
  config->offline_seconds = get_uint (loader, "alerts", "offline_seconds", 10, 1, 3600);
  config->reconnects_per_hour = get_uint (loader, "alerts", "reconnects_per_hour", 10, 1, 10000);
  config->low_rate_fraction = get_double (loader, "alerts", "low_rate_fraction", 0.5, 0.01, 1);
  config->stalled_seconds = get_uint (loader, "alerts", "stalled_seconds", 0, 0, 86400);
  config->clock_drift_seconds = get_uint (loader, "alerts", "clock_drift_seconds", 5, 1, 86400);
  if (config->alert_command != NULL)
    {
      g_auto(GStrv) argv = NULL;
      g_autoptr(GError) error = NULL;

      if (!g_shell_parse_argv (config->alert_command, NULL, &argv, &error))
        problem (loader, "alerts", "command", "%s", error->message);
    }
}

static void
load_live (Loader *loader, VigilConfig *config)
{
  g_autoptr(GInetAddress) address = NULL;

  if (g_key_file_has_group (loader->file, "live"))
    check_keys (loader, "live", live_keys);
  config->live_enabled = get_bool (loader, "live", "enabled", TRUE);
  config->live_address = get_string (loader, "live", "address", "127.0.0.1");
  config->live_port = get_uint (loader, "live", "port", 8554, 0, 65535);   /* 0: any free port */
  config->live_htdigest = get_string (loader, "live", "htdigest", NULL);
  config->live_max_viewers = get_uint (loader, "live", "max_viewers", 64, 1, 1024);
  /* An address, not a host name: vigild must not wait on DNS to listen. */
  address = g_inet_address_new_from_string (config->live_address);
  if (address == NULL)
    problem (loader, "live", "address", "“%s” is not an IPv4 or IPv6 address", config->live_address);
  if (config->live_htdigest != NULL && !g_path_is_absolute (config->live_htdigest))
    problem (loader, "live", "htdigest", "%s is not an absolute path", config->live_htdigest);
}

/* GKeyFile silently merges groups that appear twice; an operator who
 * copies a camera block and forgets to rename it must hear about it. */
static void
check_duplicate_groups (Loader *loader, const gchar *text)
{
  g_auto(GStrv) lines = g_strsplit (text, "\n", -1);
  g_autoptr(GHashTable) seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);

  for (guint i = 0; lines[i] != NULL; i++)
    {
      g_autofree gchar *line = g_strstrip (g_strdup (lines[i]));
      gsize len = strlen (line);
      g_autofree gchar *group = NULL;

      if (len < 2 || line[0] != '[' || line[len - 1] != ']')
        continue;
      group = g_strndup (line + 1, len - 2);
      if (!g_hash_table_add (seen, g_strdup (group)))
        problem (loader, group, NULL, "appears more than once (line %u)%s", i + 1,
                 g_str_has_prefix (group, "camera ") ? ": duplicate camera" : "");
    }
}

VigilConfig *
vigil_config_load (const gchar *path, GError **error)
{
  g_autoptr(GKeyFile) file = g_key_file_new ();
  g_autoptr(GPtrArray) problems = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(VigilConfig) config = g_new0 (VigilConfig, 1);
  g_autoptr(GError) local_error = NULL;
  g_autofree gchar *text = NULL;
  g_auto(GStrv) groups = NULL;
  g_autoptr(GHashTable) camera_names = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  Loader loader = { path, file, problems };

  config->path = g_strdup (path);
  config->cameras = g_ptr_array_new_with_free_func ((GDestroyNotify) camera_config_free);

  /* Bounded and non-blocking: --config on a FIFO or a device is refused,
   * not waited on. */
  if ((text = vigil_file_read (path, CONFIG_MAX_BYTES, VIGIL_FILE_DEFAULT, NULL, &local_error)) == NULL
      || !g_key_file_load_from_data (file, text, -1, G_KEY_FILE_NONE, &local_error))
    {
      g_set_error (error, VIGIL_CONFIG_ERROR, VIGIL_CONFIG_ERROR_INVALID, "%s: %s", path, local_error->message);
      return NULL;
    }
  check_duplicate_groups (&loader, text);
  load_storage (&loader, config);
  load_alerts (&loader, config);
  load_live (&loader, config);

  groups = g_key_file_get_groups (file, NULL);
  for (guint i = 0; groups[i] != NULL; i++)
    {
      if (g_str_equal (groups[i], "storage") || g_str_equal (groups[i], "alerts") || g_str_equal (groups[i], "live"))
        continue;
      if (g_str_has_prefix (groups[i], "camera "))
        {
          const gchar *name = groups[i] + strlen ("camera ");
          g_autofree gchar *stripped = g_strstrip (g_strdup (name));

          /* [camera c1] and [camera  c1 ] would record into one camera:
           * the second is a duplicate, and its name is refused as written. */
          if (g_hash_table_contains (camera_names, stripped))
            problem (&loader, groups[i], NULL, "a second group for camera “%s”", stripped);
          g_hash_table_add (camera_names, g_steal_pointer (&stripped));
          load_camera (&loader, groups[i], name, config);
        }
      else
        problem (&loader, groups[i], NULL, "unknown group (expected [storage], [alerts], [live] or [camera NAME])");
    }

  if (problems->len > 0)
    {
      g_autofree gchar *all = NULL;

      g_ptr_array_add (problems, NULL);
      all = g_strjoinv ("\n", (gchar **) problems->pdata);
      g_set_error_literal (error, VIGIL_CONFIG_ERROR, VIGIL_CONFIG_ERROR_INVALID, all);
      return NULL;
    }
  return g_steal_pointer (&config);
}
