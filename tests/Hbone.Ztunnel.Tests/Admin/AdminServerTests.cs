using System.Diagnostics.Metrics;
using System.Net;
using System.Text.Json;
using Hbone.Ztunnel.Admin;
using Hbone.Ztunnel.Config;
using Hbone.Ztunnel.State;

namespace Hbone.Ztunnel.Tests.Admin;

/// <summary>The admin, stats and readiness endpoints on real Kestrel listeners (127.0.0.1, port 0).</summary>
public sealed class AdminServerTests : IAsyncLifetime
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(10);

    private const string Yaml = """
        workloads:
        - uid: cluster1//v1/Pod/default/client
          name: client
          namespace: default
          serviceAccount: client
          workloadIps: ["10.244.1.2"]
          protocol: HBONE
          node: node-a
        - uid: cluster1//v1/Pod/default/echo-1
          name: echo-1
          namespace: default
          serviceAccount: echo
          workloadIps: ["10.244.1.11"]
          protocol: HBONE
          node: node-a
          services: { "default/echo.default.svc.cluster.local": { 80: 8080 } }
        - uid: cluster1//v1/Pod/default/echo-2
          name: echo-2
          namespace: default
          serviceAccount: echo
          workloadIps: ["10.244.2.12"]
          protocol: TCP
          node: node-b
          network: net2
          waypoint: { destination: "/10.244.1.30", hboneMtlsPort: 15008 }
          services: { "default/echo.default.svc.cluster.local": { 80: 9090 } }
        services:
        - name: echo
          namespace: default
          hostname: echo.default.svc.cluster.local
          vips: ["/10.96.0.10", "net2/10.96.1.10"]
          ports: { 80: 8080, 443: 8443 }
          subjectAltNames: ["spiffe://cluster.local/ns/default/sa/echo-alt"]
        policies:
        - name: deny-9999
          namespace: default
          scope: Namespace
          action: Deny
          rules: [[[ { destinationPorts: [9999] } ]]]
        """;

    private readonly HttpClient _http = new() { Timeout = Deadline };
    private readonly Meter _meter = new("Test.Admin");
    private readonly List<EnrolledPod> _pods = [new("cluster1//v1/Pod/default/client", "client", "default", "client", "Up", ["10.244.1.2"])];
    private volatile bool _ready;
    private int _shutdowns;
    private AdminServer _server = null!;

    public async Task InitializeAsync()
    {
        var snapshot = new WorkloadSnapshot(LocalConfigParser.Parse(Yaml));
        _server = await AdminServer.StartAsync(
            new AdminServerOptions
            {
                Admin = new IPEndPoint(IPAddress.Loopback, 0),
                Stats = new IPEndPoint(IPAddress.Loopback, 0),
                Readiness = new IPEndPoint(IPAddress.Loopback, 0),
                Snapshot = () => snapshot,
                Pods = () => _pods,
                Metrics = _meter,
                IsReady = () => _ready,
                RequestShutdown = () => Interlocked.Increment(ref _shutdowns),
            },
            CancellationToken.None).WaitAsync(Deadline);

        // Measured once the server listens to the meter: what was added before is not its to count.
        _meter.CreateCounter<long>("istio_tcp_connections_opened_total", "{connection}", "Opened.").Add(3, new KeyValuePair<string, object?>("reporter", "destination"));
    }

    public async Task DisposeAsync()
    {
        await _server.DisposeAsync().AsTask().WaitAsync(Deadline);
        _http.Dispose();
        _meter.Dispose();
    }

    private Uri Url(IPEndPoint endPoint, string path) => new($"http://{endPoint}{path}");

    [Fact]
    [Trait("case", "ZT-ADMIN-01")]
    public void Port_zero_listeners_report_three_distinct_bound_loopback_ports()
    {
        IPEndPoint[] bound = [_server.AdminEndPoint, _server.StatsEndPoint, _server.ReadinessEndPoint];
        Assert.All(bound, ep => Assert.Equal(IPAddress.Loopback, ep.Address));
        Assert.All(bound, ep => Assert.NotEqual(0, ep.Port));
        Assert.Equal(3, bound.Select(ep => ep.Port).Distinct().Count());
    }

    [Fact]
    [Trait("case", "ZT-ADMIN-02")]
    public async Task Config_dump_is_json_with_workloads_services_policies_and_pods()
    {
        using HttpResponseMessage response = await _http.GetAsync(Url(_server.AdminEndPoint, "/config_dump")).WaitAsync(Deadline);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        using JsonDocument doc = JsonDocument.Parse(await response.Content.ReadAsStringAsync().WaitAsync(Deadline));
        JsonElement root = doc.RootElement;

        JsonElement[] workloads = [.. root.GetProperty("workloads").EnumerateArray()];
        Assert.Equal(3, workloads.Length);
        JsonElement client = workloads[0];
        Assert.Equal("cluster1//v1/Pod/default/client", client.GetProperty("uid").GetString());
        Assert.Equal("client", client.GetProperty("name").GetString());
        Assert.Equal("default", client.GetProperty("namespace").GetString());
        Assert.Equal("client", client.GetProperty("serviceAccount").GetString());
        Assert.Equal(["10.244.1.2"], Strings(client.GetProperty("workloadIps")));
        Assert.Equal("HBONE", client.GetProperty("protocol").GetString());
        Assert.Equal("node-a", client.GetProperty("node").GetString());
        Assert.Equal("", client.GetProperty("network").GetString());
        Assert.Equal(JsonValueKind.Null, client.GetProperty("waypoint").ValueKind);
        Assert.Equal("spiffe://cluster.local/ns/default/sa/client", client.GetProperty("identity").GetString());
        Assert.Empty(Strings(client.GetProperty("services")));

        JsonElement echo2 = workloads[2];
        Assert.Equal("TCP", echo2.GetProperty("protocol").GetString());
        Assert.Equal("net2", echo2.GetProperty("network").GetString());
        Assert.Equal("/10.244.1.30:15008", echo2.GetProperty("waypoint").GetString());
        Assert.Equal("spiffe://cluster.local/ns/default/sa/echo", echo2.GetProperty("identity").GetString());
        Assert.Equal(["default/echo.default.svc.cluster.local"], Strings(echo2.GetProperty("services")));

        JsonElement service = Assert.Single(root.GetProperty("services").EnumerateArray());
        Assert.Equal("echo", service.GetProperty("name").GetString());
        Assert.Equal("default", service.GetProperty("namespace").GetString());
        Assert.Equal("echo.default.svc.cluster.local", service.GetProperty("hostname").GetString());
        Assert.Equal(["/10.96.0.10", "net2/10.96.1.10"], Strings(service.GetProperty("vips")));
        Assert.Equal(
            [("80", 8080), ("443", 8443)],
            service.GetProperty("ports").EnumerateObject().Select(p => (p.Name, p.Value.GetInt32())).ToArray());
        Assert.Equal(["cluster1//v1/Pod/default/echo-1", "cluster1//v1/Pod/default/echo-2"], Strings(service.GetProperty("endpoints")));
        Assert.Equal(JsonValueKind.Null, service.GetProperty("waypoint").ValueKind);
        Assert.Equal(["spiffe://cluster.local/ns/default/sa/echo-alt"], Strings(service.GetProperty("subjectAltNames")));

        JsonElement policy = Assert.Single(root.GetProperty("policies").EnumerateArray());
        Assert.Equal(
            ["deny-9999", "default", "Namespace", "Deny"],
            new[] { "name", "namespace", "scope", "action" }.Select(k => policy.GetProperty(k).GetString() ?? "<null>"));

        JsonElement pod = Assert.Single(root.GetProperty("pods").EnumerateArray());
        Assert.Equal(
            ["cluster1//v1/Pod/default/client", "client", "default", "client", "Up"],
            new[] { "uid", "name", "namespace", "serviceAccount", "state" }.Select(k => pod.GetProperty(k).GetString() ?? "<null>"));
        Assert.Equal(["10.244.1.2"], Strings(pod.GetProperty("addresses")));
    }

    [Fact]
    [Trait("case", "ZT-ADMIN-03")]
    public async Task Readiness_is_503_until_ready_then_200()
    {
        Uri ready = Url(_server.ReadinessEndPoint, "/healthz/ready");
        using (HttpResponseMessage before = await _http.GetAsync(ready).WaitAsync(Deadline))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, before.StatusCode);
            Assert.Equal("not ready", await before.Content.ReadAsStringAsync().WaitAsync(Deadline));
        }

        _ready = true;
        using HttpResponseMessage after = await _http.GetAsync(ready).WaitAsync(Deadline);
        Assert.Equal(HttpStatusCode.OK, after.StatusCode);
        Assert.Equal("ready", await after.Content.ReadAsStringAsync().WaitAsync(Deadline));
    }

    [Fact]
    [Trait("case", "ZT-ADMIN-04")]
    public async Task Quitquitquit_POST_requests_shutdown_once_and_GET_is_405()
    {
        Uri quit = Url(_server.AdminEndPoint, "/quitquitquit");
        using (HttpResponseMessage get = await _http.GetAsync(quit).WaitAsync(Deadline))
        {
            Assert.Equal(HttpStatusCode.MethodNotAllowed, get.StatusCode);
            Assert.Equal(["POST"], get.Content.Headers.Allow);
        }

        Assert.Equal(0, Volatile.Read(ref _shutdowns));
        using HttpResponseMessage post = await _http.PostAsync(quit, content: null).WaitAsync(Deadline);
        Assert.Equal(HttpStatusCode.OK, post.StatusCode);
        Assert.Equal("OK", await post.Content.ReadAsStringAsync().WaitAsync(Deadline));
        Assert.Equal(1, Volatile.Read(ref _shutdowns));
    }

    [Theory]
    [Trait("case", "ZT-ADMIN-05")]
    [InlineData("/metrics")]
    [InlineData("/stats/prometheus")]
    public async Task Metrics_are_prometheus_text_of_the_given_meter(string path)
    {
        using HttpResponseMessage response = await _http.GetAsync(Url(_server.StatsEndPoint, path)).WaitAsync(Deadline);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/plain", response.Content.Headers.ContentType?.MediaType);
        Assert.Contains(response.Content.Headers.ContentType!.Parameters, p => p.Name == "version" && p.Value == "0.0.4");
        string body = await response.Content.ReadAsStringAsync().WaitAsync(Deadline);
        Assert.Contains("# TYPE istio_tcp_connections_opened_total counter\n", body, StringComparison.Ordinal);
        Assert.Contains("\nistio_tcp_connections_opened_total{reporter=\"destination\"} 3\n", body, StringComparison.Ordinal);
    }

    [Theory]
    [Trait("case", "ZT-ADMIN-06")]
    [InlineData("stats", "/config_dump")]
    [InlineData("stats", "/quitquitquit")]
    [InlineData("readiness", "/config_dump")]
    [InlineData("readiness", "/metrics")]
    [InlineData("admin", "/metrics")]
    [InlineData("admin", "/healthz/ready")]
    [InlineData("admin", "/nothing")]
    public async Task Each_path_answers_only_on_its_own_port(string listener, string path)
    {
        IPEndPoint endPoint = listener switch
        {
            "stats" => _server.StatsEndPoint,
            "readiness" => _server.ReadinessEndPoint,
            _ => _server.AdminEndPoint,
        };
        using HttpResponseMessage get = await _http.GetAsync(Url(endPoint, path)).WaitAsync(Deadline);
        Assert.Equal(HttpStatusCode.NotFound, get.StatusCode);
        using HttpResponseMessage post = await _http.PostAsync(Url(endPoint, path), content: null).WaitAsync(Deadline);
        Assert.Equal(HttpStatusCode.NotFound, post.StatusCode);
        Assert.Equal(0, Volatile.Read(ref _shutdowns));
    }

    [Fact]
    [Trait("case", "ZT-ADMIN-07")]
    public async Task Admin_root_lists_the_endpoints()
    {
        using HttpResponseMessage response = await _http.GetAsync(Url(_server.AdminEndPoint, "/")).WaitAsync(Deadline);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        string body = await response.Content.ReadAsStringAsync().WaitAsync(Deadline);
        Assert.Contains("/config_dump", body, StringComparison.Ordinal);
        Assert.Contains("/quitquitquit", body, StringComparison.Ordinal);
    }

    [Fact]
    [Trait("case", "ZT-ADMIN-08")]
    public async Task Dispose_closes_the_listeners()
    {
        IPEndPoint admin = _server.AdminEndPoint;
        await _server.DisposeAsync().AsTask().WaitAsync(Deadline);
        await Assert.ThrowsAsync<HttpRequestException>(() => _http.GetAsync(Url(admin, "/config_dump")).WaitAsync(Deadline));
    }

    private static string[] Strings(JsonElement array) => [.. array.EnumerateArray().Select(e => e.GetString() ?? "<null>")];
}
