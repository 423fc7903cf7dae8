/* Bare libfcgi responder: the baseline the gateway's GET /health is measured
 * against, and a stand-in backend for checking the web server configurations. */
#include <fcgiapp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* GET /health (and anything else): a small JSON body, like the gateway's.
 * /env: the variables a web server configuration must pass.
 * /stream: two SSE events one second apart, flushed one by one.
 * /body: reads the request body and reports its length. */
int
main(void)
{
	FCGX_Request req;

	if (FCGX_Init() != 0 || FCGX_InitRequest(&req, 0, 0) != 0)
		return 1;
	while (FCGX_Accept_r(&req) >= 0) {
		const char *uri = FCGX_GetParam("REQUEST_URI", req.envp);

		if (uri == NULL)
			uri = "/";
		if (strncmp(uri, "/env", 4) == 0) {
			const char *plane = FCGX_GetParam("MCPGW_PLANE", req.envp);
			const char *auth = FCGX_GetParam("HTTP_AUTHORIZATION", req.envp);
			const char *cfg = FCGX_GetParam("MCPGW_CONFIG", req.envp);

			FCGX_FPrintF(req.out,
			    "Status: 200 OK\r\nContent-Type: text/plain\r\n\r\n"
			    "plane=%s\nauthorization=%s\nrequest_uri=%s\nconfig=%s\n",
			    plane ? plane : "", auth ? auth : "", uri,
			    cfg ? cfg : (getenv("MCPGW_CONFIG") ? getenv("MCPGW_CONFIG") : ""));
		} else if (strncmp(uri, "/stream", 7) == 0) {
			FCGX_FPrintF(req.out, "Status: 200 OK\r\n"
			    "Content-Type: text/event-stream\r\nCache-Control: no-cache\r\n\r\n"
			    "data: first\n\n");
			FCGX_FFlush(req.out);
			sleep(1);
			FCGX_FPrintF(req.out, "data: second\n\n");
		} else if (strncmp(uri, "/body", 5) == 0) {
			char buf[8192];
			long n = 0;
			int r;

			while ((r = FCGX_GetStr(buf, sizeof(buf), req.in)) > 0)
				n += r;
			FCGX_FPrintF(req.out, "Status: 200 OK\r\n"
			    "Content-Type: text/plain\r\n\r\nbody=%ld\n", n);
		} else {
			FCGX_PutS("Status: 200 OK\r\nContent-Type: application/json\r\n"
			    "\r\n{\"status\":\"ok\"}\n", req.out);
		}
		FCGX_Finish_r(&req);
	}
	return 0;
}
