using k8s.Models;

namespace Syllabus.Operator.Tests.ControlPlaneTests;

/// <summary>
/// A small HTTP server for pods run by the TestKubelet (Debian's python3, started in about 50 ms). It binds its
/// pod IP (env POD_IP, from fieldRef status.podIP) on port 8080 and answers:
/// <c>GET /</c> its pod name; <c>GET /ready</c> 200 or 503 and <c>GET /healthz</c> 200 or 500 by its flags;
/// <c>GET /control/ready|unready|sick</c> flips them. It starts unready when START_UNREADY=1.
/// </summary>
internal static class TestHttpServer
{
    public const string Image = "python";

    public const string Python = "/usr/bin/python3";

    public const int Port = 8080;

    public static string? SkipReason => File.Exists(Python) ? null : $"{Python} not found (Debian package python3)";

    private const string Script = """
        import http.server, os, sys
        state = {"ready": os.environ.get("START_UNREADY") != "1", "live": True}
        name = os.environ["POD_NAME"].encode()
        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            def reply(self, code, body):
                self.send_response(code)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            def do_GET(self):
                if self.path == "/ready":
                    self.reply(200 if state["ready"] else 503, name)
                elif self.path == "/healthz":
                    self.reply(200 if state["live"] else 500, name)
                elif self.path == "/control/ready":
                    state["ready"] = True; self.reply(200, b"ok")
                elif self.path == "/control/unready":
                    state["ready"] = False; self.reply(200, b"ok")
                elif self.path == "/control/sick":
                    state["live"] = False; self.reply(200, b"ok")
                else:
                    self.reply(200, name)
            def log_message(self, *args):
                pass
        server = http.server.ThreadingHTTPServer((os.environ["POD_IP"], 8080), Handler)
        print("serving on", server.server_address, flush=True)
        server.serve_forever()
        """;

    /// <summary>The server's container: image <see cref="Image"/>, POD_IP and POD_NAME from the downward API, port "http".</summary>
    public static V1Container Container(string name = "server", bool startUnready = false) => new()
    {
        Name = name,
        Image = Image,
        Command = ["python3", "-u", "-c", Script],
        Env =
        [
            new V1EnvVar { Name = "POD_IP", ValueFrom = new V1EnvVarSource { FieldRef = new V1ObjectFieldSelector { FieldPath = "status.podIP" } } },
            new V1EnvVar { Name = "POD_NAME", ValueFrom = new V1EnvVarSource { FieldRef = new V1ObjectFieldSelector { FieldPath = "metadata.name" } } },
            new V1EnvVar { Name = "START_UNREADY", Value = startUnready ? "1" : "0" },
        ],
        Ports = [new V1ContainerPort { Name = "http", ContainerPort = Port }],
    };

    public static V1Probe HttpProbe(string path, int periodSeconds = 1, int failureThreshold = 1) => new()
    {
        HttpGet = new V1HTTPGetAction { Path = path, Port = "http" },
        PeriodSeconds = periodSeconds,
        FailureThreshold = failureThreshold,
    };
}
