/* A loopback TCP listener that never accepts nor answers: the kernel completes
 * each handshake, so clients connect and then wait forever for a reply. */
#ifndef GW_TEST_SILENT_LISTENER_H
#define GW_TEST_SILENT_LISTENER_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

/* Returns the listening fd (close it to stop) and its port in *port, or -1. */
static inline int silent_listener(int *port)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(fd, 16) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0)
        return -1;
    *port = ntohs(a.sin_port);
    return fd;
}

#endif
