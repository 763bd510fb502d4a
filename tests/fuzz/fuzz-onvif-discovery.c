/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Fuzz target: arbitrary bytes as one WS-Discovery datagram, through the
 * parser vigil_onvif_discover() uses (GMarkup, RelatesTo matching, XAddr
 * choice, scope unescaping), without a socket. It must never touch the
 * network.
 *
 * Beyond "no crash, no leak": a ProbeMatch only counts when it relates to
 * one of our MessageIDs, every camera found has a non-empty endpoint (its
 * key), a device URL that is one of its XAddrs, and text that is valid
 * UTF-8 without control characters: vigilctl prints these to a terminal and
 * puts them in JSON. */

#include <string.h>

#include "vigil-onvif.h"
#include "vigil-onvif-private.h"
#include "fuzz-common.h"

#define FROM_ADDRESS "192.0.2.7"

static void
check_text (const gchar *text)
{
  if (text == NULL)
    return;
  fuzz_check (g_utf8_validate (text, -1, NULL), "discovered text that is not UTF-8");
  for (const gchar *p = text; *p != '\0'; p++)
    fuzz_check (!g_ascii_iscntrl (*p), "discovered text with a control character");
}

static void
check_found (const gchar *key, const VigilOnvifDiscovered *found)
{
  gboolean listed = found->device_url == NULL;

  fuzz_check (key == found->endpoint, "the key is not the endpoint");
  fuzz_check (found->endpoint != NULL && found->endpoint[0] != '\0', "an empty endpoint");
  check_text (found->endpoint);
  fuzz_check (found->xaddrs != NULL && found->scopes != NULL, "NULL XAddrs or scopes");
  fuzz_check (g_strcmp0 (found->from_address, FROM_ADDRESS) == 0, "the wrong responder");
  for (guint i = 0; found->xaddrs[i] != NULL; i++)
    {
      fuzz_check (found->xaddrs[i][0] != '\0', "an empty XAddr");
      check_text (found->xaddrs[i]);
      listed = listed || g_str_equal (found->xaddrs[i], found->device_url);
    }
  fuzz_check (listed, "a device URL that is not one of the XAddrs");
  fuzz_check (found->device_url != NULL || found->xaddrs[0] == NULL, "XAddrs but no device URL");
  for (guint i = 0; found->scopes[i] != NULL; i++)
    {
      fuzz_check (found->scopes[i][0] != '\0', "an empty scope");
      check_text (found->scopes[i]);
    }
  check_text (found->name);
  check_text (found->hardware);
}

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  fuzz_init ();
  return 0;
}

int
LLVMFuzzerTestOneInput (const guint8 *data, size_t size)
{
  gchar *ids[] = { "urn:uuid:6b0f7c1e-0d3a-4a55-9e38-6f2b6d1f0a01",
                   "urn:uuid:6b0f7c1e-0d3a-4a55-9e38-6f2b6d1f0a02", NULL };
  g_autoptr(GHashTable) found = g_hash_table_new_full (
    g_str_hash, g_str_equal, NULL, (GDestroyNotify) vigil_onvif_discovered_free);
  GHashTableIter iter;
  gpointer key, value;

  vigil_onvif_discovery_handle_datagram ((const gchar *) data, size, FROM_ADDRESS, ids, found);
  /* A second copy of the same answer adds nothing. */
  if (g_hash_table_size (found) > 0)
    {
      guint before = g_hash_table_size (found);

      vigil_onvif_discovery_handle_datagram ((const gchar *) data, size, FROM_ADDRESS, ids,
                                             found);
      fuzz_check (g_hash_table_size (found) == before, "a duplicate endpoint was added");
    }
  g_hash_table_iter_init (&iter, found);
  while (g_hash_table_iter_next (&iter, &key, &value))
    check_found (key, value);
  return 0;
}
