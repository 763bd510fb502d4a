/* SPDX-License-Identifier: GPL-2.0-or-later */
/* What vigilctl's files share: the bus names and exit statuses, the Ctl
 * each command runs with, the helpers of vigilctl-common.c (messages,
 * command lines, text and JSON output, reaching vigild) and one entry
 * point per command for main()'s table. Private to vigilctl; like the rest
 * of it, nothing here may pull in GStreamer or SQLite or touch vigild's
 * files. */
#pragma once
#include <gio/gio.h>
#include <json-glib/json-glib.h>

#include "vigil-dbus-generated.h"
#include "vigil-text.h"

G_BEGIN_DECLS

#define BUS_NAME             "org.vigil.Vigil1"
#define MANAGER_PATH         "/org/vigil/Vigil1"
#define CAMERA_PATH_PREFIX   MANAGER_PATH "/Camera/"
#define INCIDENT_PATH_PREFIX MANAGER_PATH "/Incident/"
#define EXPORT_INTERFACE     "org.vigil.Vigil1.Export"

enum {
  EXIT_OK = 0,
  EXIT_FAILED = 1,       /* vigild refused or failed; verification failed */
  EXIT_USAGE = 2,        /* bad command line */
  EXIT_UNREACHABLE = 3,  /* no bus, or nobody owns org.vigil.Vigil1 on it */
};

#define TIME_FORMS "Times: 2026-11-28T14:05:00 or \"2026-11-28 14:05\" (local time; add Z or +01:00 for\n" \
                   "another zone), 14:05 (today), now, or relative: -30s, -15m, -2h, -1d, +30d."

extern gboolean opt_session;                 /* --session: vigild on the session bus */
extern gboolean opt_json;                    /* --json: one JSON document on stdout */
extern const GOptionEntry global_entries[];  /* the two above, taken by every command */

typedef struct {
  gchar            *command;   /* "incident create", for messages and help */
  GDBusConnection  *bus;
  VigilDBusManager *manager;
} Ctl;

/* A command (or incident subcommand): @run gets its own name in argv[0]
 * and returns the exit status. */
typedef struct {
  const gchar *name;
  const gchar *synopsis;
  int        (*run) (Ctl *ctl, int argc, char **argv);
} Command;

/* Messages: usage(), fail() and fail_message() print one line on stderr and
 * return the exit status it calls for; bus_label() is "system" or "session". */
const gchar *bus_label          (void);
int          usage              (Ctl *ctl, const gchar *format, ...) G_GNUC_PRINTF (2, 3);
int          fail               (GError *error);
int          fail_message       (const gchar *format, ...) G_GNUC_PRINTF (1, 2);
gboolean     is_unknown_object  (const GError *error);

/* Text output; everything from vigild or a bundle goes through
 * vigil_text_sanitize(). */
void   print_field (const gchar *key, const gchar *value);

typedef struct Table Table;   /* aligned columns, a header row first */
Table *table_new   (const gchar *align, ...);
void   table_add   (Table *table, const gchar *text);
void   table_take  (Table *table, gchar *text);
void   table_print (Table *table);
void   table_free  (Table *table);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (Table, table_free)

/* JSON output: json_begin() opens the document's object, json_print() closes
 * and prints it; json_begin_listing() also opens an array in it, and
 * print_listing() ends a listing as JSON or as a table. */
JsonBuilder *json_begin         (void);
JsonBuilder *json_begin_listing (const gchar *name);
void         json_print         (JsonBuilder *builder);
void         print_listing      (JsonBuilder *builder, Table *table);
void         json_add_string    (JsonBuilder *builder, const gchar *name, const gchar *value);
void         json_add_int       (JsonBuilder *builder, const gchar *name, gint64 value);
void         json_add_double    (JsonBuilder *builder, const gchar *name, gdouble value);
void         json_add_boolean   (JsonBuilder *builder, const gchar *name, gboolean value);
void         json_add_time      (JsonBuilder *builder, const gchar *name, gint64 time_us);
void         json_add_strv      (JsonBuilder *builder, const gchar *name, const gchar *const *strv);

/* Command lines: each prints a usage() line and returns FALSE on bad input. */
gboolean parse_options         (Ctl *ctl, const gchar *parameters, const gchar *summary, const gchar *description,
                                const GOptionEntry *entries, int *argc, char ***argv);
gboolean parse_options_no_args (Ctl *ctl, const gchar *summary, const gchar *description,
                                const GOptionEntry *entries, int *argc, char ***argv);
gboolean parse_time_option     (Ctl *ctl, const gchar *option, const gchar *text, gint64 *out_us);
gboolean parse_uint_option     (Ctl *ctl, const gchar *option, const gchar *text, guint *out_value);
gboolean parse_incident_id     (Ctl *ctl, const gchar *text, gint64 *out_id);

/* Reaching vigild. */
int                 ctl_connect            (Ctl *ctl);
GDBusObjectManager *ctl_get_object_manager (Ctl *ctl, GError **error);
VigilDBusCamera    *ctl_get_camera         (Ctl *ctl, const gchar *name, GError **error);
gchar              *incident_path          (gint64 id);

/* The commands, by file. */
int cmd_camera    (Ctl *ctl, int argc, char **argv);   /* vigilctl-camera.c */
int cmd_cameras   (Ctl *ctl, int argc, char **argv);   /* vigilctl-cameras.c */
int cmd_status    (Ctl *ctl, int argc, char **argv);
int cmd_spans     (Ctl *ctl, int argc, char **argv);
int cmd_incident  (Ctl *ctl, int argc, char **argv);   /* vigilctl-incident.c */
int cmd_export    (Ctl *ctl, int argc, char **argv);   /* vigilctl-export.c */
int cmd_verify    (Ctl *ctl, int argc, char **argv);
int cmd_audit     (Ctl *ctl, int argc, char **argv);   /* vigilctl-audit.c */
int cmd_key       (Ctl *ctl, int argc, char **argv);
int cmd_alerts    (Ctl *ctl, int argc, char **argv);   /* vigilctl-health.c */
int cmd_selfcheck (Ctl *ctl, int argc, char **argv);
int cmd_fsck      (Ctl *ctl, int argc, char **argv);   /* vigilctl-fsck.c */
int cmd_ptz       (Ctl *ctl, int argc, char **argv);   /* vigilctl-ptz.c */
int cmd_discover  (Ctl *ctl, int argc, char **argv);
int cmd_snapshot  (Ctl *ctl, int argc, char **argv);   /* vigilctl-snapshot.c */
int cmd_live      (Ctl *ctl, int argc, char **argv);   /* vigilctl-live.c */
int cmd_sessions  (Ctl *ctl, int argc, char **argv);

G_END_DECLS
