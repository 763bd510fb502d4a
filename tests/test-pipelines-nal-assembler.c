/* SPDX-License-Identifier: GPL-2.0-or-later */
/* VigilNalAssembler turns H.264 and H.265 RTP payloads (single NAL units,
 * aggregates, fragments) into the Annex B access units a parser expects:
 * one per frame, NAL units byte-exact, out-of-band parameter sets first. */
#include <string.h>

#include "vigil-nal-assembler.h"

typedef struct {
  GPtrArray *units;          /* GBytes */
  GArray    *timestamps;     /* guint32 */
} Collected;

static void
on_unit (const guint8 *au, gsize len, guint32 rtp_timestamp, gpointer user_data)
{
  Collected *c = user_data;

  g_ptr_array_add (c->units, g_bytes_new (au, len));
  g_array_append_val (c->timestamps, rtp_timestamp);
}

static void
collected_init (Collected *c)
{
  c->units = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  c->timestamps = g_array_new (FALSE, FALSE, sizeof (guint32));
}

static void
collected_clear (Collected *c)
{
  g_ptr_array_unref (c->units);
  g_array_unref (c->timestamps);
}

static void
assert_unit (Collected *c, guint index, const guint8 *expected, gsize len)
{
  gsize got_len;
  const guint8 *got = g_bytes_get_data (c->units->pdata[index], &got_len);

  g_assert_cmpmem (got, got_len, expected, len);
}

static void
test_nal_assembler_h264 (void)
{
  VigilNalAssembler a;
  Collected c;
  /* SPS (type 7) and PPS (8) in a STAP-A, then an IDR (5) in three FU-A
   * fragments, then a P slice (1) alone with the marker bit. */
  const guint8 stap[] = { 0x18, 0x00, 0x03, 0x67, 0xaa, 0xbb, 0x00, 0x02, 0x68, 0xcc };
  const guint8 fu1[] = { 0x7c, 0x85, 0x01, 0x02 };
  const guint8 fu2[] = { 0x7c, 0x05, 0x03 };
  const guint8 fu3[] = { 0x7c, 0x45, 0x04 };
  const guint8 p_slice[] = { 0x41, 0x9a, 0x10 };
  const guint8 idr_unit[] = { 0, 0, 0, 1, 0x67, 0xaa, 0xbb, 0, 0, 0, 1, 0x68, 0xcc,
                              0, 0, 0, 1, 0x65, 0x01, 0x02, 0x03, 0x04 };
  const guint8 p_unit[] = { 0, 0, 0, 1, 0x41, 0x9a, 0x10 };

  collected_init (&c);
  vigil_nal_assembler_init (&a, VIGIL_NAL_CODEC_H264);
  vigil_nal_assembler_push (&a, stap, sizeof stap, 1000, FALSE, on_unit, &c);
  vigil_nal_assembler_push (&a, fu1, sizeof fu1, 1000, FALSE, on_unit, &c);
  vigil_nal_assembler_push (&a, fu2, sizeof fu2, 1000, FALSE, on_unit, &c);
  g_assert_cmpuint (c.units->len, ==, 0);
  vigil_nal_assembler_push (&a, fu3, sizeof fu3, 1000, TRUE, on_unit, &c);
  g_assert_cmpuint (c.units->len, ==, 1);
  assert_unit (&c, 0, idr_unit, sizeof idr_unit);
  /* No marker: the unit ends when the next timestamp starts. */
  vigil_nal_assembler_push (&a, p_slice, sizeof p_slice, 4600, FALSE, on_unit, &c);
  vigil_nal_assembler_push (&a, p_slice, sizeof p_slice, 8200, TRUE, on_unit, &c);
  g_assert_cmpuint (c.units->len, ==, 3);
  assert_unit (&c, 1, p_unit, sizeof p_unit);
  g_assert_cmpuint (g_array_index (c.timestamps, guint32, 1), ==, 4600);
  g_assert_cmpuint (g_array_index (c.timestamps, guint32, 2), ==, 8200);

  /* A fragment whose start never came is dropped, not glued to garbage. */
  vigil_nal_assembler_push (&a, fu2, sizeof fu2, 9000, FALSE, on_unit, &c);
  vigil_nal_assembler_push (&a, fu3, sizeof fu3, 9000, FALSE, on_unit, &c);
  vigil_nal_assembler_push (&a, p_slice, sizeof p_slice, 9000, TRUE, on_unit, &c);
  assert_unit (&c, 3, p_unit, sizeof p_unit);
  vigil_nal_assembler_clear (&a);
  collected_clear (&c);
}

static void
test_nal_assembler_h265_with_parameter_sets (void)
{
  VigilNalAssembler a;
  Collected c;
  const guint8 vps[] = { 0x40, 0x01, 0x0c }, sps[] = { 0x42, 0x01, 0x01 };
  /* An aggregation packet (type 48) with two NAL units, then an IDR_W_RADL
   * (type 19) in two FUs (type 49). */
  const guint8 ap[] = { 0x60, 0x01, 0x00, 0x03, 0x44, 0x01, 0xc1, 0x00, 0x02, 0x4e, 0x01 };
  const guint8 fu1[] = { 0x62, 0x01, 0x93, 0xaf, 0x01 };
  const guint8 fu2[] = { 0x62, 0x01, 0x53, 0x02 };
  const guint8 unit[] = { 0, 0, 0, 1, 0x40, 0x01, 0x0c, 0, 0, 0, 1, 0x42, 0x01, 0x01,
                          0, 0, 0, 1, 0x44, 0x01, 0xc1, 0, 0, 0, 1, 0x4e, 0x01,
                          0, 0, 0, 1, 0x26, 0x01, 0xaf, 0x01, 0x02 };
  const guint8 second[] = { 0, 0, 0, 1, 0x44, 0x01, 0xc1, 0, 0, 0, 1, 0x4e, 0x01 };

  collected_init (&c);
  vigil_nal_assembler_init (&a, VIGIL_NAL_CODEC_H265);
  vigil_nal_assembler_add_parameter_set (&a, vps, sizeof vps);
  vigil_nal_assembler_add_parameter_set (&a, sps, sizeof sps);
  vigil_nal_assembler_push (&a, ap, sizeof ap, 0, FALSE, on_unit, &c);
  vigil_nal_assembler_push (&a, fu1, sizeof fu1, 0, FALSE, on_unit, &c);
  vigil_nal_assembler_push (&a, fu2, sizeof fu2, 0, TRUE, on_unit, &c);
  g_assert_cmpuint (c.units->len, ==, 1);
  assert_unit (&c, 0, unit, sizeof unit);
  /* The out-of-band sets go before the first unit only. */
  vigil_nal_assembler_push (&a, ap, sizeof ap, 3600, TRUE, on_unit, &c);
  assert_unit (&c, 1, second, sizeof second);
  vigil_nal_assembler_clear (&a);
  collected_clear (&c);
}

static void
test_nal_assembler_survives_truncated_aggregates (void)
{
  VigilNalAssembler a;
  Collected c;
  /* The second size field claims more than the packet holds. */
  const guint8 stap[] = { 0x18, 0x00, 0x01, 0x67, 0x00, 0x40, 0x68 };
  const guint8 expected[] = { 0, 0, 0, 1, 0x67 };

  collected_init (&c);
  vigil_nal_assembler_init (&a, VIGIL_NAL_CODEC_H264);
  vigil_nal_assembler_push (&a, stap, sizeof stap, 0, TRUE, on_unit, &c);
  assert_unit (&c, 0, expected, sizeof expected);
  vigil_nal_assembler_clear (&a);
  collected_clear (&c);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/pipelines/nal-assembler/h264", test_nal_assembler_h264);
  g_test_add_func ("/pipelines/nal-assembler/h265-with-parameter-sets", test_nal_assembler_h265_with_parameter_sets);
  g_test_add_func ("/pipelines/nal-assembler/survives-truncated-aggregates", test_nal_assembler_survives_truncated_aggregates);
  return g_test_run ();
}
