/* SPDX-License-Identifier: MIT */
/* What the running kernel's TLS ULP accepts, found once per process by
 * trying it on throwaway loopback connections. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "ktls_int.h"

int ktl_probe_pair(int *a, int *b)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);
	int l, c = -1, s = -1, err;

	*a = *b = -1;
	l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (l < 0)
		return -errno;
	if (bind(l, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(l, 1) < 0 ||
	    getsockname(l, (struct sockaddr *)&sa, &sl) < 0)
		goto fail;
	c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c < 0 || connect(c, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		goto fail;
	s = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	if (s < 0)
		goto fail;
	close(l);
	*a = c;
	*b = s;
	return 0;
fail:
	err = errno;
	if (c >= 0)
		close(c);
	close(l);
	return -err;
}

/* A dummy key for each protocol x cipher, TX and RX on the same socket:
 * this is where a kernel without the cipher's crypto module refuses. */
static int try_cipher(gnutls_protocol_t proto, gnutls_cipher_algorithm_t cipher)
{
	static const unsigned char zero[32], seq[8];
	gnutls_datum_t key = { (unsigned char *)zero, cipher == GNUTLS_CIPHER_AES_128_GCM ? 16 : 32 };
	gnutls_datum_t iv = { (unsigned char *)zero,
			      proto == GNUTLS_TLS1_2 && cipher != GNUTLS_CIPHER_CHACHA20_POLY1305 ? 4 : 12 };
	struct ktl_crypto_info ci;
	int a, b, ok = 0;

	if (ktl_probe_pair(&a, &b) < 0)
		return 0;
	if (setsockopt(a, IPPROTO_TCP, TCP_ULP, "tls", sizeof("tls")) == 0 &&
	    ktl_crypto_info_build(&ci, proto, cipher, &key, &iv, seq) == 0) {
		ok = setsockopt(a, SOL_TLS, TLS_TX, &ci, ci.len) == 0 &&
		     setsockopt(a, SOL_TLS, TLS_RX, &ci, ci.len) == 0;
		ktl_crypto_info_wipe(&ci);
	}
	close(a);
	close(b);
	return ok;
}

static struct ktl_support cached;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void probe_once(void)
{
	static const gnutls_cipher_algorithm_t ciphers[] = {
		GNUTLS_CIPHER_AES_128_GCM, GNUTLS_CIPHER_AES_256_GCM, GNUTLS_CIPHER_CHACHA20_POLY1305
	};
	int a, b, ret;

	ret = ktl_probe_pair(&a, &b);
	if (ret < 0) {
		cached.ktls_ulp_err = -ret;
		return;
	}
	if (setsockopt(a, IPPROTO_TCP, TCP_ULP, "tls", sizeof("tls")) == 0)
		cached.ktls_ulp = 1;
	else
		cached.ktls_ulp_err = errno;
	close(a);
	close(b);
	if (!cached.ktls_ulp)
		return;
	for (size_t i = 0; i < sizeof(ciphers) / sizeof(ciphers[0]); i++) {
		if (try_cipher(GNUTLS_TLS1_2, ciphers[i]))
			cached.ktls_tls12_ciphers |= ktl_cipher_mask(ciphers[i]);
		if (try_cipher(GNUTLS_TLS1_3, ciphers[i]))
			cached.ktls_tls13_ciphers |= ktl_cipher_mask(ciphers[i]);
	}
}

void ktl_ktls_probe(struct ktl_support *out)
{
	pthread_once(&once, probe_once);
	out->ktls_ulp = cached.ktls_ulp;
	out->ktls_ulp_err = cached.ktls_ulp_err;
	out->ktls_tls12_ciphers = cached.ktls_tls12_ciphers;
	out->ktls_tls13_ciphers = cached.ktls_tls13_ciphers;
}
