/* SPDX-License-Identifier: GPL-2.0-or-later */
/* VigilNalAssembler: RTP H.264/H.265 payloads to Annex B access units. */
#include "vigil-nal-assembler.h"

static const guint8 start_code[4] = { 0, 0, 0, 1 };

void
vigil_nal_assembler_init (VigilNalAssembler *assembler, VigilNalCodec codec)
{
  assembler->codec = codec;
  assembler->au = g_byte_array_sized_new (64 * 1024);
  assembler->au_timestamp = 0;
  assembler->in_fragment = FALSE;
  assembler->parameter_sets = NULL;
}

void
vigil_nal_assembler_clear (VigilNalAssembler *assembler)
{
  g_clear_pointer (&assembler->au, g_byte_array_unref);
  g_clear_pointer (&assembler->parameter_sets, g_byte_array_unref);
}

void
vigil_nal_assembler_add_parameter_set (VigilNalAssembler *assembler, const guint8 *nal, gsize len)
{
  if (assembler->parameter_sets == NULL)
    assembler->parameter_sets = g_byte_array_new ();
  g_byte_array_append (assembler->parameter_sets, start_code, sizeof start_code);
  g_byte_array_append (assembler->parameter_sets, nal, len);
}

static void
flush_unit (VigilNalAssembler *assembler, VigilNalEmitFunc emit, gpointer user_data)
{
  if (assembler->au->len > 0)
    {
      if (assembler->parameter_sets != NULL)
        {
          /* Once, before the first unit: a camera that sends its SPS/PPS
           * only in the SDP still gives a stream that decodes. */
          g_byte_array_prepend (assembler->au, assembler->parameter_sets->data, assembler->parameter_sets->len);
          g_clear_pointer (&assembler->parameter_sets, g_byte_array_unref);
        }
      emit (assembler->au->data, assembler->au->len, assembler->au_timestamp, user_data);
    }
  g_byte_array_set_size (assembler->au, 0);
  assembler->in_fragment = FALSE;
}

static void
append_nal (VigilNalAssembler *assembler, const guint8 *nal, gsize len)
{
  if (len == 0)
    return;
  g_byte_array_append (assembler->au, start_code, sizeof start_code);
  g_byte_array_append (assembler->au, nal, len);
}

/* An aggregation packet: 16-bit size, NAL unit, repeated. */
static void
append_aggregate (VigilNalAssembler *assembler, const guint8 *data, gsize len)
{
  while (len >= 2)
    {
      gsize size = (data[0] << 8) | data[1];

      if (size > len - 2)
        return;   /* truncated: keep what was whole */
      append_nal (assembler, data + 2, size);
      data += 2 + size;
      len -= 2 + size;
    }
}

static void
append_fragment (VigilNalAssembler *assembler, const guint8 *header, gsize header_len, gboolean start,
                 const guint8 *data, gsize len)
{
  if (start)
    {
      append_nal (assembler, header, header_len);
      assembler->in_fragment = TRUE;
    }
  else if (!assembler->in_fragment)
    return;
  g_byte_array_append (assembler->au, data, len);
}

static void
push_h264 (VigilNalAssembler *assembler, const guint8 *payload, gsize len)
{
  guint type = payload[0] & 0x1f;

  if (type >= 1 && type <= 23)
    append_nal (assembler, payload, len);
  else if (type == 24 && len > 1)          /* STAP-A */
    append_aggregate (assembler, payload + 1, len - 1);
  else if (type == 28 && len > 2)          /* FU-A */
    {
      guint8 header = (payload[0] & 0xe0) | (payload[1] & 0x1f);
      gboolean start = (payload[1] & 0x80) != 0, end = (payload[1] & 0x40) != 0;

      append_fragment (assembler, &header, 1, start, payload + 2, len - 2);
      if (end)
        assembler->in_fragment = FALSE;
    }
}

static void
push_h265 (VigilNalAssembler *assembler, const guint8 *payload, gsize len)
{
  guint type = (payload[0] >> 1) & 0x3f;

  if (len < 2)
    return;
  if (type < 48)
    append_nal (assembler, payload, len);
  else if (type == 48 && len > 2)          /* aggregation packet */
    append_aggregate (assembler, payload + 2, len - 2);
  else if (type == 49 && len > 3)          /* fragmentation unit */
    {
      guint8 header[2] = { (payload[0] & 0x81) | ((payload[2] & 0x3f) << 1), payload[1] };
      gboolean start = (payload[2] & 0x80) != 0, end = (payload[2] & 0x40) != 0;

      append_fragment (assembler, header, 2, start, payload + 3, len - 3);
      if (end)
        assembler->in_fragment = FALSE;
    }
}

void
vigil_nal_assembler_push (VigilNalAssembler *assembler, const guint8 *payload, gsize len, guint32 rtp_timestamp,
                          gboolean marker, VigilNalEmitFunc emit, gpointer user_data)
{
  /* A new timestamp is a new unit, even if the camera forgot the marker. */
  if (assembler->au->len > 0 && rtp_timestamp != assembler->au_timestamp)
    flush_unit (assembler, emit, user_data);
  assembler->au_timestamp = rtp_timestamp;
  if (len >= 1)
    {
      if (assembler->codec == VIGIL_NAL_CODEC_H264)
        push_h264 (assembler, payload, len);
      else
        push_h265 (assembler, payload, len);
    }
  if (marker)
    flush_unit (assembler, emit, user_data);
}
