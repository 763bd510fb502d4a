/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The XML namespace table gSOAP's runtime (libgsoapssl) looks up by the
 * global name `namespaces`: prefixes and URIs for every namespace in
 * onvif.gsoap.h and the wsse.h it imports, written here instead of taking
 * soapcpp2's generated .nsmap files so that the client and the simulated
 * device share exactly one table. It must list each prefix soapcpp2 uses
 * (see the generated Device.nsmap) and nothing else; the second URI of an
 * entry is the pattern also accepted when parsing (SOAP 1.1 envelopes,
 * other schema years). */

#include "stdsoap2.h"

SOAP_NMAC struct Namespace namespaces[] = {
  { "SOAP-ENV", "http://www.w3.org/2003/05/soap-envelope", "http://schemas.xmlsoap.org/soap/envelope/", NULL },
  { "SOAP-ENC", "http://www.w3.org/2003/05/soap-encoding", "http://schemas.xmlsoap.org/soap/encoding/", NULL },
  { "xsi", "http://www.w3.org/2001/XMLSchema-instance", "http://www.w3.org/*/XMLSchema-instance", NULL },
  { "xsd", "http://www.w3.org/2001/XMLSchema", "http://www.w3.org/*/XMLSchema", NULL },
  { "c14n", "http://www.w3.org/2001/10/xml-exc-c14n#", NULL, NULL },
  { "ds", "http://www.w3.org/2000/09/xmldsig#", NULL, NULL },
  { "saml1", "urn:oasis:names:tc:SAML:1.0:assertion", NULL, NULL },
  { "saml2", "urn:oasis:names:tc:SAML:2.0:assertion", NULL, NULL },
  { "wsu", "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd", NULL, NULL },
  { "xenc", "http://www.w3.org/2001/04/xmlenc#", NULL, NULL },
  { "wsc", "http://docs.oasis-open.org/ws-sx/ws-secureconversation/200512", "http://schemas.xmlsoap.org/ws/2005/02/sc", NULL },
  { "wsse", "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd",
    "http://docs.oasis-open.org/wss/oasis-wss-wssecurity-secext-1.1.xsd", NULL },
  { "ter", "http://www.onvif.org/ver10/error", NULL, NULL },
  { "tt", "http://www.onvif.org/ver10/schema", NULL, NULL },
  { "tds", "http://www.onvif.org/ver10/device/wsdl", NULL, NULL },
  { "trt", "http://www.onvif.org/ver10/media/wsdl", NULL, NULL },
  { "tptz", "http://www.onvif.org/ver20/ptz/wsdl", NULL, NULL },
  { NULL, NULL, NULL, NULL }
};
