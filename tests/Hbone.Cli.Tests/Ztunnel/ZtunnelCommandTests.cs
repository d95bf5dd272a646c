using System.Net.Sockets;
using System.Text;
using Hbone.Cli.Tests.Infrastructure;

namespace Hbone.Cli.Tests.Ztunnel;

/// <summary><c>hbone ztunnel workloads|services</c> against a fixed <c>/config_dump</c> served on loopback.</summary>
public sealed class ZtunnelCommandTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    // The admin's JSON (Hbone.Ztunnel.Admin.ConfigDump), in no particular order; policies and pods are ignored by the tables.
    private const string Dump = """
        {
          "workloads": [
            { "uid": "c1//v1/Pod/default/echo-2", "name": "echo-2", "namespace": "default", "serviceAccount": "echo",
              "workloadIps": ["10.244.2.12"], "protocol": "TCP", "node": "node-b", "network": "net2",
              "waypoint": "/10.244.1.30:15008", "identity": "spiffe://cluster.local/ns/default/sa/echo",
              "services": ["default/echo.default.svc.cluster.local"] },
            { "uid": "c1//v1/Pod/istio-system/waypoint", "name": "waypoint", "namespace": "istio-system", "serviceAccount": "waypoint",
              "workloadIps": ["10.244.1.30"], "protocol": "HBONE", "node": "node-a", "network": "",
              "waypoint": null, "identity": "spiffe://cluster.local/ns/istio-system/sa/waypoint", "services": [] },
            { "uid": "c1//v1/Pod/default/client", "name": "client", "namespace": "default", "serviceAccount": "client",
              "workloadIps": ["10.244.1.2"], "protocol": "HBONE", "node": "node-a", "network": "",
              "waypoint": null, "identity": "spiffe://cluster.local/ns/default/sa/client", "services": [] },
            { "uid": "c1//v1/Pod/default/echo-1", "name": "echo-1", "namespace": "default", "serviceAccount": "echo",
              "workloadIps": ["10.244.1.11", "fd00::11"], "protocol": "HBONE", "node": "node-a", "network": "",
              "waypoint": null, "identity": "spiffe://cluster.local/ns/default/sa/echo",
              "services": ["default/echo.default.svc.cluster.local"] }
          ],
          "services": [
            { "name": "echo", "namespace": "default", "hostname": "echo.default.svc.cluster.local",
              "vips": ["/10.96.0.10", "net2/10.96.1.10"], "ports": { "80": 8080 },
              "endpoints": ["c1//v1/Pod/default/echo-1", "c1//v1/Pod/default/echo-2"], "waypoint": null, "subjectAltNames": [] },
            { "name": "guarded-service", "namespace": "default", "hostname": "guarded-service.default.svc.cluster.local",
              "vips": ["net2/10.96.0.20"], "ports": { "80": 8080 },
              "endpoints": [], "waypoint": "/10.244.1.30:15008", "subjectAltNames": [] }
          ],
          "policies": [ { "name": "deny-9999", "namespace": "default", "scope": "Namespace", "action": "Deny" } ],
          "pods": [ { "uid": "c1//v1/Pod/default/client", "name": "client", "namespace": "default", "serviceAccount": "client",
                      "state": "Up", "addresses": ["10.244.1.2"] } ]
        }
        """;

    [Fact]
    [Trait("case", "ZT-ADMIN-10")]
    public async Task Workloads_prints_a_sorted_padded_table_from_the_config_dump()
    {
        await using var admin = new FixedHttpServer(200, Dump);

        var (code, stdout, stderr) = await RunAsync("ztunnel", "workloads", "--admin", admin.EndPoint.ToString());

        Assert.True(code == 0, string.Join(Environment.NewLine, stderr));
        Assert.Empty(stderr);
        Assert.Equal(
            [
                "NAMESPACE    POD NAME ADDRESS     NODE   WAYPOINT          PROTOCOL",
                "default      client   10.244.1.2  node-a None              HBONE",
                "default      echo-1   10.244.1.11 node-a None              HBONE",
                "default      echo-2   10.244.2.12 node-b 10.244.1.30:15008 TCP",
                "istio-system waypoint 10.244.1.30 node-a None              HBONE",
            ],
            stdout);
        Assert.Equal(["GET /config_dump HTTP/1.1"], admin.RequestLines);
    }

    [Fact]
    [Trait("case", "ZT-ADMIN-11")]
    public async Task Services_prints_vip_waypoint_and_endpoint_counts()
    {
        await using var admin = new FixedHttpServer(200, Dump);

        var (code, stdout, stderr) = await RunAsync("ztunnel", "services", "--admin", admin.EndPoint.ToString());

        Assert.True(code == 0, string.Join(Environment.NewLine, stderr));
        Assert.Empty(stderr);
        Assert.Equal(
            [
                "NAMESPACE SERVICE NAME    SERVICE VIP     WAYPOINT          ENDPOINTS",
                "default   echo            10.96.0.10      None              2/2",
                "default   guarded-service net2/10.96.0.20 10.244.1.30:15008 0/0",
            ],
            stdout);
    }

    [Fact]
    [Trait("case", "ZT-ADMIN-12")]
    public async Task An_empty_config_prints_only_the_headers()
    {
        await using var admin = new FixedHttpServer(200, """{ "workloads": [], "services": [], "policies": [], "pods": [] }""");

        var workloads = await RunAsync("ztunnel", "workloads", "--admin", admin.EndPoint.ToString());
        var services = await RunAsync("ztunnel", "services", "--admin", admin.EndPoint.ToString());

        Assert.Equal(0, workloads.ExitCode);
        Assert.Equal(["NAMESPACE POD NAME ADDRESS NODE WAYPOINT PROTOCOL"], workloads.Stdout);
        Assert.Equal(0, services.ExitCode);
        Assert.Equal(["NAMESPACE SERVICE NAME SERVICE VIP WAYPOINT ENDPOINTS"], services.Stdout);
    }

    [Theory]
    [Trait("case", "ZT-ADMIN-13")]
    [InlineData("workloads")]
    [InlineData("services")]
    public async Task An_unreachable_admin_is_one_error_line_and_exit_1(string what)
    {
        var closed = ClientCommands.ClosedPort();

        var (code, stdout, stderr) = await RunAsync("ztunnel", what, "--admin", closed);

        ClientCommands.AssertOneLine(code, stdout, stderr, 1, "hbone: error: cannot reach the ztunnel admin", $"http://{closed}/config_dump");
        Assert.Empty(stdout);
    }

    [Theory]
    [Trait("case", "ZT-ADMIN-14")]
    [InlineData(200, "{ not json", "invalid config dump")]
    [InlineData(200, """{ "workloads": [ { "uid": "x" } ], "services": [] }""", "invalid config dump")]
    [InlineData(200, """{ "workloads": null, "services": [] }""", "invalid config dump")]
    [InlineData(200, "null", "null instead of a config dump")]
    [InlineData(404, "not found", "answered 404")]
    public async Task A_bad_answer_is_one_error_line_and_exit_1(int status, string body, string mustName)
    {
        await using var admin = new FixedHttpServer(status, body);

        var (code, stdout, stderr) = await RunAsync("ztunnel", "workloads", "--admin", admin.EndPoint.ToString());

        ClientCommands.AssertOneLine(code, stdout, stderr, 1, "hbone: error: ", mustName, "/config_dump");
        Assert.Empty(stdout);
    }

    [Fact]
    [Trait("case", "ZT-ADMIN-15")]
    public async Task A_bad_admin_address_and_a_missing_subcommand_are_one_line_errors()
    {
        var badAddress = await RunAsync("ztunnel", "services", "--admin", "nonsense");
        ClientCommands.AssertOneLine(badAddress.ExitCode, badAddress.Stdout, badAddress.Stderr, 1, "hbone: error: ", "'nonsense'");

        var noSubcommand = await RunAsync("ztunnel");
        ClientCommands.AssertOneLine(noSubcommand.ExitCode, noSubcommand.Stdout, noSubcommand.Stderr, 1, "hbone: error: ", "hbone ztunnel --help");
    }

    [Theory]
    [Trait("case", "ZT-ADMIN-16")]
    [InlineData("ztunnel", "--help")]
    [InlineData("ztunnel", "workloads", "--help")]
    [InlineData("ztunnel", "services", "--help")]
    public async Task Help_names_the_admin_option_and_its_default(params string[] args)
    {
        var (code, stdout, stderr) = await RunAsync(args);

        Assert.Equal(0, code);
        Assert.Empty(stderr);
        Assert.Contains(stdout, l => l.Contains("--admin", StringComparison.Ordinal) && l.Contains("127.0.0.1:15000", StringComparison.Ordinal));
    }

    private static Task<(int ExitCode, IReadOnlyList<string> Stdout, IReadOnlyList<string> Stderr)> RunAsync(params string[] args) =>
        HboneProcess.RunAsync(args).WaitAsync(Deadline);

    /// <summary>An HTTP/1.1 server on loopback that answers every request with one fixed status and body, then closes.</summary>
    private sealed class FixedHttpServer : IAsyncDisposable
    {
        private readonly List<string> _requestLines = [];
        private readonly ScriptedTcpServer _server;

        public FixedHttpServer(int status, string body)
        {
            var payload = Encoding.UTF8.GetBytes(body);
            var head = Encoding.ASCII.GetBytes(
                $"HTTP/1.1 {status} {(status == 200 ? "OK" : "Not Found")}\r\nContent-Type: application/json\r\nContent-Length: {payload.Length}\r\nConnection: close\r\n\r\n");
            _server = new ScriptedTcpServer(async (socket, token) =>
            {
                var request = await ReadHeadAsync(socket, token);
                lock (_requestLines)
                {
                    _requestLines.Add(request[..request.IndexOf("\r\n", StringComparison.Ordinal)]);
                }

                await socket.SendAsync(head, SocketFlags.None, token);
                await socket.SendAsync(payload, SocketFlags.None, token);
                socket.Shutdown(SocketShutdown.Send);
            });
        }

        public System.Net.IPEndPoint EndPoint => _server.EndPoint;

        public IReadOnlyList<string> RequestLines
        {
            get { lock (_requestLines) { return [.. _requestLines]; } }
        }

        public ValueTask DisposeAsync() => _server.DisposeAsync();

        private static async Task<string> ReadHeadAsync(Socket socket, CancellationToken token)
        {
            var received = new StringBuilder();
            var buffer = new byte[4096];
            while (!received.ToString().Contains("\r\n\r\n", StringComparison.Ordinal))
            {
                var n = await socket.ReceiveAsync(buffer, SocketFlags.None, token);
                if (n == 0)
                {
                    break;
                }

                received.Append(Encoding.ASCII.GetString(buffer, 0, n));
            }

            return received.ToString();
        }
    }
}
