/* SPDX-License-Identifier: GPL-2.0-or-later */
/* What the fuzz targets in tests/fuzz/ share: a check that aborts (so that
 * libFuzzer and the replay test both see a crash, with the reason on
 * stderr) and the GLib set-up both runs need. Header-only; each target is
 * one .c file plus this. */
#pragma once

#include <stdio.h>
#include <stdlib.h>

#include <glib.h>

/* Aborts with @what when @condition is false: a broken contract, not a
 * test failure to be reported and carried on from. */
#define fuzz_check(condition, what)                                           \
  G_STMT_START                                                                \
  {                                                                           \
    if (G_UNLIKELY (!(condition)))                                            \
      {                                                                       \
        fprintf (stderr, "fuzz check failed at %s:%d: %s\n", __FILE__,       \
                 __LINE__, what);                                             \
        abort ();                                                             \
      }                                                                       \
  }                                                                           \
  G_STMT_END

static inline void
fuzz_on_log (const gchar *domain, GLogLevelFlags level, const gchar *message, gpointer data)
{
  g_log_default_handler (domain, level, message, data);
  /* abort(), not GLib's breakpoint trap: libFuzzer saves the input on
   * SIGABRT, not on SIGTRAP. */
  if (level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING))
    abort ();
}

/* Criticals and warnings from vigil or GLib are bugs too, as under
 * g_test_init(). */
static inline void
fuzz_init (void)
{
  g_log_set_default_handler (fuzz_on_log, NULL);
}

/* The libFuzzer entry points each target defines. */
int LLVMFuzzerInitialize (int *argc, char ***argv);
int LLVMFuzzerTestOneInput (const guint8 *data, size_t size);
