/* kTLS ULP probe for the VM harness self-test: on a connected loopback TCP
 * pair, setsockopt(TCP_ULP, "tls") then install a dummy TLS 1.2 AES-GCM-128
 * TX key on one end and the same RX key on the other, send one record and
 * read it back.  Prints what happened; exit 0 only if all of it worked. */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/tls.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef SOL_TLS
#define SOL_TLS 282
#endif

static int fail(const char *what)
{
    printf("ulp_probe: %s: %s (errno %d)\n", what, strerror(errno), errno);
    return 1;
}

int main(void)
{
    struct sockaddr_in a = { .sin_family = AF_INET };
    socklen_t al = sizeof a;
    int ls, c, s, r;

    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ls = socket(AF_INET, SOCK_STREAM, 0);
    if (ls < 0 || bind(ls, (struct sockaddr *)&a, sizeof a) || listen(ls, 1) ||
        getsockname(ls, (struct sockaddr *)&a, &al))
        return fail("listen");
    c = socket(AF_INET, SOCK_STREAM, 0);
    if (c < 0 || connect(c, (struct sockaddr *)&a, sizeof a))
        return fail("connect");
    s = accept(ls, NULL, NULL);
    if (s < 0)
        return fail("accept");

    r = setsockopt(c, IPPROTO_TCP, TCP_ULP, "tls", 4);
    printf("ulp_probe: setsockopt(TCP_ULP, \"tls\") = %d%s%s\n", r,
           r ? " errno=" : "", r ? strerror(errno) : "");
    if (r)
        return 1;
    if (setsockopt(s, IPPROTO_TCP, TCP_ULP, "tls", 4))
        return fail("TCP_ULP on the accepted socket");

    struct tls12_crypto_info_aes_gcm_128 ci;
    memset(&ci, 0x5a, sizeof ci);
    ci.info.version = TLS_1_2_VERSION;
    ci.info.cipher_type = TLS_CIPHER_AES_GCM_128;
    memset(ci.rec_seq, 0, sizeof ci.rec_seq);
    if (setsockopt(c, SOL_TLS, TLS_TX, &ci, sizeof ci))
        return fail("TLS_TX");
    if (setsockopt(s, SOL_TLS, TLS_RX, &ci, sizeof ci))
        return fail("TLS_RX");

    const char msg[] = "hello through kTLS";
    char buf[64] = { 0 };
    if (send(c, msg, sizeof msg, 0) != (ssize_t)sizeof msg)
        return fail("send");
    if (recv(s, buf, sizeof msg, MSG_WAITALL) != (ssize_t)sizeof msg)
        return fail("recv");
    if (memcmp(buf, msg, sizeof msg)) {
        printf("ulp_probe: payload mismatch\n");
        return 1;
    }
    printf("ulp_probe: TLS_TX/TLS_RX record round trip OK\n");
    close(c);
    close(s);
    close(ls);
    return 0;
}
