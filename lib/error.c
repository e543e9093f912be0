/* SPDX-License-Identifier: MIT */
/* One error style: a negative code travels up, the detail stays per thread. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

static _Thread_local char last_msg[KTL_MSG_MAX];

static const char *const ktl_texts[KTL_E_MAX - KTL_E_BASE] = {
	[KTL_E_CERT_EXPIRED - KTL_E_BASE] = "certificate expired",
	[KTL_E_CERT_NOT_YET_VALID - KTL_E_BASE] = "certificate not yet valid",
	[KTL_E_CERT_UNKNOWN_ISSUER - KTL_E_BASE] = "certificate issuer unknown",
	[KTL_E_CERT_NOT_CA - KTL_E_BASE] = "issuer is not a CA",
	[KTL_E_CERT_REVOKED - KTL_E_BASE] = "certificate revoked",
	[KTL_E_CERT_KEY_USAGE - KTL_E_BASE] = "certificate key usage not allowed",
	[KTL_E_CERT_SIGNATURE - KTL_E_BASE] = "certificate signature invalid",
	[KTL_E_CERT_INSECURE - KTL_E_BASE] = "certificate uses an insecure algorithm",
	[KTL_E_CHAIN_INCOMPLETE - KTL_E_BASE] = "peer sent its certificate without the agency",
	[KTL_E_NO_PEER_CERT - KTL_E_BASE] = "peer sent no certificate",
	[KTL_E_NODE_NOT_ALLOWED - KTL_E_BASE] = "peer node ID not allowed",
	[KTL_E_CERT_REJECTED - KTL_E_BASE] = "peer certificate chain rejected",
	[KTL_E_PEER_REJECTED_US - KTL_E_BASE] = "peer rejected our certificate",
	[KTL_E_UNSUPPORTED_KEY - KTL_E_BASE] = "key or certificate not supported",
	[KTL_E_BAD_FILE - KTL_E_BASE] = "file is not valid",
	[KTL_E_PROTOCOL_VERSION - KTL_E_BASE] = "no common TLS version (1.2 or 1.3)",
	[KTL_E_NO_SHARED_CIPHER - KTL_E_BASE] = "no common ECDHE AEAD cipher suite",
	[KTL_E_HANDSHAKE - KTL_E_BASE] = "TLS handshake failed",
	[KTL_E_HANDSHAKE_TIMEOUT - KTL_E_BASE] = "TLS handshake timed out",
	[KTL_E_TRUNCATED - KTL_E_BASE] = "peer closed without close_notify (truncated)",
	[KTL_E_PEER_ALERT - KTL_E_BASE] = "peer sent a fatal alert",
	[KTL_E_BAD_RECORD - KTL_E_BASE] = "record failed authentication",
	[KTL_E_KEY_UPDATE - KTL_E_BASE] = "peer key update not supported",
	[KTL_E_KTLS_UNAVAILABLE - KTL_E_BASE] = "kernel TLS unavailable",
};

KTL_API const char *ktl_strerror(int code)
{
	if (code == INT_MIN)
		return "unknown error"; /* -INT_MIN would overflow */
	if (code < 0)
		code = -code;
	if (code == 0)
		return "success";
	if (code > KTL_E_BASE && code < KTL_E_MAX)
		return ktl_texts[code - KTL_E_BASE];
	if (code < KTL_E_BASE)
		return strerror(code);
	return "unknown error";
}

KTL_API const char *ktl_last_error(void)
{
	return last_msg;
}

int ktl_err_msg(int code, const char *msg)
{
	/* Callers pass their own buffer at times; don't copy onto ourselves. */
	if (msg != last_msg)
		snprintf(last_msg, sizeof(last_msg), "%s", msg);
	return -code;
}

int ktl_err(int code, const char *fmt, ...)
{
	char buf[KTL_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	return ktl_err_msg(code, buf);
}

int ktl_code_from_gnutls(int e)
{
	switch (e) {
	case GNUTLS_E_UNSUPPORTED_VERSION_PACKET:
		return KTL_E_PROTOCOL_VERSION;
	case GNUTLS_E_NO_CIPHER_SUITES:
	case GNUTLS_E_UNKNOWN_CIPHER_SUITE:
	case GNUTLS_E_INSUFFICIENT_SECURITY:
	case GNUTLS_E_NO_COMMON_KEY_SHARE:
	case GNUTLS_E_UNWANTED_ALGORITHM:
		return KTL_E_NO_SHARED_CIPHER;
	case GNUTLS_E_NO_CERTIFICATE_FOUND:
	case GNUTLS_E_CERTIFICATE_REQUIRED:
		return KTL_E_NO_PEER_CERT;
	case GNUTLS_E_FATAL_ALERT_RECEIVED:
		return KTL_E_PEER_ALERT;
	case GNUTLS_E_PREMATURE_TERMINATION:
		return KTL_E_TRUNCATED;
	case GNUTLS_E_DECRYPTION_FAILED:
		return KTL_E_BAD_RECORD;
	case GNUTLS_E_TIMEDOUT:
		return KTL_E_HANDSHAKE_TIMEOUT;
	case GNUTLS_E_PUSH_ERROR:
	case GNUTLS_E_PULL_ERROR:
		return EIO;
	case GNUTLS_E_MEMORY_ERROR:
		return ENOMEM;
	default:
		return KTL_E_HANDSHAKE;
	}
}
