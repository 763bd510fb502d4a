/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vigil-text: what a camera, a bus caller or a bundle says can neither
 * forge a log line nor drive the operator's terminal. */
#include "vigil-text.h"

static void
check (const gchar *text, gsize max_chars, VigilTextFlags flags, const gchar *expected)
{
  g_autofree gchar *shown = vigil_text_sanitize (text, max_chars, flags);

  g_assert_cmpstr (shown, ==, expected);
  g_assert_true (g_utf8_validate (shown, -1, NULL));
}

static void
test_text_control_characters_become_spaces (void)
{
  check ("red \x1b[31malert\x1b[0m", 0, VIGIL_TEXT_DEFAULT, "red  [31malert [0m");
  check ("line one\nFAKE: camera ok\r\t", 0, VIGIL_TEXT_DEFAULT, "line one FAKE: camera ok  ");
  /* C1 controls (U+009B is a one-character CSI on some terminals). */
  check ("a\xc2\x9b" "2Jb", 0, VIGIL_TEXT_DEFAULT, "a 2Jb");
  check ("Entrée ✓", 0, VIGIL_TEXT_DEFAULT, "Entrée ✓");
  /* A right-to-left override would show "by admin" reversed in a viewer. */
  check ("release \u202Enimda yb\u202C ok", 0, VIGIL_TEXT_DEFAULT, "release  nimda yb  ok");
  check ("x\u2066y\u2069", 0, VIGIL_TEXT_DEFAULT, "x y ");
}

static void
test_text_keeps_newlines_when_asked (void)
{
  check ("two\nlines\x1b", 0, VIGIL_TEXT_KEEP_NEWLINES, "two\nlines ");
  check ("two\r\nlines", 0, VIGIL_TEXT_KEEP_NEWLINES, "two \nlines");
}

static void
test_text_invalid_utf8_is_replaced (void)
{
  check ("cam\xff\xfe" "era", 0, VIGIL_TEXT_DEFAULT, "cam\xef\xbf\xbd\xef\xbf\xbd" "era");
  check (NULL, 0, VIGIL_TEXT_DEFAULT, "");
}

static void
test_text_is_cut_to_max_chars (void)
{
  check ("abcdef", 3, VIGIL_TEXT_DEFAULT, "abc...");
  check ("abc", 3, VIGIL_TEXT_DEFAULT, "abc");
  /* Characters, not bytes: a cut never splits one. */
  check ("ééééé", 2, VIGIL_TEXT_DEFAULT, "éé...");
}

static void
test_text_has_control_chars (void)
{
  g_assert_true (vigil_text_has_control_chars ("a\tb"));
  g_assert_true (vigil_text_has_control_chars ("a\xc2\x85"));
  g_assert_true (vigil_text_has_control_chars ("a\u202Eb"));
  g_assert_false (vigil_text_has_control_chars ("Axis M1065-L ✓ \u05e9\u05dc\u05d5\u05dd"));
}

static void
redacts (const gchar *url, const gchar *expected)
{
  g_autofree gchar *shown = vigil_text_redact_url (url);

  g_assert_cmpstr (shown, ==, expected);
}

static void
test_text_redact_url (void)
{
  redacts ("rtsp://admin:hunter2@192.0.2.7:554/Streaming/Channels/101",
           "rtsp://192.0.2.7:554/Streaming/Channels/101");
  redacts ("rtsp://user@cam/s", "rtsp://cam/s");
  /* A password holding '@' still goes entirely. */
  redacts ("rtsp://admin:p@ss@cam/s", "rtsp://cam/s");
  redacts ("rtsp://cam/live.sdp?user=admin&password=hunter2&channel=1",
           "rtsp://cam/live.sdp?user=admin&password=***&channel=1");
  redacts ("http://cam/snap.jpg?PWD=hunter2&Auth_Token=abc#x", "http://cam/snap.jpg?PWD=***&Auth_Token=***#x");
  redacts ("rtsp://cam/s?pass%77ord=hunter2", "rtsp://cam/s?pass%77ord=***");
  redacts ("rtsp://cam/s?channel=1&subtype=0", "rtsp://cam/s?channel=1&subtype=0");
  redacts ("rtsp://cam/path@with/at", "rtsp://cam/path@with/at");
  redacts ("rtsp://cam/s\r\nX-Evil: 1", "rtsp://cam/s  X-Evil: 1");
  redacts (NULL, "");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/common/text/control-characters-become-spaces", test_text_control_characters_become_spaces);
  g_test_add_func ("/common/text/keeps-newlines-when-asked", test_text_keeps_newlines_when_asked);
  g_test_add_func ("/common/text/invalid-utf8-is-replaced", test_text_invalid_utf8_is_replaced);
  g_test_add_func ("/common/text/cut-to-max-chars", test_text_is_cut_to_max_chars);
  g_test_add_func ("/common/text/has-control-chars", test_text_has_control_chars);
  g_test_add_func ("/common/text/redact-url", test_text_redact_url);
  return g_test_run ();
}
