/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Which of an ONVIF camera's profiles vigild records, and which one frame
 * health judges: the cameras a community centre buys offer two or three
 * streams, some of them MJPEG, some too small to judge. */
#include "vigil-onvif-link.h"

static VigilOnvifProfile *
profile (const gchar *token, const gchar *encoding, guint width, guint height)
{
  VigilOnvifProfile *p = g_new0 (VigilOnvifProfile, 1);

  p->token = g_strdup (token);
  p->name = g_strdup_printf ("%s-name", token);
  p->encoding = g_strdup (encoding);
  p->width = width;
  p->height = height;
  return p;
}

static void
profile_free (VigilOnvifProfile *p)
{
  g_free (p->token);
  g_free (p->name);
  g_free (p->encoding);
  g_free (p);
}

static GPtrArray *
profiles_new (void)
{
  return g_ptr_array_new_with_free_func ((GDestroyNotify) profile_free);
}

static const gchar *
token_of (const VigilOnvifProfile *p)
{
  return p != NULL ? p->token : "(none)";
}

static void
test_main_and_sub (void)
{
  g_autoptr(GPtrArray) profiles = profiles_new ();
  const VigilOnvifProfile *main = NULL, *sub = NULL;

  /* MJPEG first, a 176x144 third stream, a 640x360 one between. */
  g_ptr_array_add (profiles, profile ("mjpeg", "JPEG", 1280, 720));
  g_ptr_array_add (profiles, profile ("main", "H264", 1920, 1080));
  g_ptr_array_add (profiles, profile ("tiny", "H264", 176, 144));
  g_ptr_array_add (profiles, profile ("sub", "H265", 640, 360));
  g_assert_true (vigil_onvif_choose_profiles (profiles, NULL, &main, &sub));
  g_assert_cmpstr (token_of (main), ==, "main");
  /* The smallest wide enough to judge, not the smallest. */
  g_assert_cmpstr (token_of (sub), ==, "sub");

  /* Only streams too small to judge well: the smallest of them still. */
  g_ptr_array_remove_index (profiles, 3);
  g_ptr_array_add (profiles, profile ("cif", "H264", 352 - 64, 288));
  g_assert_true (vigil_onvif_choose_profiles (profiles, NULL, &main, &sub));
  g_assert_cmpstr (token_of (sub), ==, "tiny");

  /* A wide one beats any narrow one, whatever the order. */
  g_ptr_array_add (profiles, profile ("d1", "H264", 704, 576));
  g_assert_true (vigil_onvif_choose_profiles (profiles, NULL, &main, &sub));
  g_assert_cmpstr (token_of (sub), ==, "d1");
}

static void
test_wanted_and_none (void)
{
  g_autoptr(GPtrArray) profiles = profiles_new ();
  const VigilOnvifProfile *main = NULL, *sub = NULL;

  g_ptr_array_add (profiles, profile ("p1", "H264", 1920, 1080));
  g_ptr_array_add (profiles, profile ("p2", "H264", 640, 360));
  /* Asked for by name: the sub-stream must be smaller than it. */
  g_assert_true (vigil_onvif_choose_profiles (profiles, "p2-name", &main, &sub));
  g_assert_cmpstr (token_of (main), ==, "p2");
  g_assert_null (sub);
  g_assert_true (vigil_onvif_choose_profiles (profiles, "p1", &main, &sub));
  g_assert_cmpstr (token_of (sub), ==, "p2");
  g_assert_false (vigil_onvif_choose_profiles (profiles, "p3", &main, &sub));

  /* Nothing vigil can record. */
  g_ptr_array_set_size (profiles, 0);
  g_ptr_array_add (profiles, profile ("mjpeg", "JPEG", 1280, 720));
  g_ptr_array_add (profiles, profile ("audio-only", NULL, 0, 0));
  g_assert_false (vigil_onvif_choose_profiles (profiles, NULL, &main, &sub));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/daemon/onvif-link/main-and-sub", test_main_and_sub);
  g_test_add_func ("/daemon/onvif-link/wanted-and-none", test_wanted_and_none);
  return g_test_run ();
}
